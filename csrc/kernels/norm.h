// Normalization over the last axis of x viewed as (rows, channels).
// BatchNormalization: statistics per channel over all rows (batch and spatial positions).
// LayerNormalization: statistics per row over its channels.
// Normalization: fixed statistics (non-trainable weights), repeating every `period` values.
// Parameter gradients accumulate (+=); dx is overwritten (=).
#pragma once
#include <cstdint>

namespace pydl {

// Doubles of workspace batchnorm_* need for `rows` rows of `channels`.
int64_t batchnorm_workspace(int64_t rows, int64_t channels);

// Training: normalise with the batch statistics, save mean and 1/std (per channel) in
// mean / invstd, and update the moving statistics (the variance with the unbiased batch
// variance, as PyTorch): moving = momentum * moving + (1 - momentum) * batch. `step_results`:
// null, or the block of fit's queued steps (step_results.h); once it says training stopped,
// the moving statistics are left alone (that step changes nothing).
template <typename T>
void batchnorm_forward_train(T* y, double* mean, double* invstd, T* moving_mean, T* moving_var,
                             const T* x, const T* gamma, const T* beta, int64_t rows, int64_t channels,
                             double momentum, double epsilon, double* workspace,
                             const double* step_results = nullptr);
// Inference: normalise with the moving statistics.
template <typename T>
void batchnorm_forward_infer(T* y, const T* x, const T* gamma, const T* beta, const T* moving_mean,
                             const T* moving_var, int64_t rows, int64_t channels, double epsilon);
// Backward of the training forward (mean / invstd as it saved them).
template <typename T>
void batchnorm_backward_train(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                              const double* mean, const double* invstd, int64_t rows, int64_t channels,
                              double* workspace);
// Backward of the inference forward (statistics are constants).
template <typename T>
void batchnorm_backward_infer(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                              const T* moving_mean, const T* moving_var, int64_t rows, int64_t channels,
                              double epsilon, double* workspace);

// The training forward and backward in phases, for statistics summed over data-parallel
// ranks between them (BatchNormalization(synchronized=True)). batchnorm_forward_train and
// batchnorm_backward_train are these in order with nothing between, so one process and many
// compute alike (up to the order of the sums). `rows` is this rank's, `total_rows` all ranks':
//   forward:  batchnorm_sum(sum, x)                   sum[j] = sum_r x[r, j]
//             (sum over ranks; mean = sum / total_rows)
//             batchnorm_centered_squares(sq, x, mean)  sq[j] = sum_r (x[r, j] - mean[j])^2
//             (sum over ranks)
//             batchnorm_statistics(invstd, moving_mean, moving_var, mean, sq, total_rows, ...)
//             batchnorm_normalize(y, x, gamma, beta, mean, invstd)
//   backward: batchnorm_grad_sums(sums, dy, x, mean, invstd)   [sum dy | sum dy * xhat]
//             batchnorm_param_grads(dgamma, dbeta, sums)       this rank's part (+=)
//             (sum over ranks)
//             batchnorm_input_grad(dx, ..., sums, rows, total_rows)
// Workspaces: batchnorm_workspace(rows, channels) doubles, as the whole kernels'.
template <typename T>
void batchnorm_sum(double* sum, const T* x, int64_t rows, int64_t channels, double* workspace);
template <typename T>
void batchnorm_centered_squares(double* sq, const T* x, const double* mean, int64_t rows, int64_t channels,
                                double* workspace);
// invstd = 1 / sqrt(sq / total_rows + epsilon); the moving update as batchnorm_forward_train's.
template <typename T>
void batchnorm_statistics(double* invstd, T* moving_mean, T* moving_var, const double* mean, const double* sq,
                          int64_t total_rows, int64_t channels, double momentum, double epsilon,
                          const double* step_results = nullptr);
template <typename T>
void batchnorm_normalize(T* y, const T* x, const T* gamma, const T* beta, const double* mean, const double* invstd,
                         int64_t rows, int64_t channels);
// sums: 2 * channels doubles, [sum dy | sum dy * xhat] over this rank's rows.
template <typename T>
void batchnorm_grad_sums(double* sums, const T* dy, const T* x, const double* mean, const double* invstd,
                         int64_t rows, int64_t channels, double* workspace);
template <typename T>
void batchnorm_param_grads(T* dgamma, T* dbeta, const double* sums, int64_t channels);
// dx (overwritten) from the sums over every rank's rows.
template <typename T>
void batchnorm_input_grad(T* dx, const T* dy, const T* x, const T* gamma, const double* mean, const double* invstd,
                          const double* sums, int64_t rows, int64_t channels, int64_t total_rows);

// mean / invstd receive one value per row.
template <typename T>
void layernorm_forward(T* y, double* mean, double* invstd, const T* x, const T* gamma, const T* beta,
                       int64_t rows, int64_t channels, double epsilon);
template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                        const double* mean, const double* invstd, int64_t rows, int64_t channels);

// Normalization: y[i] = (x[i] - mean[i % period]) / sqrt(var[i % period]) over n values; a
// variance <= 0 (a constant feature) divides by 1 instead, so the feature passes unscaled.
template <typename T>
void normalization_forward(T* y, const T* x, const T* mean, const T* var, int64_t n, int64_t period);
// dx[i] = dy[i] / sqrt(var[i % period]) (the statistics are constants; same rule for var <= 0).
template <typename T>
void normalization_backward(T* dx, const T* dy, const T* var, int64_t n, int64_t period);

}  // namespace pydl

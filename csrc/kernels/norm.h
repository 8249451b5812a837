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
// variance, as PyTorch): moving = momentum * moving + (1 - momentum) * batch.
template <typename T>
void batchnorm_forward_train(T* y, double* mean, double* invstd, T* moving_mean, T* moving_var,
                             const T* x, const T* gamma, const T* beta, int64_t rows, int64_t channels,
                             double momentum, double epsilon, double* workspace);
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

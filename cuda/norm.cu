// Normalization on CUDA, the CPU's formulas (csrc/kernels/norm.cc) over device memory:
// statistics and parameter gradients are column sums in double over fixed row chunks
// (column_sums.cuh) or per-row block reductions (reduce.cuh, fixed block size), so every sum
// has an order fixed by the shape: bitwise the same run to run, no atomics. mean / invstd /
// the sums are device doubles, as the CPU's are host doubles.
#include <cfloat>

#include "column_sums.cuh"
#include "context.h"
#include "kernels/norm.h"
#include "kernels/step_results.h"
#include "reduce.cuh"
#include "registry.h"

namespace pydl::cuda {
namespace {

#define PYDL_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

constexpr unsigned kRowThreads = 256;

struct SumTerm {
  const float* x;
  int64_t c;
  __device__ void operator()(int64_t r, int64_t j, double* v) const { v[0] += double(x[r * c + j]); }
};
struct SquaresTerm {  // about the mean: no cancellation
  const float* x;
  const double* mean;
  int64_t c;
  __device__ void operator()(int64_t r, int64_t j, double* v) const {
    const double d = double(x[r * c + j]) - mean[j];
    v[0] += d * d;
  }
};
struct GradTerm {  // [dy | dy * xhat]
  const float* dy;
  const float* x;
  const double* mean;
  const double* invstd;
  int64_t c;
  __device__ void operator()(int64_t r, int64_t j, double* v) const {
    const double g = double(dy[r * c + j]);
    v[0] += g;
    v[1] += g * (double(x[r * c + j]) - mean[j]) * invstd[j];
  }
};
struct InferGradTerm {  // the same with the moving statistics
  const float* dy;
  const float* x;
  const float* mm;
  const float* mv;
  double eps;
  int64_t c;
  __device__ void operator()(int64_t r, int64_t j, double* v) const {
    const double g = double(dy[r * c + j]);
    v[0] += g;
    v[1] += g * (double(x[r * c + j]) - double(mm[j])) / sqrt(double(mv[j]) + eps);
  }
};
struct LayerGradTerm {  // [dy * xhat | dy] with per-row statistics
  const float* dy;
  const float* x;
  const double* mean;
  const double* invstd;
  int64_t c;
  __device__ void operator()(int64_t r, int64_t j, double* v) const {
    const double g = double(dy[r * c + j]);
    v[0] += g * (double(x[r * c + j]) - mean[r]) * invstd[r];
    v[1] += g;
  }
};

__global__ void divide_kernel(double* out, const double* in, int64_t n, double divisor) {
  PYDL_GRID_STRIDE(j, n) out[j] = in[j] / divisor;
}

__global__ void statistics_kernel(double* invstd, float* moving_mean, float* moving_var, const double* mean,
                                  const double* sq, int64_t rows, int64_t c, double momentum, double eps,
                                  const double* step_results) {
  const bool update = !step_results || ::pydl::step_results::running(step_results);
  PYDL_GRID_STRIDE(j, c) {
    const double var = sq[j] / double(rows);
    invstd[j] = 1.0 / sqrt(var + eps);
    if (!update) continue;
    const double unbiased = rows > 1 ? var * double(rows) / double(rows - 1) : var;
    moving_mean[j] = float(momentum * double(moving_mean[j]) + (1.0 - momentum) * mean[j]);
    moving_var[j] = float(momentum * double(moving_var[j]) + (1.0 - momentum) * unbiased);
  }
}

__global__ void normalize_kernel(float* y, const float* x, const float* gamma, const float* beta, const double* mean,
                                 const double* invstd, int64_t rows, int64_t c) {
  PYDL_GRID_STRIDE(t, rows * c) {
    const int64_t j = t % c;
    y[t] = float(double(gamma[j]) * (double(x[t]) - mean[j]) * invstd[j] + double(beta[j]));
  }
}

__global__ void infer_kernel(float* y, const float* x, const float* gamma, const float* beta, const float* mm,
                             const float* mv, int64_t rows, int64_t c, double eps) {
  PYDL_GRID_STRIDE(t, rows * c) {
    const int64_t j = t % c;
    const float scale = float(double(gamma[j]) / sqrt(double(mv[j]) + eps));
    y[t] = (x[t] - mm[j]) * scale + beta[j];
  }
}

// dgamma += sums[gamma_at * c + j], dbeta += sums[beta_at * c + j].
__global__ void param_grads_kernel(float* dgamma, float* dbeta, const double* sums, int64_t c, int gamma_at,
                                   int beta_at) {
  PYDL_GRID_STRIDE(j, c) {
    dbeta[j] += float(sums[beta_at * c + j]);
    dgamma[j] += float(sums[gamma_at * c + j]);
  }
}

__global__ void input_grad_kernel(float* dx, const float* dy, const float* x, const float* gamma, const double* mean,
                                  const double* invstd, const double* sums, int64_t rows, int64_t c,
                                  double inv_rows) {
  PYDL_GRID_STRIDE(t, rows * c) {
    const int64_t j = t % c;
    const double xhat = (double(x[t]) - mean[j]) * invstd[j];
    dx[t] = float(double(gamma[j]) * invstd[j] * (double(dy[t]) - sums[j] * inv_rows - xhat * sums[c + j] * inv_rows));
  }
}

__global__ void infer_input_grad_kernel(float* dx, const float* dy, const float* gamma, const float* mv, int64_t rows,
                                        int64_t c, double eps) {
  PYDL_GRID_STRIDE(t, rows * c) {
    const int64_t j = t % c;
    dx[t] = float(double(dy[t]) * double(gamma[j]) / sqrt(double(mv[j]) + eps));
  }
}

// LayerNorm: a block per row, the sums over its channels in double.
__global__ void layernorm_forward_kernel(float* y, double* mean, double* invstd, const float* x, const float* gamma,
                                         const float* beta, int64_t rows, int64_t c, double eps) {
  __shared__ double shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * c;
    double s = 0;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) s += double(xr[j]);
    const double m = block_sum(s, shared) / double(c);
    double v = 0;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) v += (double(xr[j]) - m) * (double(xr[j]) - m);
    const double is = 1.0 / sqrt(block_sum(v, shared) / double(c) + eps);
    if (threadIdx.x == 0) mean[r] = m, invstd[r] = is;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
      y[r * c + j] = float((double(xr[j]) - m) * is * double(gamma[j]) + double(beta[j]));
  }
}

__global__ void layernorm_input_grad_kernel(float* dx, const float* dy, const float* x, const float* gamma,
                                            const double* mean, const double* invstd, int64_t rows, int64_t c) {
  __shared__ double shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const double m = mean[r], is = invstd[r];
    double sg = 0, sgx = 0;
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const double g = double(dy[r * c + j]) * double(gamma[j]);
      sg += g;
      sgx += g * (double(x[r * c + j]) - m) * is;
    }
    sg = block_sum(sg, shared);
    sgx = block_sum(sgx, shared);
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
      const double g = double(dy[r * c + j]) * double(gamma[j]);
      const double xhat = (double(x[r * c + j]) - m) * is;
      dx[r * c + j] = float(is * (g - sg / double(c) - xhat * sgx / double(c)));
    }
  }
}

// normalization_forward's scale: a variance <= 0 (a constant feature) divides by 1.
__device__ inline float normalization_scale(float var) { return var > 0.f ? 1.f / sqrtf(var) : 1.f; }

__global__ void normalization_forward_kernel(float* y, const float* x, const float* mean, const float* var, int64_t n,
                                             int64_t period) {
  PYDL_GRID_STRIDE(i, n) y[i] = (x[i] - mean[i % period]) * normalization_scale(var[i % period]);
}

__global__ void normalization_backward_kernel(float* dx, const float* dy, const float* var, int64_t n, int64_t period) {
  PYDL_GRID_STRIDE(i, n) dx[i] = dy[i] * normalization_scale(var[i % period]);
}

unsigned row_blocks(int64_t rows) { return unsigned(rows < 65535 * 8 ? (rows < 1 ? 1 : rows) : 65535 * 8); }

}  // namespace

void batchnorm_sum_cuda(double* sum, const float* x, int64_t rows, int64_t c, double* ws) {
  column_sums_cuda<1>(sum, rows, c, ws, SumTerm{x, c}, "batchnorm_sum");
}

void batchnorm_centered_squares_cuda(double* sq, const float* x, const double* mean, int64_t rows, int64_t c,
                                     double* ws) {
  column_sums_cuda<1>(sq, rows, c, ws, SquaresTerm{x, mean, c}, "batchnorm_centered_squares");
}

void batchnorm_statistics_cuda(double* invstd, float* moving_mean, float* moving_var, const double* mean,
                               const double* sq, int64_t total_rows, int64_t c, double momentum, double eps,
                               const double* step_results) {
  if (c == 0) return;
  statistics_kernel<<<blocks_for(c), 256, 0, stream()>>>(invstd, moving_mean, moving_var, mean, sq, total_rows, c,
                                                         momentum, eps, step_results);
  PYDL_CUDA_LAUNCHED("batchnorm_statistics");
}

void batchnorm_normalize_cuda(float* y, const float* x, const float* gamma, const float* beta, const double* mean,
                              const double* invstd, int64_t rows, int64_t c) {
  if (rows * c == 0) return;
  normalize_kernel<<<blocks_for(rows * c), 256, 0, stream()>>>(y, x, gamma, beta, mean, invstd, rows, c);
  PYDL_CUDA_LAUNCHED("batchnorm_normalize");
}

void batchnorm_forward_train_cuda(float* y, double* mean, double* invstd, float* moving_mean, float* moving_var,
                                  const float* x, const float* gamma, const float* beta, int64_t rows, int64_t c,
                                  double momentum, double eps, double* ws, const double* step_results) {
  if (c == 0) return;
  double* sums = ws + column_sums_workspace(rows, c, 2);  // after the partials, as the CPU
  batchnorm_sum_cuda(sums, x, rows, c, ws);
  divide_kernel<<<blocks_for(c), 256, 0, stream()>>>(mean, sums, c, double(rows));
  PYDL_CUDA_LAUNCHED("batchnorm_forward_train");
  batchnorm_centered_squares_cuda(sums, x, mean, rows, c, ws);
  batchnorm_statistics_cuda(invstd, moving_mean, moving_var, mean, sums, rows, c, momentum, eps, step_results);
  batchnorm_normalize_cuda(y, x, gamma, beta, mean, invstd, rows, c);
}

void batchnorm_forward_infer_cuda(float* y, const float* x, const float* gamma, const float* beta, const float* mm,
                                  const float* mv, int64_t rows, int64_t c, double eps) {
  if (rows * c == 0) return;
  infer_kernel<<<blocks_for(rows * c), 256, 0, stream()>>>(y, x, gamma, beta, mm, mv, rows, c, eps);
  PYDL_CUDA_LAUNCHED("batchnorm_forward_infer");
}

void batchnorm_grad_sums_cuda(double* sums, const float* dy, const float* x, const double* mean, const double* invstd,
                              int64_t rows, int64_t c, double* ws) {
  column_sums_cuda<2>(sums, rows, c, ws, GradTerm{dy, x, mean, invstd, c}, "batchnorm_grad_sums");
}

void batchnorm_param_grads_cuda(float* dgamma, float* dbeta, const double* sums, int64_t c) {
  if (c == 0) return;
  param_grads_kernel<<<blocks_for(c), 256, 0, stream()>>>(dgamma, dbeta, sums, c, 1, 0);
  PYDL_CUDA_LAUNCHED("batchnorm_param_grads");
}

void batchnorm_input_grad_cuda(float* dx, const float* dy, const float* x, const float* gamma, const double* mean,
                               const double* invstd, const double* sums, int64_t rows, int64_t c,
                               int64_t total_rows) {
  if (rows * c == 0) return;
  input_grad_kernel<<<blocks_for(rows * c), 256, 0, stream()>>>(dx, dy, x, gamma, mean, invstd, sums, rows, c,
                                                                1.0 / double(total_rows));
  PYDL_CUDA_LAUNCHED("batchnorm_input_grad");
}

void batchnorm_backward_train_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                   const float* gamma, const double* mean, const double* invstd, int64_t rows,
                                   int64_t c, double* ws) {
  double* sums = ws + column_sums_workspace(rows, c, 2);
  batchnorm_grad_sums_cuda(sums, dy, x, mean, invstd, rows, c, ws);
  batchnorm_param_grads_cuda(dgamma, dbeta, sums, c);
  if (dx) batchnorm_input_grad_cuda(dx, dy, x, gamma, mean, invstd, sums, rows, c, rows);
}

void batchnorm_backward_infer_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                   const float* gamma, const float* mm, const float* mv, int64_t rows, int64_t c,
                                   double eps, double* ws) {
  double* sums = ws + column_sums_workspace(rows, c, 2);
  column_sums_cuda<2>(sums, rows, c, ws, InferGradTerm{dy, x, mm, mv, eps, c}, "batchnorm_backward_infer");
  batchnorm_param_grads_cuda(dgamma, dbeta, sums, c);
  if (!dx || rows * c == 0) return;
  infer_input_grad_kernel<<<blocks_for(rows * c), 256, 0, stream()>>>(dx, dy, gamma, mv, rows, c, eps);
  PYDL_CUDA_LAUNCHED("batchnorm_backward_infer");
}

void layernorm_forward_cuda(float* y, double* mean, double* invstd, const float* x, const float* gamma,
                            const float* beta, int64_t rows, int64_t c, double eps) {
  if (rows == 0 || c == 0) return;
  layernorm_forward_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(y, mean, invstd, x, gamma, beta, rows, c,
                                                                           eps);
  PYDL_CUDA_LAUNCHED("layernorm_forward");
}

// The parameter gradients are column sums in double (the CPU adds each row's term in float):
// partials and sums in the device scratch, as the signature carries no workspace.
void layernorm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* gamma, const double* mean, const double* invstd, int64_t rows, int64_t c) {
  if (rows == 0 || c == 0) return;
  const int64_t part = column_sums_workspace(rows, c, 2);
  double* ws = static_cast<double*>(scratch(sizeof(double) * size_t(part + 2 * c)));
  column_sums_cuda<2>(ws + part, rows, c, ws, LayerGradTerm{dy, x, mean, invstd, c}, "layernorm_backward");
  param_grads_kernel<<<blocks_for(c), 256, 0, stream()>>>(dgamma, dbeta, ws + part, c, 0, 1);
  PYDL_CUDA_LAUNCHED("layernorm_backward");
  if (!dx) return;
  layernorm_input_grad_kernel<<<row_blocks(rows), kRowThreads, 0, stream()>>>(dx, dy, x, gamma, mean, invstd, rows, c);
  PYDL_CUDA_LAUNCHED("layernorm_backward");
}

void normalization_forward_cuda(float* y, const float* x, const float* mean, const float* var, int64_t n,
                                int64_t period) {
  if (n == 0) return;
  normalization_forward_kernel<<<blocks_for(n), 256, 0, stream()>>>(y, x, mean, var, n, period);
  PYDL_CUDA_LAUNCHED("normalization_forward");
}

void normalization_backward_cuda(float* dx, const float* dy, const float* var, int64_t n, int64_t period) {
  if (n == 0) return;
  normalization_backward_kernel<<<blocks_for(n), 256, 0, stream()>>>(dx, dy, var, n, period);
  PYDL_CUDA_LAUNCHED("normalization_backward");
}

PYDL_CUDA_KERNEL(batchnorm_sum, batchnorm_sum_cuda);
PYDL_CUDA_KERNEL(batchnorm_centered_squares, batchnorm_centered_squares_cuda);
PYDL_CUDA_KERNEL(batchnorm_statistics, batchnorm_statistics_cuda);
PYDL_CUDA_KERNEL(batchnorm_normalize, batchnorm_normalize_cuda);
PYDL_CUDA_KERNEL(batchnorm_forward_train, batchnorm_forward_train_cuda);
PYDL_CUDA_KERNEL(batchnorm_forward_infer, batchnorm_forward_infer_cuda);
PYDL_CUDA_KERNEL(batchnorm_grad_sums, batchnorm_grad_sums_cuda);
PYDL_CUDA_KERNEL(batchnorm_param_grads, batchnorm_param_grads_cuda);
PYDL_CUDA_KERNEL(batchnorm_input_grad, batchnorm_input_grad_cuda);
PYDL_CUDA_KERNEL(batchnorm_backward_train, batchnorm_backward_train_cuda);
PYDL_CUDA_KERNEL(batchnorm_backward_infer, batchnorm_backward_infer_cuda);
PYDL_CUDA_KERNEL(layernorm_forward, layernorm_forward_cuda);
PYDL_CUDA_KERNEL(layernorm_backward, layernorm_backward_cuda);
PYDL_CUDA_KERNEL(normalization_forward, normalization_forward_cuda);
PYDL_CUDA_KERNEL(normalization_backward, normalization_backward_cuda);

}  // namespace pydl::cuda

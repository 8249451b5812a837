// Dense on CUDA: y = act(x @ w + b) through the cuBLASLt GEMM (gemm.cu, bias and ReLU fused in
// its epilogue), the backward as the CPU's: dz = act'(.) dy in place, dw += x^T dz,
// db += column sums of dz (deterministic, column_sums.cuh), dx = dz w^T.
#include "activation.cuh"
#include "column_sums.cuh"
#include "context.h"
#include "gemm.cuh"
#include "kernels/dense.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

struct BiasTerm {
  const float* dz;
  __device__ void operator()(int64_t r, int64_t col, double* v) const { v[0] += double(dz[r * cols + col]); }
  int64_t cols;
};

__global__ void add_sums_kernel(float* db, const double* sums, int64_t n) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x)
    db[j] += float(sums[j]);
}

}  // namespace

void dense_forward_cuda(Matrix<float> y, Matrix<float> z, Matrix<const float> x, Matrix<const float> w, const float* b,
                        Activation act) {
  if (z.data) {
    gemm_cuda(z, x, false, w, false, 1.f, 0.f, b, Activation::Linear);
    activation_forward_cuda(y, z, act);
  } else {
    gemm_cuda(y, x, false, w, false, 1.f, 0.f, b, act);
  }
}

// Without the caller's workspace the partials go to the device scratch.
void bias_backward_cuda(float* db, Matrix<const float> dz, double* ws) {
  if (dz.cols == 0) return;
  const int64_t part = column_sums_workspace(dz.rows, dz.cols);
  double* base = ws ? ws : static_cast<double*>(scratch(sizeof(double) * size_t(part + dz.cols)));
  double* sums = base + part;
  column_sums_cuda<1>(sums, dz.rows, dz.cols, base, BiasTerm{dz.data, dz.cols}, "bias_backward");
  add_sums_kernel<<<blocks_for(dz.cols), 256, 0, stream()>>>(db, sums, dz.cols);
  PYDL_CUDA_LAUNCHED("bias_backward");
}

void dense_backward_cuda(Matrix<float> dx, Matrix<float> dw, float* db, Matrix<float> dy, Matrix<const float> x,
                         Matrix<const float> y, Matrix<const float> z, Matrix<const float> w, Activation act) {
  activation_backward_cuda(dy, dy, z, y, act);
  Matrix<const float> dz = dy;
  gemm_cuda(dw, x, true, dz, false, 1.f, 1.f, nullptr, Activation::Linear);  // dw += x^T dz
  if (db) bias_backward_cuda(db, dz, nullptr);
  if (dx.data) gemm_cuda(dx, dz, false, w, true, 1.f, 0.f, nullptr, Activation::Linear);  // dx = dz w^T
}

PYDL_CUDA_KERNEL(dense_forward, dense_forward_cuda);
PYDL_CUDA_KERNEL(dense_backward, dense_backward_cuda);
PYDL_CUDA_KERNEL(bias_backward, bias_backward_cuda);

}  // namespace pydl::cuda

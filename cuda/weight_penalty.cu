// CUDA versions of kernels/weight_penalty.h. The penalty's sums: one block, each thread summing
// its strided elements in index order, then the block's fixed tree (reduce.cuh): bitwise the
// same run to run for a given n, no atomics. Nothing here waits for the device.
#include "core/device.h"
#include "kernels/weight_penalty.h"
#include "context.h"
#include "reduce.cuh"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr unsigned kThreads = 1024;

__global__ void penalty_kernel(double* total, const float* w, int64_t n, double l1, double l2) {
  __shared__ double sh[32];
  double a = 0, b = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = w[i];
    a += fabs(v);
    b += v * v;
  }
  a = block_sum(a, sh);
  b = block_sum(b, sh);
  if (threadIdx.x == 0) *total += l1 * a + l2 * b;
}

__global__ void penalty_gradient_kernel(float* g, const float* w, int64_t n, float a, float b) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    g[i] += b * w[i] + (w[i] > 0 ? a : w[i] < 0 ? -a : 0.0f);
}

void add_weight_penalty_cuda(double* total, const float* w, int64_t n, double l1, double l2) {
  penalty_kernel<<<1, kThreads, 0, stream()>>>(total, w, n, l1, l2);  // n == 0 adds 0
  PYDL_CUDA_LAUNCHED("add_weight_penalty");
}

void add_weight_penalty_gradient_cuda(float* g, const float* w, int64_t n, double l1, double l2) {
  if (n == 0) return;
  penalty_gradient_kernel<<<blocks_for(n), 256, 0, stream()>>>(g, w, n, float(l1), float(2.0 * l2));
  PYDL_CUDA_LAUNCHED("add_weight_penalty_gradient");
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(add_weight_penalty, pydl::cuda::add_weight_penalty_cuda);
PYDL_CUDA_KERNEL(add_weight_penalty_gradient, pydl::cuda::add_weight_penalty_gradient_cuda);

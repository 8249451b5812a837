// Masked global pools over sequence steps on the GPU (kernels/sequence_pool.h). One thread per
// (sample, channel) walks the steps in order, as the CPU loop does: the same sums, the same
// first-maximum rule, no atomics. Consecutive threads take consecutive channels, so every
// step's read of x is coalesced.
#include "core/device.h"
#include "kernels/sequence_pool.h"
#include "context.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

__device__ inline bool valid_step(const uint8_t* mask, int64_t i, int64_t t, int64_t s) {
  return !mask || mask[i * t + s];
}

__global__ void avg_forward_kernel(float* __restrict__ y, const float* __restrict__ x, const uint8_t* __restrict__ mask,
                                   int64_t n, int64_t t, int64_t c) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * c; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / c, ch = e % c;
    float sum = 0.0f;
    int64_t count = 0;
    for (int64_t s = 0; s < t; ++s) {
      if (!valid_step(mask, i, t, s)) continue;
      sum += x[(i * t + s) * c + ch];
      ++count;
    }
    y[e] = count > 0 ? sum * (1.0f / float(count)) : 0.0f;
  }
}

__global__ void avg_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                    const uint8_t* __restrict__ mask, int64_t n, int64_t t, int64_t c) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * c; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / c, ch = e % c;
    int64_t count = 0;
    for (int64_t s = 0; s < t; ++s) count += valid_step(mask, i, t, s);
    const float inv = count > 0 ? 1.0f / float(count) : 0.0f;
    const float g = dy[e];
    for (int64_t s = 0; s < t; ++s) dx[(i * t + s) * c + ch] = valid_step(mask, i, t, s) ? inv * g : 0.0f;
  }
}

__global__ void max_forward_kernel(float* __restrict__ y, int32_t* __restrict__ argmax, const float* __restrict__ x,
                                   const uint8_t* __restrict__ mask, int64_t n, int64_t t, int64_t c) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * c; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / c, ch = e % c;
    float best = 0.0f;
    int32_t at = -1;
    for (int64_t s = 0; s < t; ++s) {
      if (!valid_step(mask, i, t, s)) continue;
      const float v = x[(i * t + s) * c + ch];
      if (at < 0 || v > best) {  // the first maximum wins
        best = v;
        at = int32_t(s);
      }
    }
    y[e] = best;
    argmax[e] = at;
  }
}

// One thread per element of dx: the gradient goes to the step argmax names, 0 elsewhere.
__global__ void max_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                    const int32_t* __restrict__ argmax, int64_t n, int64_t t, int64_t c) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * t * c;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = e % c, s = (e / c) % t, i = e / (c * t);
    dx[e] = argmax[i * c + ch] == s ? dy[i * c + ch] : 0.0f;
  }
}

void masked_avg_pool1d_forward_cuda(float* y, const float* x, const uint8_t* mask, int64_t n, int64_t t, int64_t c) {
  if (n * c == 0) return;
  avg_forward_kernel<<<blocks_for(n * c), 256, 0, stream()>>>(y, x, mask, n, t, c);
  PYDL_CUDA_LAUNCHED("masked_avg_pool1d_forward");
}

void masked_avg_pool1d_backward_cuda(float* dx, const float* dy, const uint8_t* mask, int64_t n, int64_t t,
                                     int64_t c) {
  if (n * c == 0) return;
  avg_backward_kernel<<<blocks_for(n * c), 256, 0, stream()>>>(dx, dy, mask, n, t, c);
  PYDL_CUDA_LAUNCHED("masked_avg_pool1d_backward");
}

void masked_max_pool1d_forward_cuda(float* y, int32_t* argmax, const float* x, const uint8_t* mask, int64_t n,
                                    int64_t t, int64_t c) {
  if (n * c == 0) return;
  max_forward_kernel<<<blocks_for(n * c), 256, 0, stream()>>>(y, argmax, x, mask, n, t, c);
  PYDL_CUDA_LAUNCHED("masked_max_pool1d_forward");
}

void masked_max_pool1d_backward_cuda(float* dx, const float* dy, const int32_t* argmax, int64_t n, int64_t t,
                                     int64_t c) {
  if (n * t * c == 0) return;
  max_backward_kernel<<<blocks_for(n * t * c), 256, 0, stream()>>>(dx, dy, argmax, n, t, c);
  PYDL_CUDA_LAUNCHED("masked_max_pool1d_backward");
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(masked_avg_pool1d_forward, pydl::cuda::masked_avg_pool1d_forward_cuda);
PYDL_CUDA_KERNEL(masked_avg_pool1d_backward, pydl::cuda::masked_avg_pool1d_backward_cuda);
PYDL_CUDA_KERNEL(masked_max_pool1d_forward, pydl::cuda::masked_max_pool1d_forward_cuda);
PYDL_CUDA_KERNEL(masked_max_pool1d_backward, pydl::cuda::masked_max_pool1d_backward_cuda);

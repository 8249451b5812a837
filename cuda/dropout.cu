// Dropout on CUDA: the keep mask is CounterRng::uniform(counter + i) >= rate, the very
// function (core/rng.h) the CPU evaluates, so the same seed, stream and counter give the same
// mask on both backends, whatever the launch shape.
#include "context.h"
#include "core/rng.h"
#include "kernels/dropout.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

__global__ void dropout_forward_kernel(float* y, uint8_t* mask, const float* x, int64_t n, float threshold,
                                       float scale, CounterRng rng, StepClock clock, uint64_t offset) {
  const uint64_t counter = (clock.now() << 32) + offset;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint8_t keep = rng.uniform(counter + uint64_t(i)) >= threshold;
    mask[i] = keep;
    y[i] = x[i] * (keep ? scale : 0.f);
  }
}

__global__ void dropout_backward_kernel(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = dy[i] * (mask[i] ? scale : 0.f);
}

// As the CPU: the scale rounded from double, the threshold the rate as float.
float keep_scale(double rate) { return rate < 1.0 ? float(1.0 / (1.0 - rate)) : 0.f; }

}  // namespace

void dropout_forward_cuda(Matrix<float> y, uint8_t* mask, Matrix<const float> x, double rate, const CounterRng& rng,
                          StepClock clock, uint64_t offset) {
  const int64_t n = x.size();
  if (n == 0) return;
  dropout_forward_kernel<<<blocks_for(n), 256, 0, stream()>>>(y.data, mask, x.data, n, float(rate), keep_scale(rate),
                                                              rng, clock, offset);
  PYDL_CUDA_LAUNCHED("dropout_forward");
}

void dropout_backward_cuda(Matrix<float> dx, Matrix<const float> dy, const uint8_t* mask, double rate) {
  const int64_t n = dy.size();
  if (n == 0) return;
  dropout_backward_kernel<<<blocks_for(n), 256, 0, stream()>>>(dx.data, dy.data, mask, n, keep_scale(rate));
  PYDL_CUDA_LAUNCHED("dropout_backward");
}

PYDL_CUDA_KERNEL(dropout_forward, dropout_forward_cuda);
PYDL_CUDA_KERNEL(dropout_backward, dropout_backward_cuda);

}  // namespace pydl::cuda

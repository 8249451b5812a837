// Learned position embeddings on the GPU (kernels/position_embedding.h): forward broadcasts
// the table's first T rows over the batch; backward sums dy over the batch in batch order, one
// thread per table entry, so the sums are the CPU's order and bitwise reproducible (no atomics).
#include "core/device.h"
#include "kernels/position_embedding.h"
#include "context.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

__global__ void position_forward_kernel(float* __restrict__ y, const float* __restrict__ table, int64_t total,
                                        int64_t per_sample) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x)
    y[e] = table[e % per_sample];
}

__global__ void position_backward_kernel(float* __restrict__ dtable, const float* __restrict__ dy, int64_t n,
                                         int64_t per_sample) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < per_sample;
       e += int64_t(gridDim.x) * blockDim.x) {
    float acc = dtable[e];
    for (int64_t i = 0; i < n; ++i) acc += dy[i * per_sample + e];  // batch order, as the CPU
    dtable[e] = acc;
  }
}

void position_embedding_forward_cuda(float* y, const float* table, int64_t n, int64_t t, int64_t d) {
  const int64_t total = n * t * d;
  if (total == 0) return;
  position_forward_kernel<<<blocks_for(total), 256, 0, stream()>>>(y, table, total, t * d);
  PYDL_CUDA_LAUNCHED("position_embedding_forward");
}

void position_embedding_backward_cuda(float* dtable, const float* dy, int64_t n, int64_t t, int64_t d) {
  if (t * d == 0) return;
  position_backward_kernel<<<blocks_for(t * d), 256, 0, stream()>>>(dtable, dy, n, t * d);
  PYDL_CUDA_LAUNCHED("position_embedding_backward");
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(position_embedding_forward, pydl::cuda::position_embedding_forward_cuda);
PYDL_CUDA_KERNEL(position_embedding_backward, pydl::cuda::position_embedding_backward_cuda);

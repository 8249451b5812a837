// gather_rows on the GPU (kernels/gather.h): a thread per 4-byte word of the output (every
// array pydl gathers has 4-byte elements), bytes when a row is not a whole number of words.
#include "core/device.h"
#include "kernels/gather.h"
#include "context.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

template <typename W>
__global__ void gather_kernel(W* __restrict__ dst, const W* __restrict__ src, const int64_t* __restrict__ index,
                              int64_t total, int64_t per_row) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t r = t / per_row, k = t - r * per_row;
    dst[t] = src[index[r] * per_row + k];
  }
}

void gather_rows_cuda(void* dst, const void* src, const int64_t* index, int64_t rows, int64_t row_bytes) {
  if (rows == 0 || row_bytes == 0) return;
  if (row_bytes % 4 == 0) {
    const int64_t per_row = row_bytes / 4;
    gather_kernel<<<blocks_for(rows * per_row), 256, 0, stream()>>>(
        static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), index, rows * per_row, per_row);
  } else {
    gather_kernel<<<blocks_for(rows * row_bytes), 256, 0, stream()>>>(
        static_cast<unsigned char*>(dst), static_cast<const unsigned char*>(src), index, rows * row_bytes, row_bytes);
  }
  PYDL_CUDA_LAUNCHED("gather_rows");
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL_PLAIN(gather_rows, pydl::cuda::gather_rows_cuda);

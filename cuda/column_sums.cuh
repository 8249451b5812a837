// Deterministic column sums over many rows on the GPU (bias gradients, normalization
// statistics and parameter gradients), the device twin of csrc/kernels/reduce.h:
//   pass 1: each fixed chunk of kChunkRows rows sums into its own partial row of the
//           workspace: a block of 32 columns x 8 row lanes, each lane summing its rows in
//           order, the 8 lanes then added in a fixed order;
//   pass 2: one thread per output sums the chunks' partials in chunk order.
// The order of every addition depends on the shape alone: bitwise the same run to run, no
// atomics. Sums are in double, as the CPU's.
//
// A term is a functor with `__device__ void operator()(int64_t r, int64_t col, double* v)`
// that adds its K values for (row r, column col) into v[0..K).
#pragma once
#include <cstdint>

#include "context.h"
#include "kernels/reduce_sizes.h"

namespace pydl::cuda {

// The CPU's chunk: the workspaces sized by column_sums_workspace (kernels/reduce_sizes.h) fit.
constexpr int64_t kChunkRows = kReduceRowChunk;
constexpr int kSumCols = 32, kSumLanes = 8;

template <int K, typename Term>
__global__ void column_partials_kernel(double* part, int64_t rows, int64_t cols, int64_t chunks, Term term) {
  __shared__ double lanes[K][kSumLanes][kSumCols];
  const int64_t col = blockIdx.x * int64_t(kSumCols) + threadIdx.x;
  for (int64_t chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {  // beyond 65535 chunks: a loop
    const int64_t r0 = chunk * kChunkRows, r1 = min(rows, r0 + kChunkRows);
    double v[K];
    for (int q = 0; q < K; ++q) v[q] = 0.0;
    if (col < cols)
      for (int64_t r = r0 + threadIdx.y; r < r1; r += kSumLanes) term(r, col, v);
    __syncthreads();  // the previous chunk's lanes are read
    for (int q = 0; q < K; ++q) lanes[q][threadIdx.y][threadIdx.x] = v[q];
    __syncthreads();
    if (threadIdx.y == 0 && col < cols)
      for (int q = 0; q < K; ++q) {
        double s = lanes[q][0][threadIdx.x];
        for (int l = 1; l < kSumLanes; ++l) s += lanes[q][l][threadIdx.x];
        part[(chunk * K + q) * cols + col] = s;
      }
  }
}

template <int K>
__global__ void column_chunks_kernel(double* out, const double* part, int64_t chunks, int64_t cols) {
  const int64_t width = K * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < width; i += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += part[ch * width + i];
    out[i] = s;
  }
}

// out[q * cols + c] (K * cols doubles) = sum over rows of term's q-th value; `ws` holds
// column_sums_workspace(rows, cols, K) doubles (device memory) and must not overlap `out`.
template <int K, typename Term>
void column_sums_cuda(double* out, int64_t rows, int64_t cols, double* ws, Term term, const char* what) {
  if (cols == 0) return;
  const int64_t chunks = reduce_row_chunks(rows);
  if (chunks == 0) {
    PYDL_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(double) * K * cols, stream()));
    return;
  }
  const dim3 grid(unsigned((cols + kSumCols - 1) / kSumCols), unsigned(chunks < 65535 ? chunks : 65535));
  column_partials_kernel<K><<<grid, dim3(kSumCols, kSumLanes), 0, stream()>>>(ws, rows, cols, chunks, term);
  PYDL_CUDA_LAUNCHED(what);
  column_chunks_kernel<K><<<blocks_for(K * cols), 256, 0, stream()>>>(out, ws, chunks, cols);
  PYDL_CUDA_LAUNCHED(what);
}

}  // namespace pydl::cuda

// Deterministic reductions inside a thread block, shared by the CUDA kernel files.
// The order of the additions depends only on blockDim.x (a fixed warp-shuffle tree, then a
// tree over the warps' partial sums), never on timing, so a kernel that launches a fixed block
// size gives bitwise the same sums run to run. No atomics.
#pragma once
#include <cuda_runtime.h>

namespace pydl::cuda {

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;  // lane 0 holds the sum
}

template <typename T>
__device__ inline T warp_max(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = max(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// The sum of `v` over the block, returned to every thread. blockDim.x must be a multiple of
// 32 (at most 1024); `shared` holds 32 values. Every thread of the block must call it.
template <typename T>
__device__ inline T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : T(0);
  if (warp == 0) {
    v = warp_sum(v);
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// The same for the maximum (identity: `lowest`).
template <typename T>
__device__ inline T block_max(T v, T* shared, T lowest) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : lowest;
  if (warp == 0) {
    v = warp_max(v);
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

}  // namespace pydl::cuda

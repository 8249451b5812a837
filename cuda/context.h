// What every cuda/<op>.cu kernel file uses: the stream all of pydl's work on a device is
// queued on, the cuBLAS / cuBLASLt handles bound to it, error checks that raise instead of
// crashing, and launch-size helpers. Implemented in cuda/context.cc.
//
// Conventions (see cuda/README.md):
//   - Every kernel is queued on stream() and returns without synchronising; only copies to
//     the host (a loss value, a metric count) synchronise.
//   - No floating-point atomics anywhere: reductions run in a fixed order (a block per
//     output, a tree in shared memory, or a fixed split summed by a second pass), so the same
//     inputs give bitwise the same results run to run.
//   - Workspaces come from the caller's plan (a Buffer allocated on the device in plan());
//     a kernel that needs scratch the signature does not carry takes it from scratch(bytes),
//     which grows only and is reused by every kernel on the device (stream order makes the
//     reuse safe).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace pydl::cuda {

// Raises pydl::MemoryError for cudaErrorMemoryAllocation and std::runtime_error otherwise,
// naming `what` and the CUDA error.
void check(cudaError_t e, const char* what);
void check(cublasStatus_t s, const char* what);
#define PYDL_CUDA_CHECK(expr) ::pydl::cuda::check((expr), #expr)
// After a kernel launch: raises the launch's configuration error (not the kernel's faults,
// which the next synchronising call reports).
#define PYDL_CUDA_LAUNCHED(name) ::pydl::cuda::check(cudaGetLastError(), name)

// The current device's stream, created on first use, one per device.
cudaStream_t stream();
// cuBLAS (atomics not allowed: deterministic) and cuBLASLt handles of the current device,
// bound to stream().
cublasHandle_t cublas();
cublasLtHandle_t cublaslt();
// The cuBLASLt workspace of the current device (32 MiB, allocated once).
void* cublaslt_workspace();
size_t cublaslt_workspace_bytes();
// Device scratch of at least `bytes`, reused by every kernel on the current device.
void* scratch(size_t bytes);
// Bumped whenever any device's scratch moves (a graph captured before reads freed memory).
uint64_t scratch_generation();

// One thread per element: the grid for n elements at `threads` per block, capped so that
// grid-stride loops cover the rest.
inline unsigned blocks_for(int64_t n, unsigned threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace pydl::cuda

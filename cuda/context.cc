// The per-device state every kernel file uses (context.h): one stream, the cuBLAS and cuBLASLt
// handles bound to it, the cuBLASLt workspace and a grow-only scratch buffer, created on first
// use for each device; and the error checks that turn CUDA and cuBLAS failures into exceptions.
//
// One thread at a time per device: the stream orders the work of every kernel, and the scratch
// buffer is shared by them (two threads queueing kernels on one device would interleave their
// use of it). The engine runs a device's steps on one thread; creation itself is locked.
//
// The state is never destroyed: at interpreter exit the CUDA runtime may already be shutting
// down, and destroying handles or freeing memory then crashes or reports errors; the driver
// releases everything with the process.
#include "context.h"

#include <array>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/errors.h"

namespace pydl::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLASLt's recommendation for Hopper
constexpr int kMaxDevices = 64;

struct DeviceState {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
};

std::array<std::atomic<DeviceState*>, kMaxDevices> g_states{};
std::mutex g_create;

int current_ordinal() {
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < 0 || dev >= kMaxDevices)
    throw std::runtime_error("pydl supports CUDA devices 0.." + std::to_string(kMaxDevices - 1) + ", got " +
                             std::to_string(dev));
  return dev;
}

DeviceState* create_state() {
  auto* s = new DeviceState();
  // Non-blocking: pydl's work never waits for (or holds up) the legacy default stream that
  // other libraries in the process (PyTorch in the benches) may use. Everything pydl queues goes
  // on this one stream, so stream order alone orders it.
  check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check(cudaMalloc(&s->workspace, kWorkspaceBytes), "cudaMalloc (cuBLASLt workspace, 32 MiB)");
  check(cublasCreate(&s->blas), "cublasCreate");
  check(cublasSetStream(s->blas, s->stream), "cublasSetStream");
  // Deterministic: no atomics in cuBLAS's reductions (split-K etc.), and our own workspace, so
  // that cuBLAS does not pick from a per-stream pool whose size could change the algorithm.
  // Both libraries share one workspace: they run on the same stream, never at once.
  check(cublasSetAtomicsMode(s->blas, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
  check(cublasSetWorkspace(s->blas, s->workspace, kWorkspaceBytes), "cublasSetWorkspace");
  check(cublasLtCreate(&s->lt), "cublasLtCreate");
  return s;
}

DeviceState& state() {
  const int dev = current_ordinal();
  DeviceState* s = g_states[dev].load(std::memory_order_acquire);
  if (s) return *s;
  std::lock_guard<std::mutex> lock(g_create);
  s = g_states[dev].load(std::memory_order_relaxed);
  if (!s) {
    s = create_state();
    g_states[dev].store(s, std::memory_order_release);
  }
  return *s;
}

}  // namespace

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  // A failed call also sets the thread's "last error": clear it, or the next
  // PYDL_CUDA_LAUNCHED would report this failure against an innocent kernel launch.
  (void)cudaGetLastError();
  std::string msg = std::string(what) + ": CUDA error " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) throw MemoryError("CUDA out of memory: " + msg);
  throw std::runtime_error(msg);
}

void check(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  std::string msg = std::string(what) + ": cuBLAS error " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")";
  if (s == CUBLAS_STATUS_ALLOC_FAILED) throw MemoryError("CUDA out of memory: " + msg);
  throw std::runtime_error(msg);
}

cudaStream_t stream() { return state().stream; }
cublasHandle_t cublas() { return state().blas; }
cublasLtHandle_t cublaslt() { return state().lt; }
void* cublaslt_workspace() { return state().workspace; }
size_t cublaslt_workspace_bytes() { return kWorkspaceBytes; }

namespace {
std::atomic<uint64_t> g_scratch_generation{1};
}  // namespace

uint64_t scratch_generation() { return g_scratch_generation.load(); }

void* scratch(size_t bytes) {
  DeviceState& s = state();
  if (bytes <= s.scratch_bytes) return s.scratch;
  g_scratch_generation.fetch_add(1);
  // Kernels queued earlier may still read the old scratch: wait for them before freeing it.
  // (So the first step of a plan grows it; a CUDA graph is captured after that step.)
  const size_t grown = ((bytes + (size_t(1) << 20) - 1) >> 20) << 20;  // whole MiB
  if (s.scratch) {
    check(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize (before growing the scratch)");
    check(cudaFree(s.scratch), "cudaFree (scratch)");
    s.scratch = nullptr;
    s.scratch_bytes = 0;
  }
  check(cudaMalloc(&s.scratch, grown), ("cudaMalloc (scratch of " + std::to_string(grown) + " bytes)").c_str());
  s.scratch_bytes = grown;
  return s.scratch;
}

}  // namespace pydl::cuda

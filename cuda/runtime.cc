// The DeviceRuntime of pydl._cuda. Device memory comes from cudaMalloc (never managed memory:
// its page faults would make timings and failures depend on access patterns); copies are
// queued on the device's stream (context.h), and those to the host wait for it, since the
// caller reads the result right away. Errors raise std::runtime_error naming the CUDA error,
// or pydl::MemoryError when the device is full.
#include "runtime.h"

#include <dlfcn.h>

#include <stdexcept>

#include "context.h"
#include "core/errors.h"

namespace pydl::cuda {
namespace {

int count_devices() {
  const int n = device_count_or_zero();
  if (n == 0) throw std::runtime_error("no CUDA device can be used: " + driver_error().value_or("none found"));
  return n;
}

void set_device(int ordinal) { check(cudaSetDevice(ordinal), ("cudaSetDevice(" + std::to_string(ordinal) + ")").c_str()); }

std::string device_memory_text() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return " (" + std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) + " MiB)";
}

void* allocate(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    int dev = 0;
    (void)cudaGetDevice(&dev);
    throw MemoryError("CUDA out of memory: cannot allocate " + std::to_string(bytes) + " bytes on cuda:" +
                      std::to_string(dev) + device_memory_text());
  }
  check(e, "cudaMalloc");
  return p;
}

// Never raises: called from destructors (Buffer), also at interpreter exit when the runtime
// may already be unloading. A real fault surfaces at the next synchronising call.
void release(void* p) {
  if (p && cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}

// Pageable sources are staged by the driver before the call returns; a pinned source must stay
// unchanged until the stream reaches the copy (the caller orders that).
void to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync (to device)");
}

void to_host(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  cudaStream_t s = stream();
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (to host)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (after a copy to the host)");
}

void device_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "cudaMemcpyAsync (on device)");
}

void fill_bytes(void* p, int value, size_t bytes) {
  if (bytes) check(cudaMemsetAsync(p, value, bytes, stream()), "cudaMemsetAsync");
}

// All of pydl's work on a device is on its stream: waiting for the stream waits for pydl's
// work (not for other libraries' streams), and reports a fault of any kernel queued before.
void synchronize() { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

void* allocate_pinned(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMallocHost(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    throw MemoryError("cannot allocate " + std::to_string(bytes) + " bytes of page-locked host memory");
  }
  check(e, "cudaMallocHost");
  return p;
}

void release_pinned(void* p) {
  if (p && cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
}

void memory_info(size_t* free_bytes, size_t* total_bytes) { check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo"); }

void* create_event() {
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  return e;
}

// Never raises (called from destructors).
void destroy_event(void* e) {
  if (e && cudaEventDestroy(static_cast<cudaEvent_t>(e)) != cudaSuccess) (void)cudaGetLastError();
}

void record_event(void* e) { check(cudaEventRecord(static_cast<cudaEvent_t>(e), stream()), "cudaEventRecord"); }

void wait_event(void* e) { check(cudaEventSynchronize(static_cast<cudaEvent_t>(e)), "cudaEventSynchronize"); }

// Thread-local mode: only this thread's calls are checked against the capture (another
// thread's inference on the same device is not refused meanwhile).
void begin_capture() {
  check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

void* end_capture() {
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(stream(), &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  check(e, "cudaGraphInstantiate");
  return exec;
}

// Never raises: ends the stream's capture, if any, and clears the error a failed capture left.
void abort_capture() {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t graph = nullptr;
    if (cudaStreamEndCapture(stream(), &graph) == cudaSuccess && graph) (void)cudaGraphDestroy(graph);
  }
  (void)cudaGetLastError();
}

void launch_graph(void* g) { check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(g), stream()), "cudaGraphLaunch"); }

void destroy_graph(void* g) {
  if (g && cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(g)) != cudaSuccess) (void)cudaGetLastError();
}

const DeviceRuntime kRuntime = [] {
  DeviceRuntime rt;
  rt.abi = kDeviceAbi;
  rt.device_count = &count_devices;
  rt.set_device = &set_device;
  rt.allocate = &allocate;
  rt.release = &release;
  rt.to_device = &to_device;
  rt.to_host = &to_host;
  rt.device_to_device = &device_to_device;
  rt.fill_bytes = &fill_bytes;
  rt.synchronize = &synchronize;
  rt.allocate_pinned = &allocate_pinned;
  rt.release_pinned = &release_pinned;
  rt.memory_info = &memory_info;
  rt.create_event = &create_event;
  rt.destroy_event = &destroy_event;
  rt.record_event = &record_event;
  rt.wait_event = &wait_event;
  rt.begin_capture = &begin_capture;
  rt.end_capture = &end_capture;
  rt.abort_capture = &abort_capture;
  rt.launch_graph = &launch_graph;
  rt.destroy_graph = &destroy_graph;
  rt.scratch_generation = &scratch_generation;
  return rt;
}();

}  // namespace

const DeviceRuntime& runtime() { return kRuntime; }

int device_count_or_zero() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

std::optional<std::string> driver_error() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) return std::nullopt;
  (void)cudaGetLastError();
  if (e == cudaSuccess || e == cudaErrorNoDevice)
    return std::string("no CUDA GPU found (the NVIDIA driver is installed but reports no device)");
  const std::string cuda_error = std::string(" (CUDA error ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ")";
  // The runtime says "insufficient driver" both without any driver and with an old one.
  if (e == cudaErrorInsufficientDriver) {
    if (void* h = dlopen("libcuda.so.1", RTLD_LAZY)) {
      dlclose(h);
      int driver = 0;
      (void)cudaDriverGetVersion(&driver);
      return "the NVIDIA driver supports CUDA " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
             ", older than this pydl's CUDA " + std::to_string(CUDART_VERSION / 1000) + " runtime: update the driver" +
             cuda_error;
    }
    return "no NVIDIA driver found (libcuda.so.1 cannot be loaded)" + cuda_error;
  }
  return "CUDA cannot be initialised" + cuda_error;
}

OrdinalScope::OrdinalScope(int ordinal) {
  check(cudaGetDevice(&saved_), "cudaGetDevice");
  if (ordinal != saved_) set_device(ordinal);
}

OrdinalScope::~OrdinalScope() {
  if (saved_ >= 0 && cudaSetDevice(saved_) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace pydl::cuda

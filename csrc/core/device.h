// The backend seam. pydl._core holds the CPU kernels and this registry; pydl._cuda, a separate
// extension module loaded only where CUDA is wanted, fills it at import with
//   - a DeviceRuntime (allocation, copies, synchronisation of device memory), and
//   - one CUDA implementation per kernel entry, registered under the entry's name with the
//     entry's own float signature (cuda/registry.cuh checks that at compile time).
// Kernel entries (csrc/kernels/*.cc) start with PYDL_DEVICE_DISPATCH: when the thread executes
// on the device (a DeviceScope is open: a Graph whose buffers live there runs forward,
// backward or an optimizer step), the call goes to the registered CUDA version, else on to the
// CPU code below it. Call sites in csrc/nn never test for a backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "core/view.h"

namespace pydl {

// What pydl._cuda provides. Every function throws std::runtime_error naming the CUDA error.
struct DeviceRuntime {
  int abi = 0;  // kDeviceAbi of the headers it was compiled with
  int (*device_count)() = nullptr;
  void (*set_device)(int ordinal) = nullptr;  // the calling thread's current device
  void* (*allocate)(size_t bytes) = nullptr;  // on the current device; never managed memory
  void (*release)(void* p) = nullptr;
  void (*to_device)(void* dst, const void* src, size_t bytes) = nullptr;
  void (*to_host)(void* dst, const void* src, size_t bytes) = nullptr;
  void (*device_to_device)(void* dst, const void* src, size_t bytes) = nullptr;
  void (*fill_bytes)(void* p, int value, size_t bytes) = nullptr;
  void (*synchronize)() = nullptr;  // waits for the current device's work; raises its errors
  // Page-locked host memory (the staging buffers of batches copied to the device).
  void* (*allocate_pinned)(size_t bytes) = nullptr;
  void (*release_pinned)(void* p) = nullptr;
  // (free, total) bytes of the current device.
  void (*memory_info)(size_t* free_bytes, size_t* total_bytes) = nullptr;
  // Events on the current device's stream: record marks the work queued so far; wait blocks
  // the host until the stream has done it (not the work queued after). Host staging memory
  // is rewritten only after the event recorded behind its upload (DeviceEvent).
  void* (*create_event)() = nullptr;
  void (*destroy_event)(void* event) = nullptr;
  void (*record_event)(void* event) = nullptr;
  void (*wait_event)(void* event) = nullptr;
  // CUDA graphs of the current device's stream (DeviceGraph). begin_capture: the calling
  // thread's work on the stream is recorded, not run, until end_capture, which returns it
  // instantiated; abort_capture ends a capture that failed and discards it (never raises).
  void (*begin_capture)() = nullptr;
  void* (*end_capture)() = nullptr;
  void (*abort_capture)() = nullptr;
  void (*launch_graph)(void* graph) = nullptr;  // queues the whole graph on the stream
  void (*destroy_graph)(void* graph) = nullptr;  // never raises
  // Changes whenever memory the kernels take for themselves (cuda/context.h scratch()) moves:
  // a graph captured before then would read freed memory.
  uint64_t (*scratch_generation)() = nullptr;
};
// Bumped whenever DeviceRuntime, the kernel signatures or the layout of the device data both
// modules read (kernels/step_results.h, metrics.h's flat sums) change: a pydl._cuda built
// against other headers is refused at import instead of calling through a wrong table.
constexpr int kDeviceAbi = 4;

// An event of the loaded runtime (no-ops without one): wait() returns at once until record()
// was called, then blocks until the stream has done the work queued before that record.
class DeviceEvent {
 public:
  DeviceEvent() = default;
  DeviceEvent(const DeviceEvent&) = delete;
  DeviceEvent& operator=(const DeviceEvent&) = delete;
  DeviceEvent(DeviceEvent&& o) noexcept : event_(o.event_), rt_(o.rt_), recorded_(o.recorded_) {
    o.event_ = nullptr;
    o.recorded_ = false;
  }
  DeviceEvent& operator=(DeviceEvent&& o) noexcept;
  ~DeviceEvent();
  void record();
  void wait();

 private:
  void* event_ = nullptr;
  const DeviceRuntime* rt_ = nullptr;  // the runtime that made event_
  bool recorded_ = false;
};

// A CUDA graph of the loaded runtime: work queued between begin_capture() and end_capture()
// on this thread is recorded instead of run, then launch() queues all of it again, as one
// launch. Kernel entries' host code runs at capture only, so whatever changes from one launch
// to the next must be read by the kernels from device memory (kernels/step_results.h's clock).
// A capture that throws must end with abort_capture().
class DeviceGraph {
 public:
  DeviceGraph() = default;
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;
  ~DeviceGraph() { reset(); }
  static void begin_capture();
  static void abort_capture() noexcept;
  void end_capture();  // replaces any graph held
  void launch();
  bool empty() const { return graph_ == nullptr; }
  void reset() noexcept;
  // The runtime's scratch_generation at end_capture.
  uint64_t scratch_generation() const { return generation_; }

 private:
  void* graph_ = nullptr;
  const DeviceRuntime* rt_ = nullptr;
  uint64_t generation_ = 0;
};
// The runtime's scratch_generation now (0 without a runtime).
uint64_t device_scratch_generation();

// The table pydl._cuda registers into (through the _core._device_seam capsule).
struct DeviceSeam {
  int abi = kDeviceAbi;
  void (*set_runtime)(const DeviceRuntime* rt) = nullptr;
  void (*register_kernel)(const char* name, void* fn) = nullptr;
};
const DeviceSeam* device_seam();

// Null until pydl._cuda loaded.
const DeviceRuntime* device_runtime();
// The runtime, or RuntimeError saying why CUDA cannot be used.
const DeviceRuntime& require_device_runtime();

// The device the calling thread executes kernels on, and its ordinal ("cuda:1" is 1).
Device current_device();
int current_device_ordinal();

// Executes the enclosed kernels on `device` (for CUDA: makes `ordinal` the current device).
// Scopes nest; each restores what it found.
class DeviceScope {
 public:
  explicit DeviceScope(Device device, int ordinal = 0);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  Device saved_device_;
  int saved_ordinal_;
};

// The CUDA version of kernel `name`, or null when pydl._cuda registered none.
void* find_device_kernel(const char* name);
// RuntimeError: kernel `name` has no CUDA version (this build, or float64).
[[noreturn]] void throw_missing_device_kernel(const char* name);
// The same, cast to the entry's signature; RuntimeError naming the kernel when missing.
template <typename Fn>
Fn device_kernel(const char* name) {
  static_assert(std::is_pointer_v<Fn>, "device_kernel<Fn>: Fn is a function pointer type");
  void* fn = find_device_kernel(name);
  if (!fn) throw_missing_device_kernel(name);
  return reinterpret_cast<Fn>(fn);
}
// Names of the registered CUDA kernels (for pydl.cuda and the tests that every entry has one).
std::string registered_device_kernels();

// PYDL_CUDA_POISON=1 in the environment (read once): device buffers start as NaN, not zero.
bool device_poison();

// Copies between host memory and memory on `where` (host-to-host is a memcpy).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

// FOR TESTS ONLY (core/device_emulation.cc): a DeviceRuntime over ordinary host memory
// (64-byte aligned allocations, memcpy copies, a no-op synchronize), one device. While it is
// installed, buffers allocated under DeviceScope(CUDA) are tagged Device::CUDA and every copy
// between "host" and "device" goes through the runtime, but kernel entries run their CPU code
// (PYDL_DEVICE_DISPATCH falls through): the engine's device plumbing (what lives where, what
// is copied when) runs on a machine without a GPU, and results are bitwise those of the CPU.
// It proves nothing about CUDA kernels, nor that host code never dereferences device memory
// (emulated device memory is host memory). Refused while pydl._cuda's runtime is installed;
// installing a real runtime is refused while the emulation is on.
// Graphs are emulated too: during a capture every kernel entry's call is recorded with copies
// of its arguments, as are fills and device-to-device copies, and a launch replays them in
// order. Host code therefore runs once, at capture, as under CUDA: a value the kernels take from
// their arguments is frozen at the captured step's, and a replay that should differ does not.
// Copies between host and device, synchronisations, events, allocations and entries that
// return a host value raise during a capture (CUDA refuses or would freeze them).
namespace detail {
extern bool g_device_emulated;  // read by PYDL_DEVICE_DISPATCH: one load, no call
// The emulated capture under way on this thread, or null: PYDL_DEVICE_DISPATCH records the
// entry's call (its arguments copied) instead of running it, as a CUDA capture records kernels.
extern thread_local bool t_emulated_capture;
void record_emulated_call(const char* name, std::function<void()> call);
[[noreturn]] void refuse_emulated_capture(const char* name);  // an entry that answers the host
// Whether an entry answers the host: it returns a value, or writes through a non-const
// reference (host structs: accumulate_metrics' sums).
template <typename Fn>
struct answers_host;
template <typename R, typename... A>
struct answers_host<R (*)(A...)>
    : std::bool_constant<!std::is_void_v<R> ||
                         ((std::is_lvalue_reference_v<A> && !std::is_const_v<std::remove_reference_t<A>>) || ...)> {};
template <typename Fn>
struct fn_result;
template <typename R, typename... A>
struct fn_result<R (*)(A...)> {
  using type = R;
};
template <typename Fn, typename F>
typename fn_result<Fn>::type record_emulated(const char* name, F&& call) {
  if constexpr (answers_host<Fn>::value)
    refuse_emulated_capture(name);
  else
    record_emulated_call(name, std::function<void()>(std::forward<F>(call)));
}
}  // namespace detail
inline bool device_emulated() { return detail::g_device_emulated; }
// Installs (true) or removes (false) the emulated runtime. Removing it while emulated device
// memory is still allocated raises RuntimeError naming how many allocations are alive (a
// leak check for the tests: a model moved back to the CPU, or deleted, holds none).
void set_device_emulation(bool on);
// What the emulated runtime did so far (tests assert that moves and batches really copy).
struct EmulationStats {
  int64_t live_allocations = 0, live_pinned = 0;
  int64_t to_device_bytes = 0, to_host_bytes = 0, device_to_device_bytes = 0;
  int64_t synchronizes = 0;
  int64_t event_waits = 0;  // DeviceEvent::wait calls on a recorded event
  int64_t graph_captures = 0, graph_launches = 0, graph_aborts = 0;
  int64_t graph_calls = 0;  // kernel entries run by graph launches
};
EmulationStats device_emulation_stats();
// The free memory the emulated device reports (0: the default, 16 GiB).
void set_emulated_free_bytes(size_t bytes);
// As if a kernel's scratch memory had moved (a graph captured before is stale).
void bump_emulated_scratch_generation();
// The next capture raises when it would record its call number `call` (from 0), as CUDA
// refuses a call it cannot capture.
void fail_emulated_capture_at(int64_t call);

}  // namespace pydl

// First statement of a kernel entry template over T (float and double): on the device, float
// calls go to the CUDA version registered as `name` (the same arguments), double refuses
// (the float64 engine is CPU-only). Under the test-only emulation (see set_device_emulation)
// the call falls through to the CPU code. `name` is the entry's unqualified name; the macro
// expands inside namespace pydl.
#define PYDL_DEVICE_DISPATCH(name, ...)                                                        \
  do {                                                                                       \
    if (::pydl::current_device() == ::pydl::Device::CUDA) {                                  \
      if (!::pydl::device_emulated()) {                                                      \
        if constexpr (std::is_same_v<T, float>) {                                            \
          static const auto device_fn_ = ::pydl::device_kernel<decltype(&name<float>)>(#name); \
          return device_fn_(__VA_ARGS__);                                                    \
        } else {                                                                             \
          ::pydl::throw_missing_device_kernel(#name " (float64)");                           \
        }                                                                                    \
      } else if (::pydl::detail::t_emulated_capture) {                                       \
        return ::pydl::detail::record_emulated<decltype(&name<T>)>(                          \
            #name, [=]() mutable { name<T>(__VA_ARGS__); });                                 \
      }                                                                                      \
    }                                                                                        \
  } while (0)

// The same for an entry that is not a template (its signature is its own type).
#define PYDL_DEVICE_DISPATCH_PLAIN(name, ...)                                            \
  do {                                                                                 \
    if (::pydl::current_device() == ::pydl::Device::CUDA) {                            \
      if (!::pydl::device_emulated()) {                                                \
        static const auto device_fn_ = ::pydl::device_kernel<decltype(&name)>(#name);  \
        return device_fn_(__VA_ARGS__);                                                \
      } else if (::pydl::detail::t_emulated_capture) {                                 \
        return ::pydl::detail::record_emulated<decltype(&name)>(                       \
            #name, [=]() mutable { name(__VA_ARGS__); });                              \
      }                                                                                \
    }                                                                                  \
  } while (0)

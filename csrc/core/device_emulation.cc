// FOR TESTS ONLY: an emulated CUDA runtime over host memory (see set_device_emulation in
// core/device.h). It lets the CPU-only test suite exercise the engine's device plumbing:
// buffers allocated under DeviceScope(CUDA) are tagged Device::CUDA, moves and batch uploads
// go through DeviceRuntime copies, and kernels run their CPU code, so results stay bitwise
// those of the CPU. Never installed by pydl itself; pydl._core._emulate_cuda(True) (a private
// binding the tests call) installs it.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"

namespace pydl {
namespace detail {
bool g_device_emulated = false;
thread_local bool t_emulated_capture = false;
void install_runtime_unchecked(const DeviceRuntime* rt);  // device.cc
}  // namespace detail

namespace {

using Recorded = std::vector<std::function<void()>>;
thread_local Recorded* t_recording = nullptr;  // the capture under way on this thread
std::atomic<int64_t> g_captures{0}, g_launches{0}, g_aborts{0}, g_graph_calls{0};

// What CUDA would refuse (or freeze at the captured values) during a capture.
void refuse_during_capture(const char* what) {
  if (detail::t_emulated_capture)
    throw std::runtime_error(std::string("emulated CUDA graph capture: ") + what + " cannot be captured");
}
std::atomic<int64_t> g_fail_capture_at{-1};  // set_emulated_capture_failure
void record(std::function<void()> call) {
  if (int64_t(t_recording->size()) == g_fail_capture_at.load()) {
    g_fail_capture_at.store(-1);
    throw std::runtime_error("emulated CUDA graph capture: a call refused on purpose (a test)");
  }
  t_recording->push_back(std::move(call));
}

std::atomic<int64_t> g_live{0}, g_pinned{0}, g_to_device{0}, g_to_host{0}, g_d2d{0}, g_syncs{0}, g_event_waits{0};
int g_event_token = 0;  // what an emulated event points at (copies are synchronous: nothing to wait for)
constexpr size_t kEmulatedBytes = size_t(1) << 34;  // 16 GiB, a stand-in
std::atomic<size_t> g_free{kEmulatedBytes};

void* host_allocate(size_t bytes) {
  const size_t rounded = ((bytes > 0 ? bytes : 64) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

int emu_device_count() { return 1; }
void emu_set_device(int ordinal) {
  if (ordinal != 0)
    throw std::runtime_error("emulated CUDA: device " + std::to_string(ordinal) + " does not exist (one device)");
}
void* emu_allocate(size_t bytes) {
  refuse_during_capture("an allocation");
  void* p = host_allocate(bytes);
  g_live.fetch_add(1);
  return p;
}
void emu_release(void* p) {
  if (!p) return;
  std::free(p);
  g_live.fetch_sub(1);
}
void emu_to_device(void* dst, const void* src, size_t bytes) {
  refuse_during_capture("a copy from host memory");
  std::memcpy(dst, src, bytes);
  g_to_device.fetch_add(int64_t(bytes));
}
void emu_to_host(void* dst, const void* src, size_t bytes) {
  refuse_during_capture("a copy to host memory");
  std::memcpy(dst, src, bytes);
  g_to_host.fetch_add(int64_t(bytes));
}
void emu_d2d(void* dst, const void* src, size_t bytes) {
  if (detail::t_emulated_capture) return record([=] { emu_d2d(dst, src, bytes); });
  std::memmove(dst, src, bytes);
  g_d2d.fetch_add(int64_t(bytes));
}
void emu_fill(void* p, int value, size_t bytes) {
  if (detail::t_emulated_capture) return record([=] { std::memset(p, value, bytes); });
  std::memset(p, value, bytes);
}
void emu_synchronize() {
  refuse_during_capture("a synchronisation");
  g_syncs.fetch_add(1);
}
void* emu_allocate_pinned(size_t bytes) {
  refuse_during_capture("an allocation");
  void* p = host_allocate(bytes);
  g_pinned.fetch_add(1);
  return p;
}
void emu_release_pinned(void* p) {
  if (!p) return;
  std::free(p);
  g_pinned.fetch_sub(1);
}
void emu_memory_info(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = g_free.load();
  *total_bytes = kEmulatedBytes;
}

void* emu_create_event() { return &g_event_token; }
void emu_destroy_event(void*) {}
void emu_record_event(void*) { refuse_during_capture("an event"); }
void emu_wait_event(void*) {
  refuse_during_capture("an event wait");
  g_event_waits.fetch_add(1);
}

void emu_begin_capture() {
  if (detail::t_emulated_capture) throw std::runtime_error("emulated CUDA graph capture: a capture is under way");
  t_recording = new Recorded;
  detail::t_emulated_capture = true;
}
void* emu_end_capture() {
  if (!detail::t_emulated_capture) throw std::runtime_error("emulated CUDA graph capture: no capture is under way");
  detail::t_emulated_capture = false;
  Recorded* graph = t_recording;
  t_recording = nullptr;
  g_captures.fetch_add(1);
  return graph;
}
void emu_abort_capture() {
  if (!detail::t_emulated_capture) return;
  detail::t_emulated_capture = false;
  delete t_recording;
  t_recording = nullptr;
  g_aborts.fetch_add(1);
}
void emu_launch_graph(void* graph) {
  refuse_during_capture("a graph launch");
  for (const std::function<void()>& call : *static_cast<Recorded*>(graph)) call();
  g_launches.fetch_add(1);
  g_graph_calls.fetch_add(int64_t(static_cast<Recorded*>(graph)->size()));
}
void emu_destroy_graph(void* graph) { delete static_cast<Recorded*>(graph); }
std::atomic<uint64_t> g_scratch_generation{1};
uint64_t emu_scratch_generation() { return g_scratch_generation.load(); }

const DeviceRuntime kEmulated{kDeviceAbi,         &emu_device_count,    &emu_set_device,   &emu_allocate,
                              &emu_release,       &emu_to_device,       &emu_to_host,      &emu_d2d,
                              &emu_fill,          &emu_synchronize,     &emu_allocate_pinned,
                              &emu_release_pinned, &emu_memory_info,    &emu_create_event,
                              &emu_destroy_event, &emu_record_event,    &emu_wait_event,   &emu_begin_capture,
                              &emu_end_capture,   &emu_abort_capture,   &emu_launch_graph, &emu_destroy_graph,
                              &emu_scratch_generation};

}  // namespace

void set_device_emulation(bool on) {
  if (on == detail::g_device_emulated) return;
  if (on) {
    if (device_runtime())
      throw std::runtime_error("the CUDA emulation (for tests) cannot be installed: pydl._cuda's runtime is loaded");
    detail::install_runtime_unchecked(&kEmulated);
    detail::g_device_emulated = true;
    return;
  }
  const int64_t live = g_live.load() + g_pinned.load();
  if (live > 0)
    throw std::runtime_error("the CUDA emulation (for tests) cannot be removed: " + std::to_string(live) +
                             " emulated device allocation(s) are alive (move the models back to the CPU or "
                             "delete them first)");
  detail::g_device_emulated = false;
  detail::install_runtime_unchecked(nullptr);
}

void set_emulated_free_bytes(size_t bytes) { g_free.store(bytes ? bytes : kEmulatedBytes); }

void bump_emulated_scratch_generation() { g_scratch_generation.fetch_add(1); }
void fail_emulated_capture_at(int64_t call) { g_fail_capture_at.store(call); }

namespace detail {
void record_emulated_call(const char*, std::function<void()> call) { record(std::move(call)); }
void refuse_emulated_capture(const char* name) {
  throw std::runtime_error(std::string("emulated CUDA graph capture: kernel ") + name +
                           " returns a host value, which a graph cannot capture");
}
}  // namespace detail

EmulationStats device_emulation_stats() {
  EmulationStats s;
  s.live_allocations = g_live.load();
  s.live_pinned = g_pinned.load();
  s.to_device_bytes = g_to_device.load();
  s.to_host_bytes = g_to_host.load();
  s.device_to_device_bytes = g_d2d.load();
  s.synchronizes = g_syncs.load();
  s.event_waits = g_event_waits.load();
  s.graph_captures = g_captures.load();
  s.graph_launches = g_launches.load();
  s.graph_aborts = g_aborts.load();
  s.graph_calls = g_graph_calls.load();
  return s;
}

}  // namespace pydl

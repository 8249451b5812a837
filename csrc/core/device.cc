#include "core/device.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace pydl {
namespace {

const DeviceRuntime* g_runtime = nullptr;
thread_local Device t_device = Device::CPU;
thread_local int t_ordinal = 0;

// Written once at import of pydl._cuda (under the GIL), read by kernel entries afterwards.
std::mutex& kernels_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, void*>& kernels() {
  static std::map<std::string, void*> k;
  return k;
}

void set_runtime(const DeviceRuntime* rt) {
  if (device_emulated())
    throw std::runtime_error("pydl._cuda cannot register its runtime while the CUDA emulation for tests is on "
                             "(pydl._core._emulate_cuda(False) first)");
  if (rt && rt->abi != kDeviceAbi)
    throw std::runtime_error("pydl._cuda was built against another pydl (device ABI " + std::to_string(rt->abi) +
                             ", this pydl._core has " + std::to_string(kDeviceAbi) + "): reinstall pydl");
  g_runtime = rt;
}

void register_kernel(const char* name, void* fn) {
  std::lock_guard<std::mutex> lock(kernels_mutex());
  kernels()[name] = fn;
}

const DeviceSeam kSeam{kDeviceAbi, &set_runtime, &register_kernel};

}  // namespace

namespace detail {
// The emulation's way in (core/device_emulation.cc); its own checks were made there.
void install_runtime_unchecked(const DeviceRuntime* rt) { g_runtime = rt; }
}  // namespace detail

const DeviceSeam* device_seam() { return &kSeam; }
const DeviceRuntime* device_runtime() { return g_runtime; }

const DeviceRuntime& require_device_runtime() {
  if (!g_runtime)
    throw std::runtime_error(
        "CUDA is not available: pydl._cuda is not loaded (this pydl has no CUDA build, or no GPU and driver were "
        "found; see pydl.cuda.is_available())");
  return *g_runtime;
}

Device current_device() { return t_device; }
int current_device_ordinal() { return t_ordinal; }

DeviceScope::DeviceScope(Device device, int ordinal) : saved_device_(t_device), saved_ordinal_(t_ordinal) {
  if (device == Device::CUDA) require_device_runtime().set_device(ordinal);
  t_device = device;
  t_ordinal = ordinal;
}

DeviceScope::~DeviceScope() {
  if (saved_device_ == Device::CUDA && g_runtime) {
    try {
      g_runtime->set_device(saved_ordinal_);
    } catch (...) {  // a destructor must not throw; the next CUDA call reports the error
    }
  }
  t_device = saved_device_;
  t_ordinal = saved_ordinal_;
}

void* find_device_kernel(const char* name) {
  std::lock_guard<std::mutex> lock(kernels_mutex());
  auto it = kernels().find(name);
  return it == kernels().end() ? nullptr : it->second;
}

void throw_missing_device_kernel(const char* name) {
  throw std::runtime_error(std::string("kernel ") + name + " has no CUDA version in this pydl build" +
                           (g_runtime ? "" : " (pydl._cuda is not loaded)"));
}

std::string registered_device_kernels() {
  std::lock_guard<std::mutex> lock(kernels_mutex());
  std::string out;
  for (const auto& [name, fn] : kernels()) {
    if (!out.empty()) out += ",";
    out += name;
  }
  return out;
}

bool device_poison() {
  static const bool poison = [] {
    const char* v = std::getenv("PYDL_CUDA_POISON");
    return v && std::strcmp(v, "1") == 0;
  }();
  return poison;
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const DeviceRuntime& rt = require_device_runtime();
  if (dst_device == Device::CUDA && src_device == Device::CUDA)
    rt.device_to_device(dst, src, bytes);
  else if (dst_device == Device::CUDA)
    rt.to_device(dst, src, bytes);
  else
    rt.to_host(dst, src, bytes);
}

DeviceEvent& DeviceEvent::operator=(DeviceEvent&& o) noexcept {
  if (this != &o) {
    if (event_ && rt_) rt_->destroy_event(event_);
    event_ = o.event_;
    rt_ = o.rt_;
    recorded_ = o.recorded_;
    o.event_ = nullptr;
    o.recorded_ = false;
  }
  return *this;
}

DeviceEvent::~DeviceEvent() {
  if (event_ && rt_) rt_->destroy_event(event_);
}

void DeviceEvent::record() {
  const DeviceRuntime* rt = device_runtime();
  if (!rt || !rt->record_event) return;
  if (!event_ || rt_ != rt) {
    if (event_ && rt_) rt_->destroy_event(event_);
    event_ = nullptr;
    event_ = rt->create_event();
    rt_ = rt;
  }
  rt->record_event(event_);
  recorded_ = true;
}

void DeviceEvent::wait() {
  if (recorded_ && event_ && rt_) rt_->wait_event(event_);
}

void DeviceGraph::begin_capture() { require_device_runtime().begin_capture(); }

void DeviceGraph::abort_capture() noexcept {
  if (g_runtime) g_runtime->abort_capture();
}

void DeviceGraph::end_capture() {
  const DeviceRuntime& rt = require_device_runtime();
  void* graph = rt.end_capture();
  reset();
  graph_ = graph;
  rt_ = &rt;
  generation_ = rt.scratch_generation();
}

void DeviceGraph::launch() {
  if (!graph_) throw std::logic_error("DeviceGraph::launch: nothing was captured");
  rt_->launch_graph(graph_);
}

void DeviceGraph::reset() noexcept {
  if (graph_ && rt_) rt_->destroy_graph(graph_);
  graph_ = nullptr;
  rt_ = nullptr;
}

uint64_t device_scratch_generation() { return g_runtime ? g_runtime->scratch_generation() : 0; }

}  // namespace pydl

#include "bind/kernel_call.h"

namespace pydl::bind {
namespace {
thread_local Device t_kernel_device = Device::CPU;
thread_local int t_kernel_ordinal = 0;
}  // namespace

void set_kernel_device(Device device, int ordinal) {
  if (device == Device::CUDA) require_device_runtime();
  t_kernel_device = device;
  t_kernel_ordinal = ordinal;
}
Device kernel_device() { return t_kernel_device; }
int kernel_device_ordinal() { return t_kernel_ordinal; }

KernelCall::KernelCall() : device_(t_kernel_device) {
  if (device_ == Device::CUDA) scope_ = std::make_unique<DeviceScope>(device_, t_kernel_ordinal);
}

KernelCall::~KernelCall() {
  if (device_ != Device::CUDA) return;
  const DeviceRuntime* rt = device_runtime();
  if (!rt) return;
  try {  // the kernels queued may still read the memory: wait before releasing it
    rt->synchronize();
  } catch (...) {  // a destructor must not throw; the call already failed or finish() reported it
  }
  for (const Staged& s : staged_) rt->release(s.device);
}

void* KernelCall::stage(void* host, size_t bytes, bool copy_in, bool copy_back) {
  if (device_ != Device::CUDA) return host;
  const DeviceRuntime& rt = require_device_runtime();
  void* dev = rt.allocate(bytes > 0 ? bytes : 64);
  staged_.push_back({host, dev, bytes, copy_back});
  if (copy_in)
    rt.to_device(dev, host, bytes);
  else
    rt.fill_bytes(dev, device_poison() ? 0xFF : 0, bytes);
  return dev;
}

void KernelCall::finish() {
  if (device_ != Device::CUDA) return;
  const DeviceRuntime& rt = require_device_runtime();
  rt.synchronize();  // raises the kernels' errors before anything is read back
  for (const Staged& s : staged_)
    if (s.copy_back) rt.to_host(s.host, s.device, s.bytes);
}

}  // namespace pydl::bind

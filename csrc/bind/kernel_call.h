// Where a pydl.kernels call runs. pydl.kernels.on_device("cuda") sets, for the calling
// thread, the device that kernel bindings execute on; a binding then stages its numpy arrays
// through a KernelCall:
//
//   KernelCall call;                       // opens a DeviceScope on the selected device
//   const float* x = call.in(x_array);     // the host data, or a device copy of it
//   float* y = call.out(y_array);          // the host data, or device memory copied back
//   float* m = call.inout(m_array);        // copied there and back (in-place updates)
//   kernel(..., call.device());
//   call.finish();                         // waits for the device and copies outputs back
//
// On the CPU every method returns the array's own pointer and finish() does nothing. Device
// outputs start as NaN bytes under PYDL_CUDA_POISON=1 (core/device.h), so that a CUDA kernel
// leaving an element unwritten fails its test against the CPU kernel.
#pragma once
#include <pybind11/numpy.h>

#include <memory>
#include <vector>

#include "core/device.h"

namespace pydl::bind {

// The device kernel bindings run on for the calling thread (CPU unless on_device says so).
void set_kernel_device(Device device, int ordinal);
Device kernel_device();
int kernel_device_ordinal();

class KernelCall {
 public:
  KernelCall();
  ~KernelCall();  // releases device memory; outputs are copied back only by finish()
  KernelCall(const KernelCall&) = delete;
  KernelCall& operator=(const KernelCall&) = delete;

  Device device() const { return device_; }

  template <typename T>
  const T* in(const pybind11::array_t<T, pybind11::array::c_style | pybind11::array::forcecast>& a) {
    return static_cast<const T*>(stage(const_cast<T*>(a.data()), sizeof(T) * size_t(a.size()), true, false));
  }
  template <typename T>
  T* out(pybind11::array_t<T, pybind11::array::c_style | pybind11::array::forcecast>& a) {
    return static_cast<T*>(stage(a.mutable_data(), sizeof(T) * size_t(a.size()), false, true));
  }
  template <typename T>
  T* inout(pybind11::array_t<T, pybind11::array::c_style | pybind11::array::forcecast>& a) {
    return static_cast<T*>(stage(a.mutable_data(), sizeof(T) * size_t(a.size()), true, true));
  }
  // The same for plain host memory (a std::vector the binding owns, a scalar result).
  const void* in_bytes(const void* host, size_t bytes) { return stage(const_cast<void*>(host), bytes, true, false); }
  void* out_bytes(void* host, size_t bytes) { return stage(host, bytes, false, true); }
  void* inout_bytes(void* host, size_t bytes) { return stage(host, bytes, true, true); }
  // A workspace: the host memory on the CPU; on the device memory neither copied in nor back.
  void* work_bytes(void* host, size_t bytes) { return stage(host, bytes, false, false); }

  void finish();

 private:
  struct Staged {
    void* host;
    void* device;
    size_t bytes;
    bool copy_back;
  };
  void* stage(void* host, size_t bytes, bool copy_in, bool copy_back);

  Device device_;
  std::unique_ptr<DeviceScope> scope_;
  std::vector<Staged> staged_;
};

}  // namespace pydl::bind

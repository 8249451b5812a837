// Owning, 64-byte aligned buffers. Allocated when a plan is made, never in a hot loop.
// A buffer lives where the thread executed when it was first allocated (core/device.h: a
// DeviceScope on CUDA allocates device memory, with cudaMalloc through pydl._cuda's
// runtime); it stays there when it grows. Device buffers are zeroed like host ones, or filled
// with NaN bytes under PYDL_CUDA_POISON=1 (the CUDA tests: a kernel that leaves an element
// unwritten then fails).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/device.h"
#include "core/errors.h"
#include "core/sizes.h"

namespace pydl {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) { resize(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), device_(o.device_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_;
      size_ = o.size_;
      device_ = o.device_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  ~Buffer() { release(); }

  // Grows only; contents are zeroed after a resize so plans start from a known state.
  void resize(int64_t n) { resize(n, data_ ? device_ : current_device()); }
  // The same on `where`, whatever the thread executes on (host buffers of device code).
  // A buffer asked to change device is released and allocated anew.
  void resize(int64_t n, Device where) {
    if (data_ && where != device_) release();
    if (n <= size_) return;
    if (n > kMaxElements) throw ValueError("buffer of " + std::to_string(n) + " values: beyond the limit of 2^48");
    const size_t bytes = ((static_cast<size_t>(n) * sizeof(T) + 63) / 64) * 64;
    release();
    device_ = where;
    if (where == Device::CUDA) {  // the runtime raises MemoryError when the device is full
      const DeviceRuntime& rt = require_device_runtime();
      data_ = static_cast<T*>(rt.allocate(bytes > 0 ? bytes : 64));
      rt.fill_bytes(data_, device_poison() ? 0xFF : 0, bytes);  // 0xFF..: a NaN in every float
    } else {
      check_fits_in_memory(bytes, "a buffer of " + std::to_string(n) + " values");
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
      if (!data_) throw std::bad_alloc();
      std::memset(static_cast<void*>(data_), 0, bytes);
    }
    size_ = n;
  }
  void zero() {
    if (!data_) return;
    if (device_ == Device::CUDA)
      require_device_runtime().fill_bytes(data_, 0, sizeof(T) * size_);
    else
      std::memset(static_cast<void*>(data_), 0, sizeof(T) * size_);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return size_; }
  Device device() const { return device_; }
  // Frees the memory (size 0); the next resize allocates where the thread then executes.
  void reset() { release(); }

 private:
  void release() {
    if (device_ == Device::CUDA) {
      if (data_ && device_runtime()) device_runtime()->release(data_);
    } else {
      std::free(data_);
    }
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  int64_t size_ = 0;
  Device device_ = Device::CPU;
};

}  // namespace pydl

// Host staging memory for data copied to a device: page-locked (DeviceRuntime::allocate_pinned)
// when a device runtime is loaded, so that uploads run at full bus speed, else ordinary
// aligned host memory. Grows only; contents are not cleared. The trainer gathers each batch
// here and copies it to the device in one call per array.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>

#include "core/device.h"
#include "core/errors.h"
#include "core/sizes.h"

namespace pydl {

template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), size_(o.size_), pinned_(o.pinned_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_;
      size_ = o.size_;
      pinned_ = o.pinned_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  ~PinnedBuffer() { release(); }

  void resize(int64_t n) {
    if (n <= size_) return;
    if (n > kMaxElements) throw ValueError("staging buffer of " + std::to_string(n) + " values: beyond the limit of 2^48");
    const size_t bytes = ((static_cast<size_t>(n) * sizeof(T) + 63) / 64) * 64;
    release();
    const DeviceRuntime* rt = device_runtime();
    pinned_ = rt && rt->allocate_pinned;
    if (pinned_) {
      data_ = static_cast<T*>(rt->allocate_pinned(bytes));
    } else {
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
    }
    size_ = n;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  void release() {
    if (data_) {
      if (!pinned_)
        std::free(data_);
      else if (const DeviceRuntime* rt = device_runtime())
        rt->release_pinned(data_);
    }
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  int64_t size_ = 0;
  bool pinned_ = false;
};

}  // namespace pydl

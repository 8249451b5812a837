// Owning, 64-byte aligned buffers. Allocated when a plan is made, never in a hot loop.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

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
  Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) { release(); data_ = o.data_; size_ = o.size_; o.data_ = nullptr; o.size_ = 0; }
    return *this;
  }
  ~Buffer() { release(); }

  // Grows only; contents are zeroed after a resize so plans start from a known state.
  void resize(int64_t n) {
    if (n <= size_) return;
    if (n > kMaxElements) throw ValueError("buffer of " + std::to_string(n) + " values: beyond the limit of 2^48");
    const size_t bytes = ((static_cast<size_t>(n) * sizeof(T) + 63) / 64) * 64;
    check_fits_in_memory(bytes, "a buffer of " + std::to_string(n) + " values");
    release();
    data_ = static_cast<T*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
    if (!data_) throw std::bad_alloc();
    std::memset(static_cast<void*>(data_), 0, bytes);
    size_ = n;
  }
  void zero() { if (data_) std::memset(static_cast<void*>(data_), 0, sizeof(T) * size_); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  void release() { std::free(data_); data_ = nullptr; size_ = 0; }
  T* data_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace pydl

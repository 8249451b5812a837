// Copies and fills of tensors where the calling thread executes (core/device.h: the graph's
// DeviceScope), for host code of layers and the engine that moves or zeroes whole tensors:
// memcpy / memset on the CPU, the device runtime's copies and fills on a device. Host code
// never dereferences a tensor pointer itself; what it must read or write element by element
// goes through download_values / upload_values (a copy each way: keep it off hot paths, or
// give the work a kernel).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/device.h"

namespace pydl {

// dst = src, n values, both on the current device.
template <typename T>
void copy_values(T* dst, const T* src, int64_t n) {
  if (n <= 0 || dst == src) return;
  const Device d = current_device();
  copy_bytes(dst, d, src, d, sizeof(T) * size_t(n));
}

// p[0..n) = all-zero bytes (0.0 for floats), on the current device.
template <typename T>
void zero_values(T* p, int64_t n) {
  if (n <= 0) return;
  if (current_device() == Device::CPU)
    std::memset(static_cast<void*>(p), 0, sizeof(T) * size_t(n));
  else
    require_device_runtime().fill_bytes(p, 0, sizeof(T) * size_t(n));
}

// Host memory to / from memory on the current device (a memcpy on the CPU).
template <typename T>
void upload_values(T* dst, const T* host, int64_t n) {
  if (n > 0) copy_bytes(dst, current_device(), host, Device::CPU, sizeof(T) * size_t(n));
}
template <typename T>
void download_values(T* host, const T* src, int64_t n) {
  if (n > 0) copy_bytes(host, Device::CPU, src, current_device(), sizeof(T) * size_t(n));
}

}  // namespace pydl

// pydl._cuda's DeviceRuntime (core/device.h): allocation, copies and synchronisation of device
// memory through the CUDA runtime, handed to pydl._core at import (module.cc); and what the
// module reports about the machine (how many devices, or why none can be used).
#pragma once
#include <optional>
#include <string>

#include "core/device.h"

namespace pydl::cuda {

// The table set into pydl._core's seam. Lives as long as the process.
const DeviceRuntime& runtime();

// Devices the CUDA runtime sees: 0 when there is no driver or no GPU (never raises).
int device_count_or_zero();
// Why no device can be used (no driver, a driver too old for this runtime, no GPU), or none.
std::optional<std::string> driver_error();

// Makes `ordinal` the calling thread's current device for the scope's lifetime, then restores
// the previous one (the pydl.cuda queries must not move the caller's thread to another device).
class OrdinalScope {
 public:
  explicit OrdinalScope(int ordinal);
  ~OrdinalScope();
  OrdinalScope(const OrdinalScope&) = delete;
  OrdinalScope& operator=(const OrdinalScope&) = delete;

 private:
  int saved_ = -1;
};

}  // namespace pydl::cuda

// Counter-based random numbers (the same on the CPU and in CUDA kernels): every draw is a pure function of (seed, stream, counter),
// so results never depend on thread count or on the order in which threads run.
// The mixing function is SplitMix64's finaliser applied twice.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace pydl {

PYDL_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct CounterRng {
  uint64_t key;
  PYDL_HOST_DEVICE CounterRng(uint64_t seed, uint64_t stream) : key(mix64(mix64(seed) ^ (stream * 0xd1b54a32d192ed03ULL))) {}

  PYDL_HOST_DEVICE uint64_t bits(uint64_t counter) const { return mix64(key ^ mix64(counter)); }
  // Uniform in [0, 1) with 24 random bits: exact in float.
  PYDL_HOST_DEVICE float uniform(uint64_t counter) const { return static_cast<float>(bits(counter) >> 40) * 0x1.0p-24f; }
  // Uniform in [0, 1) with 53 random bits.
  PYDL_HOST_DEVICE double uniform_double(uint64_t counter) const {
    return static_cast<double>(bits(counter) >> 11) * 0x1.0p-53;
  }
  // Unbiased enough for shuffling (n << 2^64): multiply-shift.
  uint64_t below(uint64_t counter, uint64_t n) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(bits(counter)) * n) >> 64);
  }
};

}  // namespace pydl

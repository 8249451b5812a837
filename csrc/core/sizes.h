// Size arithmetic that cannot overflow. Every product of sizes that come from the user
// (shapes, layer configs, batch sizes, files) goes through these helpers, so that a forged or
// absurd size becomes a ValueError naming its owner, never a wrapped-around allocation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pydl {

// No tensor, buffer or parameter count may exceed this many values (2^48, a petabyte of
// floats): far beyond any real model, far below where int64 products wrap.
constexpr int64_t kMaxElements = int64_t(1) << 48;

// a * b for sizes a, b >= 0; throws ValueError naming `owner` on overflow or above kMaxElements.
int64_t checked_mul(int64_t a, int64_t b, const std::string& owner);
// a + b, same rules.
int64_t checked_add(int64_t a, int64_t b, const std::string& owner);
// The product of dims (each >= 0), same rules; the product of the nonzero dims must fit as well,
// so that every partial product of them does.
int64_t checked_product(const std::vector<int64_t>& dims, const std::string& owner);

// Bytes of physical memory on this machine (0 when unknown).
uint64_t physical_memory_bytes();
// "1.5 GiB"
std::string format_bytes(double bytes);
// Throws MemoryError (naming owner) when `bytes` exceeds the machine's physical memory: such
// an allocation can only fail, or succeed and get the process killed when it is touched.
void check_fits_in_memory(uint64_t bytes, const std::string& owner);

}  // namespace pydl

#include "core/sizes.h"

#include <unistd.h>

#include <cstdio>

#include "core/errors.h"

namespace pydl {
namespace {

[[noreturn]] void too_large(int64_t a, const char* op, int64_t b, const std::string& owner) {
  throw ValueError(owner + ": size " + std::to_string(a) + " " + op + " " + std::to_string(b) +
                   " is beyond the limit of 2^48 values (or negative)");
}

}  // namespace

int64_t checked_mul(int64_t a, int64_t b, const std::string& owner) {
  if (a < 0 || b < 0) too_large(a, "x", b, owner);
  if (a == 0 || b == 0) return 0;
  if (a > kMaxElements / b) too_large(a, "x", b, owner);
  return a * b;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& owner) {
  if (a < 0 || b < 0 || a > kMaxElements - b) too_large(a, "+", b, owner);
  return a + b;
}

int64_t checked_product(const std::vector<int64_t>& dims, const std::string& owner) {
  // The nonzero dims' product must fit too, so that no partial product a caller forms
  // (h * w * c of a batch of zero images) can overflow.
  int64_t n = 1, nonzero = 1;
  for (int64_t d : dims) {
    n = checked_mul(n, d, owner);
    if (d != 0) nonzero = checked_mul(nonzero, d, owner);
  }
  return n;
}

uint64_t physical_memory_bytes() {
  static const uint64_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : uint64_t(0);
  }();
  return bytes;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) { bytes /= 1024.0; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", bytes, units[u]);
  return buf;
}

void check_fits_in_memory(uint64_t bytes, const std::string& owner) {
  const uint64_t mem = physical_memory_bytes();
  if (mem && bytes > mem)
    throw MemoryError(owner + ": needs " + format_bytes(double(bytes)) + ", more than this machine's " +
                      format_bytes(double(mem)) + " of memory");
}

}  // namespace pydl

// The small shape helpers every layer uses.
#include "core/errors.h"
#include "core/sizes.h"
#include "nn/layer.h"

namespace pydl {

std::string shape_str(const Shape& s) {
  std::string out = "(None";
  for (int64_t d : s) out += ", " + std::to_string(d);
  return out + ")";
}

int64_t shape_size(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || (d > 0 && n > kMaxElements / d))
      throw ValueError("shape " + shape_str(s) + ": more than 2^48 values per sample (or a negative size)");
    n *= d;
  }
  return n;
}

}  // namespace pydl

#include "nn/weight_options.h"

#include <cmath>

#include "core/errors.h"
#include "nn/initializers.h"

namespace pydl {

WeightOptions WeightOptions::parse(const LayerConfig& c, const std::string& prefix, Init dflt) {
  WeightOptions o;
  const std::string key = prefix + "_initializer";
  o.init = c.holds_string(key) ? parse_init(c.get_string(key), c.label() + " " + key) : dflt;
  if (!c.holds_string(key)) c.get_string(key, "");  // None or absent: the default; anything else is refused
  for (const char* which : {"l1", "l2"}) {
    const std::string k = prefix + "_" + which;
    const double v = c.get_double(k, 0.0);
    if (!(v >= 0.0) || !std::isfinite(v))
      throw ValueError(c.label() + ": " + k + " expected a finite factor >= 0, got " + std::to_string(v));
    (which[1] == '1' ? o.l1 : o.l2) = v;
  }
  return o;
}

}  // namespace pydl

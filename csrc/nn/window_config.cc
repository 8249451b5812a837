#include "nn/window_config.h"

#include <tuple>

#include "core/errors.h"

namespace pydl {
namespace {

// A (first, second) pair from a 2-entry int list, or dflt when the key is absent.
std::pair<int64_t, int64_t> pair_of(const LayerConfig& c, const std::string& key, int64_t dflt) {
  const LayerConfig::IntList v = c.get_int_list(key, {dflt, dflt});
  if (v.size() != 2)
    throw ValueError(c.label() + ": expected 2 values for " + key + ", got " + LayerConfig::repr(v));
  return {v[0], v[1]};
}

}  // namespace

WindowConfig parse_conv_window(const LayerConfig& c) {
  WindowConfig w;
  std::tie(w.kh, w.kw) = pair_of(c, "kernel_size", 1);
  std::tie(w.sh, w.sw) = pair_of(c, "strides", 1);
  if (c.holds_string("padding")) {
    w.padding = c.get_string("padding");
  } else if (!c.get_int_list("padding", {}).empty()) {
    w.padding = "explicit";
    std::tie(w.ph, w.pw) = pair_of(c, "padding", 0);
  }
  std::tie(w.dh, w.dw) = pair_of(c, "dilation_rate", 1);
  return w;
}

WindowConfig parse_pool_window(const LayerConfig& c) {
  WindowConfig w;
  std::tie(w.kh, w.kw) = pair_of(c, "pool_size", 2);
  // Pools default to non-overlapping windows (strides = pool_size).
  if (c.get_int_list("strides", {}).empty()) w.sh = w.kh, w.sw = w.kw;
  else std::tie(w.sh, w.sw) = pair_of(c, "strides", 1);
  w.padding = c.get_string("padding", "valid");
  if (w.padding != "valid" && w.padding != "same")
    throw ValueError(c.label() + ": padding must be 'valid' or 'same', got '" + w.padding + "'");
  return w;
}

void require_images(const Layer& l, const Shape& in) {
  if (in.size() != 3)
    throw ValueError(l.label() + ": expected images (None, height, width, channels), got " + shape_str(in));
}

Conv2dArgs window_args(const Layer& l, const WindowConfig& w, const Shape& in, int64_t filters) {
  return conv2d_args(in[0], in[1], in[2], filters, w.kh, w.kw, w.sh, w.sw, w.dh, w.dw, w.padding, w.ph, w.pw,
                     l.label());
}

}  // namespace pydl

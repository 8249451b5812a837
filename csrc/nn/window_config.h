// The window geometry Conv2D and the 2-D pools share: size, strides, dilation and padding,
// parsed once from the layer's config in its constructor and turned into Conv2dArgs at build
// time, when the input shape is known.
#pragma once
#include <string>

#include "kernels/conv2d.h"
#include "nn/layer.h"

namespace pydl {

struct WindowConfig {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  std::string padding = "valid";  // "valid", "same" or "explicit" (ph, pw)
  int64_t ph = 0, pw = 0;
};

// Conv2D: kernel_size, strides (1), padding (a string or a (ph, pw) list), dilation_rate (1).
WindowConfig parse_conv_window(const LayerConfig& c);
// Pools: pool_size (2), strides (None: pool_size), padding ('valid' or 'same').
WindowConfig parse_pool_window(const LayerConfig& c);

// "Conv2D 'c': expected images (None, height, width, channels), got (None, 64)".
void require_images(const Layer& l, const Shape& in);
Conv2dArgs window_args(const Layer& l, const WindowConfig& w, const Shape& in, int64_t filters);

}  // namespace pydl

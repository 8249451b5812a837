// Conv2D over channels-last images: kernel (kh, kw, c_in, filters), bias (filters,).
// Config: filters, kernel_size, strides, padding, dilation_rate, activation, use_bias, and per
// weight its initializer and regularizer factors (nn/weight_options.h): kernel_*, bias_*.
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/conv2d.h"
#include "nn/image_conv.h"
#include "nn/layer_registry.h"
#include "nn/weight_options.h"
#include "nn/window_config.h"

namespace pydl {
namespace {

class Conv2DLayer : public ImageConvLayer {
 public:
  explicit Conv2DLayer(const LayerConfig& c)
      : ImageConvLayer(c, parse_activation(c.get_string("activation", "linear")), c.get_bool("use_bias", true)),
        filters_(c.get_int("filters")), window_(parse_conv_window(c)), kernel_(WeightOptions::parse(c, "kernel", Init::GlorotUniform)), bias_(WeightOptions::parse(c, "bias", Init::Zeros)) {
    if (filters_ < 1) throw ValueError(label() + ": expected filters >= 1, got " + std::to_string(filters_));
  }

  Shape build(const Shape& in, int index) override {
    require_images(*this, in);
    input_ = in;
    index_ = index;
    args_ = window_args(*this, window_, in, filters_);
    output_ = {args_.oh, args_.ow, filters_};
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    const int64_t area = args_.kh * args_.kw;
    std::vector<ParamSpec> p{kernel_.apply({"kernel", {args_.kh, args_.kw, args_.c, args_.f}, Init::GlorotUniform,
                                            area * args_.c, area * args_.f})};
    if (use_bias_) p.push_back(bias_.apply({"bias", {args_.f}, Init::Zeros, 0, 0}));
    return p;
  }

 private:
  int64_t filters_;
  WindowConfig window_;
  WeightOptions kernel_, bias_;
};

PYDL_REGISTER_LAYER("conv2d", "Conv2D", construct<Conv2DLayer>);

}  // namespace
}  // namespace pydl

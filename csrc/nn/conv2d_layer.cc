// Conv2D over channels-last images: kernel (kh, kw, c_in, filters), bias (filters,).
// Config: filters, kernel_size, strides, padding, dilation_rate, activation, use_bias, and per
// weight its initializer and regularizer factors (nn/weight_options.h): kernel_*, bias_*.
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/conv2d.h"
#include "nn/layer_registry.h"
#include "nn/weight_options.h"
#include "nn/window_config.h"

namespace pydl {
namespace {

class Conv2DLayer : public Layer {
 public:
  explicit Conv2DLayer(const LayerConfig& c)
      : Layer(c), filters_(c.get_int("filters")), window_(parse_conv_window(c)),
        act_(parse_activation(c.get_string("activation", "linear"))), use_bias_(c.get_bool("use_bias", true)),
        kernel_(WeightOptions::parse(c, "kernel", Init::GlorotUniform)), bias_(WeightOptions::parse(c, "bias", Init::Zeros)) {
    if (filters_ < 1) throw ValueError(label() + ": expected filters >= 1, got " + std::to_string(filters_));
  }
  // dW needs x; act'(.) needs y (GELU keeps its own pre-activation z_).
  bool backward_reads_output() const override { return act_ != Activation::Linear && act_ != Activation::GELU; }

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

  void plan(int64_t max_batch) override {
    Conv2dArgs a = args_;
    a.n = max_batch;
    cols_.resize(a.workspace_size());
    reduce_.resize(conv2d_reduce_workspace(a));
    if (activation_needs_input(act_)) z_.resize(max_batch * shape_size(output_));
  }

  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    real* z = s.backward && activation_needs_input(act_) ? z_.data() : nullptr;
    conv2d_forward<real>(y.data, z, x.data, param(0), use_bias_ ? param(1) : nullptr, act_, a, cols_.data());
  }

  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real> y) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    conv2d_backward<real>(dx.data, grad(0), use_bias_ ? grad(1) : nullptr, dy.data, x.data, y.data,
                           activation_needs_input(act_) ? z_.data() : nullptr, param(0), act_, a, cols_.data(),
                           reduce_.data());
  }

 private:
  int64_t filters_;
  WindowConfig window_;
  Activation act_;
  bool use_bias_;
  WeightOptions kernel_, bias_;
  Conv2dArgs args_;
  Buffer<real> cols_, z_;
  Buffer<double> reduce_;
};

PYDL_REGISTER_LAYER("conv2d", "Conv2D", construct<Conv2DLayer>);

}  // namespace
}  // namespace pydl

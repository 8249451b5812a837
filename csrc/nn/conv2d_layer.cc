// Conv2D over channels-last images: kernel (kh, kw, c_in, filters), bias (filters,).
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/conv2d.h"
#include "nn/layers.h"

namespace pydl {

// "Conv2D 'c': expected images (None, height, width, channels), got (None, 64)".
void require_images(const Layer& l, const Shape& in) {
  if (in.size() != 3)
    throw ValueError(l.label() + ": expected images (None, height, width, channels), got " + shape_str(in));
}

// Window geometry of a layer's config: kernel/pool size, strides, dilation, padding.
Conv2dArgs window_args(const Layer& l, const Shape& in, int64_t filters, bool pool) {
  const LayerConfig& c = l.config();
  auto pair = [&](const std::vector<int64_t>& v, int64_t dflt, const char* what) {
    if (v.empty()) return std::pair<int64_t, int64_t>{dflt, dflt};
    if (v.size() != 2) throw ValueError(l.label() + ": expected 2 values for " + what);
    return std::pair<int64_t, int64_t>{v[0], v[1]};
  };
  auto [kh, kw] = pair(c.kernel_size, pool ? 2 : 1, pool ? "pool_size" : "kernel_size");
  // Pools default to non-overlapping windows (strides = pool_size), convolutions to 1.
  const auto [sh, sw] = c.strides.empty() ? std::pair<int64_t, int64_t>{pool ? kh : 1, pool ? kw : 1}
                                          : pair(c.strides, 1, "strides");
  auto [dh, dw] = pair(c.dilation, 1, "dilation_rate");
  auto [ph, pw] = pair(c.pad, 0, "padding");
  return conv2d_args(in[0], in[1], in[2], filters, kh, kw, sh, sw, dh, dw, c.padding, ph, pw, l.label());
}

namespace {

class Conv2DLayer : public Layer {
 public:
  explicit Conv2DLayer(LayerConfig c) : Layer(std::move(c)), act_(parse_activation(config_.activation)) {
    if (config_.units < 1)
      throw ValueError(label() + ": expected filters >= 1, got " + std::to_string(config_.units));
  }
  const char* kind() const override { return "Conv2D"; }
  // dW needs x; act'(.) needs y (GELU keeps its own pre-activation z_).
  bool backward_reads_output() const override { return act_ != Activation::Linear && act_ != Activation::GELU; }

  Shape build(const Shape& in, int index) override {
    require_images(*this, in);
    input_ = in;
    index_ = index;
    args_ = window_args(*this, in, config_.units, false);
    output_ = {args_.oh, args_.ow, config_.units};
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    const int64_t area = args_.kh * args_.kw;
    std::vector<ParamSpec> p{{"kernel", {args_.kh, args_.kw, args_.c, args_.f}, Init::GlorotUniform,
                              area * args_.c, area * args_.f}};
    if (config_.use_bias) p.push_back({"bias", {args_.f}, Init::Zeros, 0, 0});
    return p;
  }

  void plan(int64_t max_batch) override {
    Conv2dArgs a = args_;
    a.n = max_batch;
    cols_.resize(a.workspace_size());
    reduce_.resize(conv2d_reduce_workspace(a));
    if (activation_needs_input(act_)) z_.resize(max_batch * shape_size(output_));
  }

  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo& s) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    float* z = s.training && activation_needs_input(act_) ? z_.data() : nullptr;
    conv2d_forward<float>(y.data, z, x.data, param(0), bias(), act_, a, cols_.data());
  }

  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x, Matrix<const float> y) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    float* db = config_.use_bias ? grad(1) : nullptr;
    conv2d_backward<float>(dx.data, grad(0), db, dy.data, x.data, y.data,
                           activation_needs_input(act_) ? z_.data() : nullptr, param(0), act_, a, cols_.data(),
                           reduce_.data());
  }

 private:
  const float* bias() const { return config_.use_bias ? param(1) : nullptr; }

  Activation act_;
  Conv2dArgs args_;
  Buffer<float> cols_, z_;
  Buffer<double> reduce_;
};

}  // namespace

std::unique_ptr<Layer> make_conv2d_layer(const LayerConfig& c) { return std::make_unique<Conv2DLayer>(c); }

}  // namespace pydl

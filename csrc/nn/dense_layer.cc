// Dense: y = act(x @ kernel + bias), kernel (in, units), bias (units,).
// Config: units, activation (default linear), use_bias (default true), and per weight its
// initializer and regularizer factors (nn/weight_options.h): kernel_*, bias_*.
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/dense.h"
#include "nn/layer_registry.h"
#include "nn/weight_options.h"

namespace pydl {
namespace {

class DenseLayer : public Layer {
 public:
  explicit DenseLayer(const LayerConfig& c)
      : Layer(c), units_(c.get_int("units")), act_(parse_activation(c.get_string("activation", "linear"))),
        use_bias_(c.get_bool("use_bias", true)), kernel_(WeightOptions::parse(c, "kernel", Init::GlorotUniform)),
        bias_(WeightOptions::parse(c, "bias", Init::Zeros)) {
    if (units_ < 1) throw ValueError(label() + ": expected units >= 1, got " + std::to_string(units_));
  }
  // dW needs x; act'(.) needs y (GELU keeps its own pre-activation z_).
  bool backward_reads_output() const override { return act_ != Activation::Linear && act_ != Activation::GELU; }

  Shape build(const Shape& in, int index) override {
    if (in.size() != 1)
      throw ValueError(label() + ": expected a flat input (None, features), got " + shape_str(in) +
                       "; add a Flatten layer before it");
    input_ = in;
    index_ = index;
    output_ = {units_};
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> p{kernel_.apply({"kernel", {input_[0], units_}, Init::GlorotUniform, input_[0], units_})};
    if (use_bias_) p.push_back(bias_.apply({"bias", {units_}, Init::Zeros, 0, 0}));
    return p;
  }

  void plan(int64_t max_batch) override {
    if (activation_needs_input(act_)) z_.resize(max_batch * units_);
  }

  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    Matrix<real> z;
    if (s.backward && activation_needs_input(act_)) z = Matrix<real>(z_.data(), x.rows, units_);
    dense_forward<real>(y, z, x, kernel(), bias(), act_);
  }

  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x,
                Matrix<const real> y) override {
    Matrix<const real> z(activation_needs_input(act_) ? z_.data() : nullptr, x.rows, units_);
    Matrix<real> dw(grad(0), input_[0], units_);
    dense_backward<real>(dx, dw, use_bias_ ? grad(1) : nullptr, dy, x, y, z, kernel(), act_);
  }

 private:
  Matrix<const real> kernel() const { return Matrix<const real>(param(0), input_[0], units_); }
  const real* bias() const { return use_bias_ ? param(1) : nullptr; }

  int64_t units_;
  Activation act_;
  bool use_bias_;
  WeightOptions kernel_, bias_;
  Buffer<real> z_;  // pre-activations, kept only when the activation's gradient needs them
};

PYDL_REGISTER_LAYER("dense", "Dense", construct<DenseLayer>);

}  // namespace
}  // namespace pydl

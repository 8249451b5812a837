// Dense: y = act(x @ kernel + bias), kernel (in, units), bias (units,), over the last axis as
// in Keras: an input (..., in) is (rows of every leading axis, in), so (N, T, D) is N * T rows.
// A padding mask passes through when the steps axis is kept (rank >= 2).
// Config: units, activation (default linear), use_bias (default true), and per weight its
// initializer and regularizer factors (nn/weight_options.h): kernel_*, bias_*.
#include "core/buffer.h"
#include "core/errors.h"
#include "core/sizes.h"
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
  bool passes_mask() const override { return input_.size() >= 2; }

  Shape build(const Shape& in, int index) override {
    if (in.empty())
      throw ValueError(label() + ": expected an input with a features axis (None, ..., features), got " +
                       shape_str(in));
    input_ = in;
    index_ = index;
    features_ = in.back();
    steps_ = shape_size(in) / features_;
    output_ = in;
    output_.back() = units_;
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> p{kernel_.apply({"kernel", {features_, units_}, Init::GlorotUniform, features_, units_})};
    if (use_bias_) p.push_back(bias_.apply({"bias", {units_}, Init::Zeros, 0, 0}));
    return p;
  }

  void plan(int64_t max_batch) override {
    if (activation_needs_input(act_)) z_.resize(checked_mul(max_batch * steps_, units_, label()));
  }

  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    const int64_t rows = x.rows * steps_;
    Matrix<real> z;
    if (s.backward && activation_needs_input(act_)) z = Matrix<real>(z_.data(), rows, units_);
    dense_forward<real>(rows_of(y, units_), z, rows_of(x, features_), kernel(), bias(), act_);
  }

  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x,
                Matrix<const real> y) override {
    const int64_t rows = x.rows * steps_;
    Matrix<const real> z(activation_needs_input(act_) ? z_.data() : nullptr, rows, units_);
    Matrix<real> dw(grad(0), features_, units_);
    dense_backward<real>(rows_of(dx, features_), dw, use_bias_ ? grad(1) : nullptr, rows_of(dy, units_),
                          rows_of(x, features_), rows_of(y, units_), z, kernel(), act_);
  }

 private:
  // (batch, steps * cols) viewed as (batch * steps, cols); a null matrix stays null.
  template <typename T>
  Matrix<T> rows_of(Matrix<T> m, int64_t cols) const { return Matrix<T>(m.data, m.rows * steps_, cols); }
  Matrix<const real> kernel() const { return Matrix<const real>(param(0), features_, units_); }
  const real* bias() const { return use_bias_ ? param(1) : nullptr; }

  int64_t units_;
  int64_t features_ = 0, steps_ = 1;  // the last axis, and the rows per sample (leading axes)
  Activation act_;
  bool use_bias_;
  WeightOptions kernel_, bias_;
  Buffer<real> z_;  // pre-activations, kept only when the activation's gradient needs them
};

PYDL_REGISTER_LAYER("dense", "Dense", construct<DenseLayer>);

}  // namespace
}  // namespace pydl

// Dense: y = act(x @ kernel + bias), kernel (in, units), bias (units,), over the last axis as
// in Keras: an input (..., in) is (rows of every leading axis, in), so (N, T, D) is N * T rows.
// A padding mask passes through when the steps axis is kept (rank >= 2).
// Config: units, activation (default linear), use_bias (default true).
#include "core/buffer.h"
#include "core/errors.h"
#include "core/sizes.h"
#include "kernels/dense.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class DenseLayer : public Layer {
 public:
  explicit DenseLayer(const LayerConfig& c)
      : Layer(c), units_(c.get_int("units")), act_(parse_activation(c.get_string("activation", "linear"))),
        use_bias_(c.get_bool("use_bias", true)) {
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
    std::vector<ParamSpec> p{{"kernel", {features_, units_}, Init::GlorotUniform, features_, units_}};
    if (use_bias_) p.push_back({"bias", {units_}, Init::Zeros, 0, 0});
    return p;
  }

  void plan(int64_t max_batch) override {
    if (activation_needs_input(act_)) z_.resize(checked_mul(max_batch * steps_, units_, label()));
  }

  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo&) override {
    const int64_t rows = x.rows * steps_;
    // Kept in inference mode too: loss_and_gradients(training=False) runs backward after it.
    Matrix<float> z;
    if (activation_needs_input(act_)) z = Matrix<float>(z_.data(), rows, units_);
    dense_forward<float>(rows_of(y, units_), z, rows_of(x, features_), kernel(), bias(), act_);
  }

  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x,
                Matrix<const float> y) override {
    const int64_t rows = x.rows * steps_;
    Matrix<const float> z(activation_needs_input(act_) ? z_.data() : nullptr, rows, units_);
    Matrix<float> dw(grad(0), features_, units_);
    dense_backward<float>(rows_of(dx, features_), dw, use_bias_ ? grad(1) : nullptr, rows_of(dy, units_),
                          rows_of(x, features_), rows_of(y, units_), z, kernel(), act_);
  }

 private:
  // (batch, steps * cols) viewed as (batch * steps, cols); a null matrix stays null.
  template <typename T>
  Matrix<T> rows_of(Matrix<T> m, int64_t cols) const { return Matrix<T>(m.data, m.rows * steps_, cols); }
  Matrix<const float> kernel() const { return Matrix<const float>(param(0), features_, units_); }
  const float* bias() const { return use_bias_ ? param(1) : nullptr; }

  int64_t units_;
  int64_t features_ = 0, steps_ = 1;  // the last axis, and the rows per sample (leading axes)
  Activation act_;
  bool use_bias_;
  Buffer<float> z_;  // pre-activations, kept only when the activation's gradient needs them
};

PYDL_REGISTER_LAYER("dense", "Dense", construct<DenseLayer>);

}  // namespace
}  // namespace pydl

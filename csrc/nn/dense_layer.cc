// Dense: y = act(x @ kernel + bias), kernel (in, units), bias (units,).
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/dense.h"
#include "nn/layer.h"
#include "nn/layers.h"

namespace pydl {
namespace {

class DenseLayer : public Layer {
 public:
  explicit DenseLayer(LayerConfig c) : Layer(std::move(c)), act_(parse_activation(config_.activation)) {
    if (config_.units < 1)
      throw ValueError(label() + ": expected units >= 1, got " + std::to_string(config_.units));
  }
  const char* kind() const override { return "Dense"; }
  // dW needs x; act'(.) needs y (GELU keeps its own pre-activation z_).
  bool backward_reads_output() const override { return act_ != Activation::Linear && act_ != Activation::GELU; }

  Shape build(const Shape& in, int index) override {
    if (in.size() != 1)
      throw ValueError(label() + ": expected a flat input (None, features), got " + shape_str(in) +
                       "; add a Flatten layer before it");
    input_ = in;
    index_ = index;
    output_ = {config_.units};
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> p{{"kernel", {input_[0], config_.units}, Init::GlorotUniform, input_[0], config_.units}};
    if (config_.use_bias) p.push_back({"bias", {config_.units}, Init::Zeros, 0, 0});
    return p;
  }

  void plan(int64_t max_batch) override {
    if (activation_needs_input(act_)) z_.resize(max_batch * config_.units);
  }

  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo& s) override {
    Matrix<float> z;
    if (s.training && activation_needs_input(act_)) z = Matrix<float>(z_.data(), x.rows, config_.units);
    dense_forward<float>(y, z, x, kernel(), bias(), act_);
  }

  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x,
                Matrix<const float> y) override {
    Matrix<const float> z(activation_needs_input(act_) ? z_.data() : nullptr, x.rows, config_.units);
    Matrix<float> dw(grad(0), input_[0], config_.units);
    float* db = config_.use_bias ? grad(1) : nullptr;
    dense_backward<float>(dx, dw, db, dy, x, y, z, kernel(), act_);
  }

 private:
  Matrix<const float> kernel() const { return Matrix<const float>(param(0), input_[0], config_.units); }
  const float* bias() const { return config_.use_bias ? param(1) : nullptr; }

  Activation act_;
  Buffer<float> z_;  // pre-activations, kept only when the activation's gradient needs them
};

}  // namespace

std::unique_ptr<Layer> make_dense_layer(const LayerConfig& c) { return std::make_unique<DenseLayer>(c); }

}  // namespace pydl

// Activation: a standalone activation function over the whole per-sample tensor
// (softmax over the last axis). Config: activation.
#include "core/errors.h"
#include "kernels/activation.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(const LayerConfig& c) : Layer(c), act_(parse_activation(c.get_string("activation"))) {}
  bool backward_reads_input() const override { return act_ == Activation::GELU; }
  bool backward_reads_output() const override { return act_ != Activation::Linear && act_ != Activation::GELU; }
  std::string fusable_activation() const override {
    return act_ == Activation::Sigmoid ? "sigmoid" : act_ == Activation::Softmax ? "softmax" : "";
  }
  bool passes_mask() const override { return true; }

  Shape build(const Shape& in, int index) override {
    input_ = output_ = in;
    index_ = index;
    return output_;
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    activation_forward<real>(rows_of_last_axis(y), rows_of_last_axis(x), act_);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x,
                Matrix<const real> y) override {
    if (!dx.data) return;
    activation_backward<real>(rows_of_last_axis(dx), rows_of_last_axis(Matrix<const real>(dy)),
                               rows_of_last_axis(x), rows_of_last_axis(y), act_);
  }

 private:
  // Softmax normalises over the last axis: view (batch, ..., last) as (batch * ..., last).
  template <typename T>
  Matrix<T> rows_of_last_axis(Matrix<T> m) const {
    const int64_t last = input_.empty() ? 1 : input_.back();
    return Matrix<T>(m.data, m.size() / last, last);
  }
  Activation act_;
};

PYDL_REGISTER_LAYER("activation", "Activation", construct<ActivationLayer>);

}  // namespace
}  // namespace pydl

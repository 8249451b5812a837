// Flatten: (None, d1, d2, ...) -> (None, d1 * d2 * ...). Row-major data is already flat, so
// the output aliases the input: no copy forward or backward.
#include "nn/layers.h"

namespace pydl {
namespace {

class FlattenLayer : public Layer {
 public:
  using Layer::Layer;
  const char* kind() const override { return "Flatten"; }
  Shape build(const Shape& in, int index) override {
    input_ = in;
    index_ = index;
    output_ = {shape_size(in)};
    return output_;
  }
  bool output_aliases_input() const override { return true; }
  void forward(Matrix<float>, Matrix<const float>, const StepInfo&) override {}
  void backward(Matrix<float>, Matrix<float>, Matrix<const float>, Matrix<const float>) override {}
};

}  // namespace

std::unique_ptr<Layer> make_flatten_layer(const LayerConfig& c) { return std::make_unique<FlattenLayer>(c); }

}  // namespace pydl

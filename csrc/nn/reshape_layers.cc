// Flatten and Reshape: row-major data keeps its order, so the output aliases the input:
// no copy forward or backward. Reshape's config: target_shape (one entry may be -1).
#include "core/errors.h"
#include "core/sizes.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class AliasLayer : public Layer {
 public:
  using Layer::Layer;
  bool output_aliases_input() const override { return true; }
  void forward(Matrix<real>, Matrix<const real>, const StepInfo&) override {}
  void backward(Matrix<real>, Matrix<real>, Matrix<const real>, Matrix<const real>) override {}
};

class FlattenLayer : public AliasLayer {
 public:
  using AliasLayer::AliasLayer;
  Shape build(const Shape& in, int index) override {
    input_ = in;
    index_ = index;
    output_ = {shape_size(in)};
    return output_;
  }
};

class ReshapeLayer : public AliasLayer {
 public:
  explicit ReshapeLayer(const LayerConfig& c) : AliasLayer(c), target_(c.get_int_list("target_shape")) {}
  Shape build(const Shape& in, int index) override {
    input_ = in;
    index_ = index;
    Shape out = target_;
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == -1 && unknown < 0) unknown = int64_t(i);
      else if (out[i] < 1) throw ValueError(label() + ": target_shape entries must be positive (one may be -1), got " + shape_str(out));
      else known = checked_mul(known, out[i], label() + " target_shape " + shape_str(out));
    }
    if (out.empty()) throw ValueError(label() + ": target_shape must not be empty");
    const int64_t size = shape_size(in);
    if (unknown >= 0) {
      if (size % known != 0)
        throw ValueError(label() + ": cannot reshape " + shape_str(in) + " to " + shape_str(out));
      out[unknown] = size / known;
    }
    if (shape_size(out) != size)
      throw ValueError(label() + ": cannot reshape " + shape_str(in) + " (" + std::to_string(size) +
                       " values) to " + shape_str(out));
    output_ = out;
    return output_;
  }

 private:
  Shape target_;
};

PYDL_REGISTER_LAYER("flatten", "Flatten", construct<FlattenLayer>);
PYDL_REGISTER_LAYER("reshape", "Reshape", construct<ReshapeLayer>);

}  // namespace

}  // namespace pydl

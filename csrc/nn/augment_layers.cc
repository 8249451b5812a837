// The image transforms as graph layers (Keras' preprocessing layers): RandomFlip,
// RandomRotation, RandomCrop, RandomZoom, RandomBrightness, RandomContrast, Resize, CenterCrop,
// one class over the kernels of kernels/augment.h. The random ones act in training only and
// are the identity in evaluate/predict, except RandomCrop, which then takes the centre crop
// (the output shape never changes); Resize and CenterCrop always apply.
// Sample i's draws are a pure function of (seed, step, global row): the layer's own seed when
// its config has one, else the fit's; so a seed gives the same augmentation whatever the
// thread count or the data-parallel split. Backward is the kernels' exact adjoint.
// Config: name, seed (random ones), and the op's own keys (the Python ops() dict).
#include <algorithm>

#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/augment.h"
#include "nn/layer_registry.h"
#include "nn/window_config.h"

namespace pydl {
namespace {

constexpr uint64_t kAugmentLayerStream = 0xa06e1a7e0000ULL;

// Reads exactly the keys of `kind` (the registry rejects any other key).
AugmentOp parse_op(const LayerConfig& c, AugmentOp::Kind kind) {
  AugmentOp op;
  op.kind = kind;
  // An explicit [range_low, range_high] or, for Rotate, the symmetric bound `degrees`.
  auto ranged = [&](double* symmetric, const char* key) {
    op.range_set = c.get_bool("range_set");
    if (op.range_set) {
      op.range_low = c.get_double("range_low");
      op.range_high = c.get_double("range_high");
      if (!(op.range_low <= op.range_high))
        throw ValueError(c.label() + ": expected range_low <= range_high");
    } else if (symmetric) {
      *symmetric = c.get_double(key);
    }
  };
  switch (kind) {
    case AugmentOp::Flip:
      op.horizontal = c.get_bool("horizontal");
      op.vertical = c.get_bool("vertical");
      break;
    case AugmentOp::Rotate:
      ranged(&op.degrees, "degrees");
      op.fill = c.get_double("fill");
      break;
    case AugmentOp::Zoom:
      op.factor = c.get_double("factor");  // the symmetric range, unless range_set (RandomZoom's scale)
      ranged(nullptr, "");
      op.fill = c.get_double("fill");
      break;
    case AugmentOp::Crop:
      op.padding = c.get_int("padding");
      op.fill = c.get_double("fill");
      [[fallthrough]];
    case AugmentOp::CenterCrop:
    case AugmentOp::Resize:
      op.height = c.get_int("height");
      op.width = c.get_int("width");
      if (kind == AugmentOp::Resize) op.nearest = c.get_bool("nearest");
      break;
    case AugmentOp::Brightness:
    case AugmentOp::Contrast:
      op.factor = c.get_double("factor");
      op.low = c.get_double("low");
      op.high = c.get_double("high");
      if (!(op.low < op.high)) throw ValueError(c.label() + ": expected low < high (value_range)");
      break;
  }
  if (kind != AugmentOp::Resize && kind != AugmentOp::CenterCrop) {
    const int64_t seed = c.get_int("seed", -1);  // None: the fit's seed
    if (seed < -1) throw ValueError(c.label() + ": expected seed >= 0 or None, got " + std::to_string(seed));
    op.seed_set = seed >= 0;
    op.seed = op.seed_set ? uint64_t(seed) : 0;
  }
  return op;
}

class AugmentLayer : public Layer {
 public:
  AugmentLayer(const LayerConfig& c, AugmentOp::Kind kind) : Layer(c), op_(parse_op(c, kind)) {
    random_ = kind != AugmentOp::Resize && kind != AugmentOp::CenterCrop;
    inference_op_ = op_;
    inference_op_.centered = true;  // only Crop reads it
  }
  // Only the clip masks of Brightness and Contrast need the input; no backward reads y.
  bool backward_reads_input() const override {
    return op_.kind == AugmentOp::Brightness || op_.kind == AugmentOp::Contrast;
  }
  bool backward_reads_output() const override { return false; }

  Shape build(const Shape& in, int index) override {
    require_images(*this, in);
    try {
      output_ = augment_output_shape(op_, in);
    } catch (const ValueError& e) {
      throw ValueError(label() + ": " + e.what() + " (input " + shape_str(in) + ")");
    }
    input_ = in;
    index_ = index;
    return output_;
  }
  void plan(int64_t max_batch) override { keys_.resize(std::max<int64_t>(max_batch, 1)); }

  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    mode_ = !random_ ? Mode::Fixed : s.training ? Mode::Random : op_.kind == AugmentOp::Crop ? Mode::Centered
                                                                                             : Mode::Identity;
    if (mode_ == Mode::Identity) {
      augment_identity<real>(y.data, x.data, x.size());
      return;
    }
    // Keys as Dropout's: the step in the high bits, the row of the global batch in the low
    // (written by a kernel: keys_ lives where the graph runs).
    augment_keys(keys_.data(), x.rows, StepClock{s.step, s.step_results}, s.row_offset);
    seed_ = s.seed;
    augment_forward<real>(y.data, x.data, x.rows, input_, active(), seed_, stream(), keys_.data());
  }

  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    if (!dx.data) return;  // at the input: nothing upstream to train
    if (mode_ == Mode::Identity) {
      augment_identity<real>(dx.data, dy.data, dy.size());
      return;
    }
    augment_backward<real>(dx.data, dy.data, x.data, dx.rows, input_, active(), seed_, stream(), keys_.data());
  }

 private:
  enum class Mode { Identity, Random, Centered, Fixed };
  const AugmentOp& active() const { return mode_ == Mode::Centered ? inference_op_ : op_; }
  // A seeded layer draws the same whatever its position in the model; unseeded layers of one
  // model draw independently.
  uint64_t stream() const { return op_.seed_set ? kAugmentLayerStream : kAugmentLayerStream + 1 + uint64_t(index_); }

  AugmentOp op_, inference_op_;
  bool random_ = true;
  Mode mode_ = Mode::Identity;
  uint64_t seed_ = 0;
  Buffer<uint64_t> keys_;
};

PYDL_REGISTER_LAYER("random_flip", "RandomFlip", (construct_with<AugmentLayer, AugmentOp::Flip>));
PYDL_REGISTER_LAYER("random_rotation", "RandomRotation", (construct_with<AugmentLayer, AugmentOp::Rotate>));
PYDL_REGISTER_LAYER("random_crop", "RandomCrop", (construct_with<AugmentLayer, AugmentOp::Crop>));
PYDL_REGISTER_LAYER("random_zoom", "RandomZoom", (construct_with<AugmentLayer, AugmentOp::Zoom>));
PYDL_REGISTER_LAYER("random_brightness", "RandomBrightness", (construct_with<AugmentLayer, AugmentOp::Brightness>));
PYDL_REGISTER_LAYER("random_contrast", "RandomContrast", (construct_with<AugmentLayer, AugmentOp::Contrast>));
PYDL_REGISTER_LAYER("resize", "Resize", (construct_with<AugmentLayer, AugmentOp::Resize>));
PYDL_REGISTER_LAYER("center_crop", "CenterCrop", (construct_with<AugmentLayer, AugmentOp::CenterCrop>));

}  // namespace

}  // namespace pydl

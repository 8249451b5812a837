// Dropout: random zeroing in training, identity in evaluate/predict. Config: rate.
#include <algorithm>

#include "core/buffer.h"
#include "core/device_memory.h"
#include "core/errors.h"
#include "core/rng.h"
#include "kernels/dropout.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(const LayerConfig& c) : Layer(c), rate_(c.get_double("rate")) {
    if (!(rate_ >= 0.0 && rate_ < 1.0))
      throw ValueError(label() + ": expected 0 <= rate < 1, got " + std::to_string(rate_));
  }
  bool backward_reads_input() const override { return false; }  // its own mask
  bool backward_reads_output() const override { return false; }
  bool passes_mask() const override { return true; }

  Shape build(const Shape& in, int index) override {
    input_ = output_ = in;
    index_ = index;
    return output_;
  }
  void plan(int64_t max_batch) override { mask_.resize(max_batch * shape_size(input_)); }

  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    training_ = s.training && rate_ > 0.0;
    if (!training_) {
      copy_values(y.data, x.data, x.size());
      return;
    }
    CounterRng rng(s.seed, 0x5eed0000ULL + uint64_t(index_));
    dropout_forward<real>(y, mask_.data(), x, rate_, rng, StepClock{s.step, s.step_results},
                          uint64_t(s.row_offset * x.cols));
  }

  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real>, Matrix<const real>) override {
    if (!dx.data) return;
    if (!training_) {
      copy_values(dx.data, dy.data, dy.size());
      return;
    }
    dropout_backward<real>(dx, dy, mask_.data(), rate_);
  }

 private:
  double rate_;
  Buffer<uint8_t> mask_;
  bool training_ = false;  // whether the last forward dropped anything
};

PYDL_REGISTER_LAYER("dropout", "Dropout", construct<DropoutLayer>);

}  // namespace

}  // namespace pydl

// Pools over sequences (N, T, C): MaxPool1D and AvgPool1D (pool_size, strides = pool_size by
// default, padding 'valid' or 'same'; the Pool2D kernels over a (1, T) image; padding is
// excluded from the average) and GlobalAvgPool1D / GlobalMaxPool1D (N, T, C) -> (N, C), which
// leave out the steps a padding mask marks as padding (kernels/sequence_pool).
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/pool.h"
#include "kernels/sequence_pool.h"
#include "nn/layer_registry.h"
#include "nn/window_pool.h"

namespace pydl {
namespace {

void require_sequences(const Layer& l, const Shape& in) {
  if (in.size() != 2)
    throw ValueError(l.label() + ": expected sequences (None, steps, channels), got " + shape_str(in));
  if (shape_size(in) > 2147483647)  // argmax offsets are int32
    throw ValueError(l.label() + ": sequences of more than 2^31 - 1 values are not supported, got " + shape_str(in));
}

class Pool1DLayer : public WindowPoolLayer {
 public:
  Pool1DLayer(const LayerConfig& c, bool max)
      : WindowPoolLayer(c, max), size_(c.get_int("pool_size", 2)), stride_(c.get_int("strides", size_)),
        padding_(c.get_string("padding", "valid")) {
    if (size_ < 1) throw ValueError(label() + ": expected pool_size >= 1, got " + std::to_string(size_));
    if (stride_ < 1) throw ValueError(label() + ": expected strides >= 1, got " + std::to_string(stride_));
    if (padding_ != "valid" && padding_ != "same")
      throw ValueError(label() + ": padding must be 'valid' or 'same', got '" + padding_ + "'");
  }

  Shape build(const Shape& in, int index) override {
    require_sequences(*this, in);
    if (padding_ == "valid" && size_ > in[0])
      throw ValueError(label() + ": pool_size " + std::to_string(size_) + " is longer than the input's " +
                       std::to_string(in[0]) + " steps with padding='valid'");
    input_ = in;
    index_ = index;
    args_ = conv2d_args(1, in[0], in[1], in[1], 1, size_, 1, stride_, 1, 1, padding_, 0, 0, label());
    output_ = {args_.ow, in[1]};
    return output_;
  }

 private:
  int64_t size_, stride_;
  std::string padding_;
};

class GlobalPool1DLayer : public Layer {
 public:
  GlobalPool1DLayer(const LayerConfig& c, bool max) : Layer(c), max_(max) {}
  bool backward_reads_input() const override { return false; }  // max: its own argmax
  bool backward_reads_output() const override { return false; }

  Shape build(const Shape& in, int index) override {
    require_sequences(*this, in);
    input_ = in;
    index_ = index;
    output_ = {in[1]};
    return output_;
  }
  void plan(int64_t max_batch) override {
    if (max_) argmax_.resize(max_batch * input_[1]);
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    used_mask_ = mask_;  // backward runs after later forwards may have moved the graph's masks
    if (max_) masked_max_pool1d_forward<real>(y.data, argmax_.data(), x.data, mask_, x.rows, input_[0], input_[1]);
    else masked_avg_pool1d_forward<real>(y.data, x.data, mask_, x.rows, input_[0], input_[1]);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    if (!dx.data) return;
    if (max_) masked_max_pool1d_backward<real>(dx.data, dy.data, argmax_.data(), x.rows, input_[0], input_[1]);
    else masked_avg_pool1d_backward<real>(dx.data, dy.data, used_mask_, x.rows, input_[0], input_[1]);
  }

 private:
  bool max_;
  const uint8_t* used_mask_ = nullptr;
  Buffer<int32_t> argmax_;
};

PYDL_REGISTER_LAYER("max_pool1d", "MaxPool1D", (construct_with<Pool1DLayer, true>));
PYDL_REGISTER_LAYER("avg_pool1d", "AvgPool1D", (construct_with<Pool1DLayer, false>));
PYDL_REGISTER_LAYER("global_max_pool1d", "GlobalMaxPool1D", (construct_with<GlobalPool1DLayer, true>));
PYDL_REGISTER_LAYER("global_avg_pool1d", "GlobalAvgPool1D", (construct_with<GlobalPool1DLayer, false>));

}  // namespace
}  // namespace pydl

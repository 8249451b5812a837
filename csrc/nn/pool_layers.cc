// MaxPool2D, AvgPool2D (padding excluded from the average), GlobalAvgPool2D, GlobalMaxPool2D.
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/pool.h"
#include "nn/layers.h"

namespace pydl {

void require_images(const Layer& l, const Shape& in);
Conv2dArgs window_args(const Layer& l, const Shape& in, int64_t filters, bool pool);

namespace {

// Max pools record argmax offsets within one image as int32.
void require_int32_images(const Layer& l, const Shape& in) {
  if (shape_size(in) > 2147483647)
    throw ValueError(l.label() + ": images of more than 2^31 - 1 values are not supported, got " + shape_str(in));
}

class Pool2DLayer : public Layer {
 public:
  Pool2DLayer(LayerConfig c, bool max) : Layer(std::move(c)), max_(max) {
    if (config_.padding != "valid" && config_.padding != "same")
      throw ValueError(label() + ": padding must be 'valid' or 'same', got '" + config_.padding + "'");
  }
  const char* kind() const override { return max_ ? "MaxPool2D" : "AvgPool2D"; }
  bool backward_reads_input() const override { return false; }  // max: its own argmax
  bool backward_reads_output() const override { return false; }

  Shape build(const Shape& in, int index) override {
    require_images(*this, in);
    if (max_) require_int32_images(*this, in);
    input_ = in;
    index_ = index;
    args_ = window_args(*this, in, in[2], true);
    output_ = {args_.oh, args_.ow, in[2]};
    return output_;
  }
  void plan(int64_t max_batch) override {
    if (max_) argmax_.resize(max_batch * shape_size(output_));
  }
  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo&) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    if (max_) max_pool2d_forward<float>(y.data, argmax_.data(), x.data, a);
    else avg_pool2d_forward<float>(y.data, x.data, a);
  }
  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x, Matrix<const float>) override {
    if (!dx.data) return;
    Conv2dArgs a = args_;
    a.n = x.rows;
    if (max_) max_pool2d_backward<float>(dx.data, dy.data, argmax_.data(), a);
    else avg_pool2d_backward<float>(dx.data, dy.data, a);
  }

 private:
  bool max_;
  Conv2dArgs args_;
  Buffer<int32_t> argmax_;
};

class GlobalPoolLayer : public Layer {
 public:
  GlobalPoolLayer(LayerConfig c, bool max) : Layer(std::move(c)), max_(max) {}
  const char* kind() const override { return max_ ? "GlobalMaxPool2D" : "GlobalAvgPool2D"; }
  bool backward_reads_input() const override { return false; }  // max: its own argmax
  bool backward_reads_output() const override { return false; }

  Shape build(const Shape& in, int index) override {
    require_images(*this, in);
    if (max_) require_int32_images(*this, in);
    input_ = in;
    index_ = index;
    output_ = {in[2]};
    return output_;
  }
  void plan(int64_t max_batch) override {
    if (max_) argmax_.resize(max_batch * input_[2]);
  }
  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo&) override {
    const int64_t p = input_[0] * input_[1], c = input_[2];
    if (max_) global_max_pool_forward<float>(y.data, argmax_.data(), x.data, x.rows, p, c);
    else global_avg_pool_forward<float>(y.data, x.data, x.rows, p, c);
  }
  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x, Matrix<const float>) override {
    if (!dx.data) return;
    const int64_t p = input_[0] * input_[1], c = input_[2];
    if (max_) global_max_pool_backward<float>(dx.data, dy.data, argmax_.data(), x.rows, p, c);
    else global_avg_pool_backward<float>(dx.data, dy.data, x.rows, p, c);
  }

 private:
  bool max_;
  Buffer<int32_t> argmax_;
};

}  // namespace

std::unique_ptr<Layer> make_max_pool2d_layer(const LayerConfig& c) { return std::make_unique<Pool2DLayer>(c, true); }
std::unique_ptr<Layer> make_avg_pool2d_layer(const LayerConfig& c) { return std::make_unique<Pool2DLayer>(c, false); }
std::unique_ptr<Layer> make_global_avg_pool2d_layer(const LayerConfig& c) {
  return std::make_unique<GlobalPoolLayer>(c, false);
}
std::unique_ptr<Layer> make_global_max_pool2d_layer(const LayerConfig& c) {
  return std::make_unique<GlobalPoolLayer>(c, true);
}

}  // namespace pydl

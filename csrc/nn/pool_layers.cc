// MaxPool2D, AvgPool2D (padding excluded from the average), GlobalAvgPool2D, GlobalMaxPool2D.
// Config of the windowed pools: pool_size, strides, padding; the global pools take none.
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/pool.h"
#include "nn/layer_registry.h"
#include "nn/window_pool.h"
#include "nn/window_config.h"

namespace pydl {
namespace {

// Max pools record argmax offsets within one image as int32.
void require_int32_images(const Layer& l, const Shape& in) {
  if (shape_size(in) > 2147483647)
    throw ValueError(l.label() + ": images of more than 2^31 - 1 values are not supported, got " + shape_str(in));
}

class Pool2DLayer : public WindowPoolLayer {
 public:
  Pool2DLayer(const LayerConfig& c, bool max) : WindowPoolLayer(c, max), window_(parse_pool_window(c)) {}

  Shape build(const Shape& in, int index) override {
    require_images(*this, in);
    if (max_) require_int32_images(*this, in);
    input_ = in;
    index_ = index;
    args_ = window_args(*this, window_, in, in[2]);
    output_ = {args_.oh, args_.ow, in[2]};
    return output_;
  }

 private:
  WindowConfig window_;
};

class GlobalPoolLayer : public Layer {
 public:
  GlobalPoolLayer(const LayerConfig& c, bool max) : Layer(c), max_(max) {}
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
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    const int64_t p = input_[0] * input_[1], c = input_[2];
    if (max_) global_max_pool_forward<real>(y.data, argmax_.data(), x.data, x.rows, p, c);
    else global_avg_pool_forward<real>(y.data, x.data, x.rows, p, c);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    if (!dx.data) return;
    const int64_t p = input_[0] * input_[1], c = input_[2];
    if (max_) global_max_pool_backward<real>(dx.data, dy.data, argmax_.data(), x.rows, p, c);
    else global_avg_pool_backward<real>(dx.data, dy.data, x.rows, p, c);
  }

 private:
  bool max_;
  Buffer<int32_t> argmax_;
};

PYDL_REGISTER_LAYER("max_pool2d", "MaxPool2D", (construct_with<Pool2DLayer, true>));
PYDL_REGISTER_LAYER("avg_pool2d", "AvgPool2D", (construct_with<Pool2DLayer, false>));
PYDL_REGISTER_LAYER("global_max_pool2d", "GlobalMaxPool2D", (construct_with<GlobalPoolLayer, true>));
PYDL_REGISTER_LAYER("global_avg_pool2d", "GlobalAvgPool2D", (construct_with<GlobalPoolLayer, false>));

}  // namespace
}  // namespace pydl

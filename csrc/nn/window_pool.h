// The windowed max / average pool over images (Conv2dArgs geometry), shared by MaxPool2D /
// AvgPool2D and MaxPool1D / AvgPool1D (a (1, T) image): subclasses check the input shape and
// set args_ and output_ in build; forward, backward and the argmax buffer live here.
#pragma once
#include <cstdint>

#include "core/buffer.h"
#include "kernels/pool.h"
#include "nn/layer.h"

namespace pydl {

class WindowPoolLayer : public Layer {
 public:
  WindowPoolLayer(const LayerConfig& c, bool max) : Layer(c), max_(max) {}
  bool backward_reads_input() const override { return false; }  // max: its own argmax
  bool backward_reads_output() const override { return false; }

  void plan(int64_t max_batch) override {
    if (max_) argmax_.resize(max_batch * shape_size(output_));
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    if (max_) max_pool2d_forward<real>(y.data, s.backward ? argmax_.data() : nullptr, x.data, a);
    else avg_pool2d_forward<real>(y.data, x.data, a);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    if (!dx.data) return;
    Conv2dArgs a = args_;
    a.n = x.rows;
    if (max_) max_pool2d_backward<real>(dx.data, dy.data, argmax_.data(), a);
    else avg_pool2d_backward<real>(dx.data, dy.data, a);
  }

 protected:
  bool max_;
  Conv2dArgs args_;

 private:
  Buffer<int32_t> argmax_;
};

}  // namespace pydl

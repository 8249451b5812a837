// A convolution run by the Conv2D kernels over channels-last images (Conv2dArgs geometry),
// shared by Conv2D and Conv1D (a (1, T) image with a (1, k) window, the same memory layout):
// subclasses parse their config and set args_ and output_ in build; the workspaces, forward,
// backward and what backward reads live here. Weights: kernel (param 0), bias (param 1).
#pragma once
#include <cstdint>

#include "core/buffer.h"
#include "core/sizes.h"
#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "nn/layer.h"

namespace pydl {

class ImageConvLayer : public Layer {
 public:
  ImageConvLayer(const LayerConfig& c, Activation act, bool use_bias) : Layer(c), act_(act), use_bias_(use_bias) {}
  // dW needs x; act'(.) needs y (GELU keeps its own pre-activation z_).
  bool backward_reads_output() const override { return act_ != Activation::Linear && act_ != Activation::GELU; }

  void plan(int64_t max_batch) override {
    Conv2dArgs a = args_;
    a.n = max_batch;
    cols_.resize(a.workspace_size());
    reduce_.resize(conv2d_reduce_workspace(a));
    if (activation_needs_input(act_)) z_.resize(checked_mul(max_batch, shape_size(output_), label()));
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    real* z = s.backward && activation_needs_input(act_) ? z_.data() : nullptr;
    conv2d_forward<real>(y.data, z, x.data, param(0), use_bias_ ? param(1) : nullptr, act_, a, cols_.data());
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real> y) override {
    Conv2dArgs a = args_;
    a.n = x.rows;
    conv2d_backward<real>(dx.data, grad(0), use_bias_ ? grad(1) : nullptr, dy.data, x.data, y.data,
                          activation_needs_input(act_) ? z_.data() : nullptr, param(0), act_, a, cols_.data(),
                          reduce_.data());
  }

 protected:
  Activation act_;
  bool use_bias_;
  Conv2dArgs args_;

 private:
  Buffer<real> cols_, z_;
  Buffer<double> reduce_;
};

}  // namespace pydl

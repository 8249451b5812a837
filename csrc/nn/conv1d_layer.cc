// Conv1D over sequences (N, T, C): kernel (k, c_in, filters), bias (filters,), run by the
// Conv2D kernels as a (1, T) image with a (1, k) window, whose memory layout is the same.
// padding: "valid", "same" (TensorFlow's: the odd step on the right) or "causal" (all of it
// on the left, (k - 1) * dilation steps: output t sees inputs <= t only).
// A padding mask passes through when the steps are kept (strides 1 with "same" or "causal");
// with "causal" and padding at the end, valid steps never see the padded ones.
// Speed, measured (benches/report.py, 2 threads, b=32 T=64 C=128 F=128 k=5): Conv1D forward
// 2.68 ms vs 1.96 ms for one GEMM of the same shape, the bound a dedicated kernel (k shifted
// GEMMs, no im2col) could reach: at most ~27% to gain, so the shared Conv2D path stays.
// Config: filters, kernel_size, strides, padding, dilation_rate, activation, use_bias.
#include "core/buffer.h"
#include "core/errors.h"
#include "core/sizes.h"
#include "kernels/conv2d.h"
#include "nn/image_conv.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class Conv1DLayer : public ImageConvLayer {
 public:
  explicit Conv1DLayer(const LayerConfig& c)
      : ImageConvLayer(c, parse_activation(c.get_string("activation", "linear")), c.get_bool("use_bias", true)),
        filters_(c.get_int("filters")), k_(c.get_int("kernel_size")), stride_(c.get_int("strides", 1)),
        padding_(c.get_string("padding", "valid")), dilation_(c.get_int("dilation_rate", 1)) {
    if (filters_ < 1) throw ValueError(label() + ": expected filters >= 1, got " + std::to_string(filters_));
    if (k_ < 1) throw ValueError(label() + ": expected kernel_size >= 1, got " + std::to_string(k_));
    if (stride_ < 1) throw ValueError(label() + ": expected strides >= 1, got " + std::to_string(stride_));
    if (dilation_ < 1) throw ValueError(label() + ": expected dilation_rate >= 1, got " + std::to_string(dilation_));
    if (padding_ != "valid" && padding_ != "same" && padding_ != "causal")
      throw ValueError(label() + ": padding must be 'valid', 'same' or 'causal', got '" + padding_ + "'");
  }
  bool passes_mask() const override { return stride_ == 1 && padding_ != "valid"; }

  Shape build(const Shape& in, int index) override {
    if (in.size() != 2)
      throw ValueError(label() + ": expected sequences (None, steps, channels), got " + shape_str(in));
    input_ = in;
    index_ = index;
    const int64_t t = in[0], span = checked_add(checked_mul(k_ - 1, dilation_, label()), 1, label());
    if (padding_ == "valid" && span > t)
      throw ValueError(label() + ": kernel_size " + std::to_string(k_) + " (dilated span " + std::to_string(span) +
                       ") is longer than the input's " + std::to_string(t) +
                       " steps with padding='valid'; use a shorter kernel, or padding='same' or 'causal'");
    const bool causal = padding_ == "causal";
    // Causal: sized as explicit padding of span - 1 on both sides, then the right side dropped.
    args_ = conv2d_args(1, t, in[1], filters_, 1, k_, 1, stride_, 1, dilation_, causal ? "explicit" : padding_, 0,
                        causal ? span - 1 : 0, label());
    if (causal) {  // left padding only: as many outputs as "same", each ending at its own step
      args_.pad_left = span - 1;
      args_.ow = (t - 1) / stride_ + 1;
    }
    output_ = {args_.ow, filters_};
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> p{{"kernel", {k_, args_.c, filters_}, Init::GlorotUniform, k_ * args_.c, k_ * filters_}};
    if (use_bias_) p.push_back({"bias", {filters_}, Init::Zeros, 0, 0});
    return p;
  }

 private:
  int64_t filters_, k_, stride_;
  std::string padding_;
  int64_t dilation_;
};

PYDL_REGISTER_LAYER("conv1d", "Conv1D", construct<Conv1DLayer>);

}  // namespace
}  // namespace pydl

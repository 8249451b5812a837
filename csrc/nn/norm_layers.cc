// BatchNormalization and LayerNormalization over the last axis, and Normalization with fixed
// statistics. Config: BatchNormalization momentum (0.9), epsilon (1e-5); LayerNormalization
// epsilon (1e-5); Normalization per ('feature' or 'channel').
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/norm.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class NormLayer : public Layer {
 public:
  using Layer::Layer;
  bool passes_mask() const override { return true; }
  Shape build(const Shape& in, int index) override {
    input_ = output_ = in;
    index_ = index;
    return output_;
  }
 protected:
  int64_t channels() const { return input_.back(); }
  int64_t rows_per_sample() const { return shape_size(input_) / channels(); }
  double parse_epsilon(const LayerConfig& c) const {
    const double eps = c.get_double("epsilon", 1e-5);
    if (!(eps > 0)) throw ValueError(label() + ": expected epsilon > 0, got " + LayerConfig::repr(eps));
    return eps;
  }
};

class BatchNormLayer : public NormLayer {
 public:
  explicit BatchNormLayer(const LayerConfig& c)
      : NormLayer(c), momentum_(c.get_double("momentum", 0.9)), epsilon_(parse_epsilon(c)) {
    if (!(momentum_ >= 0 && momentum_ <= 1))
      throw ValueError(label() + ": expected 0 <= momentum <= 1, got " + std::to_string(momentum_));
  }

  std::vector<ParamSpec> param_specs() const override {
    const int64_t c = channels();
    ParamSpec mm{"moving_mean", {c}, Init::Zeros, 0, 0};
    ParamSpec mv{"moving_variance", {c}, Init::Ones, 0, 0};
    mm.trainable = mv.trainable = false;
    return {{"gamma", {c}, Init::Ones, 0, 0}, {"beta", {c}, Init::Zeros, 0, 0}, mm, mv};
  }
  void set_frozen(bool frozen) override { frozen_ = frozen; }
  void plan(int64_t max_batch) override {
    stats_.resize(2 * channels());
    ws_.resize(batchnorm_workspace(max_batch * rows_per_sample(), channels()));
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    const int64_t rows = x.rows * rows_per_sample(), c = channels();
    training_ = s.training && !frozen_;  // frozen: the moving statistics, left as they are
    if (training_)
      batchnorm_forward_train<real>(y.data, stats_.data(), stats_.data() + c, param(2), param(3), x.data,
                                     param(0), param(1), rows, c, momentum_, epsilon_, ws_.data());
    else
      batchnorm_forward_infer<real>(y.data, x.data, param(0), param(1), param(2), param(3), rows, c,
                                     epsilon_);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    const int64_t rows = x.rows * rows_per_sample(), c = channels();
    if (training_)
      batchnorm_backward_train<real>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), stats_.data(),
                                      stats_.data() + c, rows, c, ws_.data());
    else
      batchnorm_backward_infer<real>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), param(2), param(3),
                                      rows, c, epsilon_, ws_.data());
  }

 private:
  double momentum_, epsilon_;
  Buffer<double> stats_, ws_;  // batch mean and 1/std; reduction workspace
  bool training_ = false;      // which statistics the last forward used
  bool frozen_ = false;
};

class LayerNormLayer : public NormLayer {
 public:
  explicit LayerNormLayer(const LayerConfig& c) : NormLayer(c), epsilon_(parse_epsilon(c)) {}
  std::vector<ParamSpec> param_specs() const override {
    return {{"gamma", {channels()}, Init::Ones, 0, 0}, {"beta", {channels()}, Init::Zeros, 0, 0}};
  }
  void plan(int64_t max_batch) override { stats_.resize(2 * max_batch * rows_per_sample()); }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    const int64_t rows = x.rows * rows_per_sample();
    layernorm_forward<real>(y.data, stats_.data(), stats_.data() + rows, x.data, param(0), param(1),
                             rows, channels(), epsilon_);
    rows_ = rows;
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    layernorm_backward<real>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), stats_.data(),
                              stats_.data() + rows_, rows_, channels());
  }

 private:
  double epsilon_;
  Buffer<double> stats_;  // per-row mean, then per-row 1/std
  int64_t rows_ = 0;
};

// Normalization: (x - mean) / sqrt(variance) with fixed statistics (set by model.adapt or
// given), per channel (last axis) or per feature (every position of a sample).
class NormalizationLayer : public NormLayer {
 public:
  explicit NormalizationLayer(const LayerConfig& c) : NormLayer(c), per_(c.get_string("per", "feature")) {
    if (per_ != "feature" && per_ != "channel")
      throw ValueError(label() + ": per must be 'feature' or 'channel', got '" + per_ + "'");
  }
  bool backward_reads_input() const override { return false; }  // fixed statistics
  bool backward_reads_output() const override { return false; }
  std::vector<ParamSpec> param_specs() const override {
    const Shape stats = per_channel() ? Shape{channels()} : input_;
    ParamSpec mean{"mean", stats, Init::Zeros, 0, 0}, var{"variance", stats, Init::Ones, 0, 0};
    mean.trainable = var.trainable = false;
    return {mean, var};
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    normalization_forward<real>(y.data, x.data, param(0), param(1), x.size(), stats_size());
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real>, Matrix<const real>) override {
    if (dx.data) normalization_backward<real>(dx.data, dy.data, param(1), dy.size(), stats_size());
  }

 private:
  bool per_channel() const { return per_ == "channel"; }
  int64_t stats_size() const { return per_channel() ? channels() : shape_size(input_); }
  std::string per_;
};

PYDL_REGISTER_LAYER("batch_norm", "BatchNormalization", construct<BatchNormLayer>);
PYDL_REGISTER_LAYER("layer_norm", "LayerNormalization", construct<LayerNormLayer>);
PYDL_REGISTER_LAYER("normalization", "Normalization", construct<NormalizationLayer>);

}  // namespace
}  // namespace pydl

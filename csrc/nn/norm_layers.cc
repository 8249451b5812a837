// BatchNormalization and LayerNormalization over the last axis.
#include <cmath>

#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/norm.h"
#include "nn/layers.h"

namespace pydl {
namespace {

class NormLayer : public Layer {
 public:
  using Layer::Layer;
  bool passes_mask() const override { return true; }
  Shape build(const Shape& in, int index) override {
    if (!(config_.epsilon > 0)) throw ValueError(label() + ": expected epsilon > 0");
    input_ = output_ = in;
    index_ = index;
    return output_;
  }
 protected:
  int64_t channels() const { return input_.back(); }
  int64_t rows_per_sample() const { return shape_size(input_) / channels(); }
};

class BatchNormLayer : public NormLayer {
 public:
  explicit BatchNormLayer(LayerConfig c) : NormLayer(std::move(c)) {
    if (!(config_.momentum >= 0 && config_.momentum <= 1))
      throw ValueError(label() + ": expected 0 <= momentum <= 1, got " + std::to_string(config_.momentum));
  }
  const char* kind() const override { return "BatchNormalization"; }

  std::vector<ParamSpec> param_specs() const override {
    const int64_t c = channels();
    ParamSpec mm{"moving_mean", {c}, Init::Zeros, 0, 0};
    ParamSpec mv{"moving_variance", {c}, Init::Ones, 0, 0};
    mm.trainable = mv.trainable = false;
    return {{"gamma", {c}, Init::Ones, 0, 0}, {"beta", {c}, Init::Zeros, 0, 0}, mm, mv};
  }
  void plan(int64_t max_batch) override {
    stats_.resize(2 * channels());
    ws_.resize(batchnorm_workspace(max_batch * rows_per_sample(), channels()));
  }
  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo& s) override {
    const int64_t rows = x.rows * rows_per_sample(), c = channels();
    training_ = s.training;
    if (training_)
      batchnorm_forward_train<float>(y.data, stats_.data(), stats_.data() + c, param(2), param(3), x.data,
                                     param(0), param(1), rows, c, config_.momentum, config_.epsilon, ws_.data());
    else
      batchnorm_forward_infer<float>(y.data, x.data, param(0), param(1), param(2), param(3), rows, c,
                                     config_.epsilon);
  }
  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x, Matrix<const float>) override {
    const int64_t rows = x.rows * rows_per_sample(), c = channels();
    if (training_)
      batchnorm_backward_train<float>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), stats_.data(),
                                      stats_.data() + c, rows, c, ws_.data());
    else
      batchnorm_backward_infer<float>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), param(2), param(3),
                                      rows, c, config_.epsilon, ws_.data());
  }

 private:
  Buffer<double> stats_, ws_;  // batch mean and 1/std; reduction workspace
  bool training_ = false;      // which statistics the last forward used
};

class LayerNormLayer : public NormLayer {
 public:
  using NormLayer::NormLayer;
  const char* kind() const override { return "LayerNormalization"; }
  std::vector<ParamSpec> param_specs() const override {
    return {{"gamma", {channels()}, Init::Ones, 0, 0}, {"beta", {channels()}, Init::Zeros, 0, 0}};
  }
  void plan(int64_t max_batch) override { stats_.resize(2 * max_batch * rows_per_sample()); }
  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo&) override {
    const int64_t rows = x.rows * rows_per_sample();
    layernorm_forward<float>(y.data, stats_.data(), stats_.data() + rows, x.data, param(0), param(1),
                             rows, channels(), config_.epsilon);
    rows_ = rows;
  }
  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float> x, Matrix<const float>) override {
    layernorm_backward<float>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), stats_.data(),
                              stats_.data() + rows_, rows_, channels());
  }

 private:
  Buffer<double> stats_;  // per-row mean, then per-row 1/std
  int64_t rows_ = 0;
};

// Normalization: (x - mean) / sqrt(variance) with fixed statistics (set by model.adapt or
// given), per channel (last axis) or per feature (every position of a sample).
class NormalizationLayer : public NormLayer {
 public:
  explicit NormalizationLayer(LayerConfig c) : NormLayer(std::move(c)) {
    if (config_.per != "feature" && config_.per != "channel")
      throw ValueError(label() + ": per must be 'feature' or 'channel', got '" + config_.per + "'");
  }
  const char* kind() const override { return "Normalization"; }
  bool backward_reads_input() const override { return false; }  // fixed statistics
  bool backward_reads_output() const override { return false; }
  std::vector<ParamSpec> param_specs() const override {
    const Shape stats = per_channel() ? Shape{channels()} : input_;
    ParamSpec mean{"mean", stats, Init::Zeros, 0, 0}, var{"variance", stats, Init::Ones, 0, 0};
    mean.trainable = var.trainable = false;
    return {mean, var};
  }
  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo&) override {
    const int64_t s = stats_size(), n = x.size();
    const float* mean = param(0);
    const float* var = param(1);
    for (int64_t i = 0; i < n; ++i) y.data[i] = (x.data[i] - mean[i % s]) * inv_std(var[i % s]);
  }
  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float>, Matrix<const float>) override {
    if (!dx.data) return;
    const int64_t s = stats_size(), n = dy.size();
    for (int64_t i = 0; i < n; ++i) dx.data[i] = dy.data[i] * inv_std(param(1)[i % s]);
  }

 private:
  bool per_channel() const { return config_.per == "channel"; }
  int64_t stats_size() const { return per_channel() ? channels() : shape_size(input_); }
  static float inv_std(float v) { return v > 0.0f ? 1.0f / std::sqrt(v) : 1.0f; }  // constant features pass
};

}  // namespace

std::unique_ptr<Layer> make_normalization_layer(const LayerConfig& c) {
  return std::make_unique<NormalizationLayer>(c);
}

std::unique_ptr<Layer> make_batch_norm_layer(const LayerConfig& c) { return std::make_unique<BatchNormLayer>(c); }
std::unique_ptr<Layer> make_layer_norm_layer(const LayerConfig& c) { return std::make_unique<LayerNormLayer>(c); }

}  // namespace pydl

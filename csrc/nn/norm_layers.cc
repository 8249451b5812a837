// BatchNormalization and LayerNormalization over the last axis, and Normalization with fixed
// statistics. Config: BatchNormalization momentum (0.9), epsilon (1e-5), synchronized (false:
// in data-parallel training, true sums the batch statistics and their gradient over ranks through
// StepInfo::ranks, so the layer sees the global batch); LayerNormalization
// epsilon (1e-5); Normalization per ('feature' or 'channel').
#include "core/buffer.h"
#include "core/errors.h"
#include "kernels/norm.h"
#include "nn/gradient_reducer.h"
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
      : NormLayer(c), momentum_(c.get_double("momentum", 0.9)), epsilon_(parse_epsilon(c)),
        synchronized_(c.get_bool("synchronized", false)) {
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
    sums_.resize(2 * channels() + 1);
    ws_.resize(batchnorm_workspace(max_batch * rows_per_sample(), channels()));
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    const int64_t rows = x.rows * rows_per_sample(), c = channels();
    begin_step(s);
    if (ranks_)
      forward_synchronized(y.data, x.data, rows);
    else if (training_)
      batchnorm_forward_train<real>(y.data, stats_.data(), stats_.data() + c, param(2), param(3), x.data,
                                     param(0), param(1), rows, c, momentum_, epsilon_, ws_.data(), s.step_results);
    else
      batchnorm_forward_infer<real>(y.data, x.data, param(0), param(1), param(2), param(3), rows, c,
                                     epsilon_);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    const int64_t rows = x.rows * rows_per_sample(), c = channels();
    if (ranks_)
      backward_synchronized(dx.data, dy.data, x.data, rows);
    else if (training_)
      batchnorm_backward_train<real>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), stats_.data(),
                                      stats_.data() + c, rows, c, ws_.data());
    else
      batchnorm_backward_infer<real>(dx.data, grad(0), grad(1), dy.data, x.data, param(0), param(2), param(3),
                                      rows, c, epsilon_, ws_.data());
  }
  // A rank with no rows adds nothing to the sums but takes the global statistics (its moving
  // averages stay those of the other ranks).
  void forward_without_rows(const StepInfo& s) override {
    begin_step(s);
    if (ranks_) forward_synchronized(nullptr, nullptr, 0);
  }
  void backward_without_rows() override {
    if (ranks_) backward_synchronized(nullptr, nullptr, nullptr, 0);
  }

 private:
  void begin_step(const StepInfo& s) {
    training_ = s.training && !frozen_;  // frozen: the moving statistics, left as they are
    ranks_ = training_ && synchronized_ ? s.ranks : nullptr;
  }
  // The global batch's statistics: the mean from every rank's sums and row counts, then the
  // squares about it, as one process computes them (two passes: no cancellation).
  void forward_synchronized(real* y, const real* x, int64_t rows) {
    const int64_t c = channels();
    double *sums = sums_.data(), *mean = stats_.data(), *invstd = stats_.data() + c;
    batchnorm_sum<real>(sums, x, rows, c, ws_.data());
    sums[c] = double(rows);  // exact in a double
    ranks_->sum_statistics(sums, c + 1);
    total_rows_ = int64_t(sums[c]);
    for (int64_t j = 0; j < c; ++j) mean[j] = sums[j] / sums[c];
    batchnorm_centered_squares<real>(sums, x, mean, rows, c, ws_.data());
    ranks_->sum_statistics(sums, c);
    batchnorm_statistics<real>(invstd, param(2), param(3), mean, sums, total_rows_, c, momentum_, epsilon_);
    if (rows > 0) batchnorm_normalize<real>(y, x, param(0), param(1), mean, invstd, rows, c);
  }
  // dgamma and dbeta take this rank's sums (the gradient all-reduce adds the others'); dx
  // needs the global batch's.
  void backward_synchronized(real* dx, const real* dy, const real* x, int64_t rows) {
    const int64_t c = channels();
    double *sums = sums_.data(), *mean = stats_.data(), *invstd = stats_.data() + c;
    batchnorm_grad_sums<real>(sums, dy, x, mean, invstd, rows, c, ws_.data());
    if (rows > 0) batchnorm_param_grads<real>(grad(0), grad(1), sums, c);
    ranks_->sum_statistics(sums, 2 * c);
    if (dx && rows > 0) batchnorm_input_grad<real>(dx, dy, x, param(0), mean, invstd, sums, rows, c, total_rows_);
  }

  double momentum_, epsilon_;
  bool synchronized_;          // Keras' synchronized: statistics over every rank's rows
  Buffer<double> stats_, ws_;  // batch mean and 1/std; reduction workspace
  Buffer<double> sums_;        // what is summed over ranks: 2 * channels + 1 doubles
  bool training_ = false;      // which statistics the last forward used
  bool frozen_ = false;
  StatisticsReducer* ranks_ = nullptr;  // the last forward's, when it synchronised
  int64_t total_rows_ = 0;              // rows over every rank in the last synchronised forward
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

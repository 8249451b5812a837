#include "nn/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/interrupt.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/sizes.h"
#include "core/use_gate.h"

namespace pydl {

Trainer::Trainer(Graph& graph, LossKind loss, std::vector<float> class_weights,
                 double label_smoothing, OptimizerConfig optimizer)
    : g_(graph), loss_(loss), class_weights_(std::move(class_weights)), opt_(optimizer) {
  validate(opt_);
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw ValueError("label_smoothing: expected a value in [0, 1], got " + std::to_string(label_smoothing));
  if (label_smoothing > 0 && loss != LossKind::CrossEntropy)
    throw ValueError("label_smoothing applies to cross_entropy only");
  loss_args_.kind = loss_;
  set_class_weights(std::move(class_weights_));
  loss_args_.label_smoothing = label_smoothing;
  const int64_t n = g_.num_params();
  if (slots() >= 1) slot0_.resize(n);
  if (slots() >= 2) slot1_.resize(n);
}

void Trainer::set_class_weights(std::vector<float> w) {
  if (!w.empty()) {
    if (loss_ != LossKind::CrossEntropy && loss_ != LossKind::BinaryCrossEntropy)
      throw ValueError(std::string("class weights apply to classification losses, not ") + loss_name(loss_));
    const int64_t expected = loss_ == LossKind::CrossEntropy ? g_.output_size() : 2;
    if (int64_t(w.size()) != expected)
      throw ValueError("class weights: expected " + std::to_string(expected) + " values, got " +
                       std::to_string(w.size()));
    for (float v : w)
      if (!(v >= 0.0f) || !std::isfinite(v)) throw ValueError("class weights: expected finite values >= 0");
  }
  class_weights_ = std::move(w);
  loss_args_.class_weights = class_weights_.empty() ? nullptr : class_weights_.data();
}

void Trainer::set_learning_rate(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw ValueError("learning_rate: expected a finite value >= 0, got " + std::to_string(lr));
  opt_.learning_rate = lr;
  lr_table_.clear();
}

void Trainer::set_lr_table(std::vector<double> table) {
  for (size_t i = 0; i < table.size(); ++i)
    if (!(table[i] >= 0.0) || !std::isfinite(table[i]))
      throw ValueError("learning rate schedule: expected finite values >= 0, got " + std::to_string(table[i]) +
                       " for step " + std::to_string(step_ + int64_t(i) + 1));
  lr_table_ = std::move(table);
  lr_table_start_ = step_;
}

void Trainer::set_step(int64_t s) {
  if (s < 0) throw ValueError("step: expected a count >= 0, got " + std::to_string(s));
  step_ = s;
}

void Trainer::measure_bounds() {
  bounds_ = measure_update_bounds<float>(g_.param_data(), slots() >= 1 ? slot0_.data() : nullptr,
                                         slots() >= 2 ? slot1_.data() : nullptr, g_.num_params());
}

void Trainer::report_progress(const ProgressFn& progress, int64_t every, const EpochStats& st) {
  if (!progress || every <= 0 || st.batches % every != 0) return;
  progress(st.batches, st.mean_loss());
  measure_bounds();  // the Python callback may have written the weights
}

void BatchBuffers::plan(int64_t rows, const Graph& g) {
  if (rows < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(rows));
  if (rows <= planned) return;
  x.resize(checked_mul(rows, g.input_size(), "batch of " + std::to_string(rows)));
  targets.resize(checked_mul(rows, g.output_size(), "batch of " + std::to_string(rows)));
  labels.resize(rows);
  loss_ws.resize(checked_mul(2, rows, "batch"));
  order.resize(rows);
  planned = rows;
}

void BatchBuffers::gather(const DataRef& d, const int64_t* idx, int64_t rows, const Graph& g) {
  const int64_t in = g.input_size(), out = g.output_size();
  parallel_range(rows, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(in, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) std::memcpy(x.data() + r * in, d.x + idx[r] * in, sizeof(float) * in);
  });
  for (int64_t r = 0; r < rows; ++r) {
    if (d.labels) labels.data()[r] = d.labels[idx[r]];
    if (d.targets) std::memcpy(targets.data() + r * out, d.targets + idx[r] * out, sizeof(float) * out);
  }
}

void Trainer::plan(int64_t batch_size) {
  g_.plan(batch_size);
  batch_.plan(batch_size, g_);
}

double Trainer::batch_loss(Graph& g, BatchBuffers& b, Matrix<const float> out, int64_t rows, bool with_grad,
                           EpochStats* st, const MetricSpec& metrics) {
  Matrix<float> grad = with_grad ? g.output_grad() : Matrix<float>(nullptr, rows, out.cols);
  Matrix<const float> targets(b.targets.data(), rows, out.cols);
  const double loss = loss_forward_backward<float>(grad, b.loss_ws.data(), out, b.labels.data(), targets, loss_args_);
  if (st) {
    AccuracyCount a = accuracy_count<float>(out, b.labels.data(), targets, loss_);
    st->accuracy.correct += a.correct;
    st->accuracy.total += a.total;
    accumulate_metrics<float>(st->metrics, metrics, out, b.labels.data(), targets, loss_);
  }
  return loss;
}

EpochStats Trainer::fit_epoch(const DataRef& d, int64_t batch_size, bool shuffle, uint64_t seed,
                              uint64_t epoch, const ProgressFn& progress, int64_t every,
                              bool check_interrupt) {
  if (d.n < 1) throw ValueError("fit: the training data is empty");
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  UseGate::Exclusive use(g_.gate(), "fit");
  // Buffers for at most the data: batch_size=10**9 on 20 samples plans 20 rows.
  plan(std::min(batch_size, d.n));
  order_all_.resize(d.n);
  int64_t* order = order_all_.data();
  for (int64_t i = 0; i < d.n; ++i) order[i] = i;
  if (shuffle) {
    // Fisher-Yates from counter-based draws: the order depends on (seed, epoch) alone.
    CounterRng rng(seed, 0x5f0ff1e000ULL + epoch);
    for (int64_t i = d.n - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i), uint64_t(i + 1))]);
  }
  measure_bounds();
  EpochStats st;
  for (int64_t start = 0; start < d.n; start += batch_size) {
    if (check_interrupt && InterruptGuard::requested()) {
      st.interrupted = true;
      break;
    }
    const int64_t rows = std::min(batch_size, d.n - start);
    batch_.gather(d, order + start, rows, g_);
    if (!train_step(batch_.x.data(), rows, seed, st)) break;
    report_progress(progress, every, st);
  }
  // A Ctrl-C during the last batch must not be lost when the loop ends by itself.
  if (check_interrupt && InterruptGuard::requested()) st.interrupted = true;
  return st;
}

bool Trainer::train_step(const float* x, int64_t rows, uint64_t seed, EpochStats& st) {
  const int64_t n_params = g_.num_params();
  StepInfo info{true, seed, uint64_t(step_ + 1)};
  Matrix<const float> out = g_.forward(Matrix<const float>(x, rows, g_.input_size()), info);
  const double loss = batch_loss(g_, batch_, out, rows, true, &st, metric_spec_);
  if (!std::isfinite(loss)) {
    // Stop before the update: the model keeps its last finite weights.
    st.nonfinite_batch = st.batches;
    return false;
  }
  g_.zero_grads();
  g_.backward();
  if (opt_.clipnorm > 0) clip_by_global_norm<float>(g_.grad_data(), n_params, opt_.clipnorm);
  const double lr_before = opt_.learning_rate;
  if (!lr_table_.empty()) {
    const int64_t i = std::min<int64_t>(step_ - lr_table_start_, int64_t(lr_table_.size()) - 1);
    opt_.learning_rate = lr_table_[std::max<int64_t>(i, 0)];
  }
  if (!optimizer_step<float>(g_.param_data(), g_.grad_data(), slot0_.data(), slot1_.data(), n_params, opt_,
                             step_ + 1, &bounds_)) {
    // Refused: weights, moments, step and learning rate stay those of the last finite step.
    opt_.learning_rate = lr_before;
    st.nonfinite_batch = st.batches;
    st.nonfinite_update = true;
    return false;
  }
  ++step_;
  st.loss_sum += loss * double(rows);
  st.samples += rows;
  ++st.batches;
  return true;
}

EpochStats Trainer::fit_epoch_loader(ArrayLoader& loader, const DataRef& d, uint64_t seed, uint64_t epoch,
                                     const ProgressFn& progress, int64_t every, bool check_interrupt) {
  if (loader.size() != d.n) throw ValueError("fit: the loader and the targets differ in length");
  if (checked_product(loader.output_shape(), "loader samples") != g_.input_size())
    throw ValueError("fit: the loader's samples do not match the model's input size");
  UseGate::Exclusive use(g_.gate(), "fit");
  measure_bounds();
  EpochStats st;
  loader.start_epoch(epoch);
  struct StopAtExit {  // also when a step throws: the loader's thread never outlives the epoch
    ArrayLoader& l;
    ~StopAtExit() { l.stop(); }
  } stop_at_exit{loader};
  while (const LoaderBatch* b = loader.next()) {
    if (check_interrupt && InterruptGuard::requested()) {
      st.interrupted = true;
      break;
    }
    plan(b->rows);
    for (int64_t r = 0; r < b->rows; ++r) {
      const int64_t i = b->indices.data()[r];
      if (d.labels) batch_.labels.data()[r] = d.labels[i];
      if (d.targets)
        std::copy(d.targets + i * g_.output_size(), d.targets + (i + 1) * g_.output_size(),
                  batch_.targets.data() + r * g_.output_size());
    }
    if (!train_step(b->x.data(), b->rows, seed, st)) break;
    report_progress(progress, every, st);
  }
  if (check_interrupt && InterruptGuard::requested()) st.interrupted = true;
  return st;
}

bool Trainer::train_batch(const float* x, int64_t rows, const int32_t* labels, const float* targets,
                          uint64_t seed) {
  UseGate::Exclusive use(g_.gate(), "fit");
  plan(rows);
  measure_bounds();  // Python ran since the last batch and may have written the weights
  if (labels) std::copy(labels, labels + rows, batch_.labels.data());
  if (targets) std::copy(targets, targets + rows * g_.output_size(), batch_.targets.data());
  return train_step(x, rows, seed, open_epoch_);
}

EpochStats Trainer::evaluate(const DataRef& d, int64_t batch_size, const MetricSpec& metrics) {
  if (d.n < 1) throw ValueError("evaluate: the data is empty");
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  UseGate::Shared use(g_.gate(), "evaluate");
  Graph::Lease lease(g_);
  Graph& g = lease.graph();
  const int64_t planned = std::min(batch_size, d.n);
  g.plan(planned);
  BatchBuffers b;  // per call: concurrent evaluations share nothing
  b.plan(planned, g);
  EpochStats st;
  for (int64_t start = 0; start < d.n; start += batch_size) {
    const int64_t rows = std::min(batch_size, d.n - start);
    for (int64_t r = 0; r < rows; ++r) b.order.data()[r] = start + r;
    b.gather(d, b.order.data(), rows, g);
    Matrix<const float> out = g.forward(Matrix<const float>(b.x.data(), rows, g.input_size()), StepInfo{});
    st.loss_sum += batch_loss(g, b, out, rows, false, &st, metrics) * double(rows);
    st.samples += rows;
    ++st.batches;
  }
  return st;
}

void predict(Graph& owner, const float* x, int64_t n, int64_t batch_size, float* out) {
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  if (n < 1) return;
  UseGate::Shared use(owner.gate(), "predict");
  Graph::Lease lease(owner);
  Graph& g = lease.graph();
  g.plan(std::min(batch_size, n));
  const int64_t in = g.input_size(), on = g.output_size();
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t rows = std::min(batch_size, n - start);
    // Rows of x are contiguous: the batch is read in place, no gather.
    Matrix<const float> y = g.forward(Matrix<const float>(x + start * in, rows, in), StepInfo{});
    std::memcpy(out + start * on, y.data, sizeof(float) * rows * on);
  }
}

double Trainer::loss_and_gradients(const DataRef& d, bool training, uint64_t seed) {
  if (d.n < 1) throw ValueError("loss_and_gradients: the data is empty");
  UseGate::Exclusive use(g_.gate(), "loss_and_gradients");
  plan(d.n);
  order_all_.resize(d.n);
  for (int64_t i = 0; i < d.n; ++i) order_all_.data()[i] = i;
  batch_.gather(d, order_all_.data(), d.n, g_);
  Matrix<const float> out = g_.forward(Matrix<const float>(batch_.x.data(), d.n, g_.input_size()),
                                       StepInfo{training, seed, uint64_t(step_ + 1)});
  const double loss = batch_loss(g_, batch_, out, d.n, true, nullptr, metric_spec_);
  g_.zero_grads();
  g_.backward();
  return loss;
}

}  // namespace pydl

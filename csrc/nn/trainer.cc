#include "nn/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/interrupt.h"
#include "core/parallel.h"
#include "core/rng.h"

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

void Trainer::plan(int64_t batch_size) {
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  g_.plan(batch_size);
  if (batch_size <= planned_) return;
  xb_.resize(batch_size * g_.input_size());
  tb_.resize(batch_size * g_.output_size());
  lb_.resize(batch_size);
  loss_ws_.resize(2 * batch_size);
  planned_ = batch_size;
}

void Trainer::gather(const DataRef& d, const int64_t* idx, int64_t rows) {
  const int64_t in = g_.input_size(), out = g_.output_size();
  parallel_range(rows, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(in, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) std::memcpy(xb_.data() + r * in, d.x + idx[r] * in, sizeof(float) * in);
  });
  for (int64_t r = 0; r < rows; ++r) {
    if (d.labels) lb_.data()[r] = d.labels[idx[r]];
    if (d.targets) std::memcpy(tb_.data() + r * out, d.targets + idx[r] * out, sizeof(float) * out);
  }
}

double Trainer::batch_loss(Matrix<const float> out, int64_t rows, bool with_grad, EpochStats* st) {
  Matrix<float> grad = with_grad ? g_.output_grad() : Matrix<float>(nullptr, rows, out.cols);
  Matrix<const float> targets(tb_.data(), rows, out.cols);
  const double loss = loss_forward_backward<float>(grad, loss_ws_.data(), out, lb_.data(), targets, loss_args_);
  if (st) {
    AccuracyCount a = accuracy_count<float>(out, lb_.data(), targets, loss_);
    st->accuracy.correct += a.correct;
    st->accuracy.total += a.total;
    accumulate_metrics<float>(st->metrics, metric_spec_, out, lb_.data(), targets, loss_);
  }
  return loss;
}

EpochStats Trainer::fit_epoch(const DataRef& d, int64_t batch_size, bool shuffle, uint64_t seed,
                              uint64_t epoch, const ProgressFn& progress, int64_t every,
                              bool check_interrupt) {
  if (d.n < 1) throw ValueError("fit: the training data is empty");
  plan(batch_size);
  order_.resize(d.n);
  int64_t* order = order_.data();
  for (int64_t i = 0; i < d.n; ++i) order[i] = i;
  if (shuffle) {
    // Fisher-Yates from counter-based draws: the order depends on (seed, epoch) alone.
    CounterRng rng(seed, 0x5f0ff1e000ULL + epoch);
    for (int64_t i = d.n - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i), uint64_t(i + 1))]);
  }
  EpochStats st;
  for (int64_t start = 0; start < d.n; start += batch_size) {
    if (check_interrupt && InterruptGuard::requested()) {
      st.interrupted = true;
      break;
    }
    const int64_t rows = std::min(batch_size, d.n - start);
    gather(d, order + start, rows);
    if (!train_step(xb_.data(), rows, seed, st)) break;
    if (progress && every > 0 && st.batches % every == 0) progress(st.batches, st.mean_loss());
  }
  return st;
}

bool Trainer::train_step(const float* x, int64_t rows, uint64_t seed, EpochStats& st) {
  const int64_t n_params = g_.num_params();
  StepInfo info{true, seed, uint64_t(step_ + 1)};
  Matrix<const float> out = g_.forward(Matrix<const float>(x, rows, g_.input_size()), info);
  const double loss = batch_loss(out, rows, true, &st);
  if (!std::isfinite(loss)) {
    // Stop before the update: the model keeps its last finite weights.
    st.nonfinite_batch = st.batches;
    return false;
  }
  g_.zero_grads();
  g_.backward();
  if (opt_.clipnorm > 0) clip_by_global_norm<float>(g_.grad_data(), n_params, opt_.clipnorm);
  if (!lr_table_.empty()) {
    const int64_t i = std::min<int64_t>(step_ - lr_table_start_, int64_t(lr_table_.size()) - 1);
    opt_.learning_rate = lr_table_[std::max<int64_t>(i, 0)];
  }
  ++step_;
  optimizer_step<float>(g_.param_data(), g_.grad_data(), slot0_.data(), slot1_.data(), n_params, opt_, step_);
  st.loss_sum += loss * double(rows);
  st.samples += rows;
  ++st.batches;
  return true;
}

EpochStats Trainer::fit_epoch_loader(ArrayLoader& loader, const DataRef& d, uint64_t seed, uint64_t epoch,
                                     const ProgressFn& progress, int64_t every, bool check_interrupt) {
  if (loader.size() != d.n) throw ValueError("fit: the loader and the targets differ in length");
  int64_t in = 1;
  for (int64_t v : loader.output_shape()) in *= v;
  if (in != g_.input_size()) throw ValueError("fit: the loader's samples do not match the model's input size");
  EpochStats st;
  loader.start_epoch(epoch);
  while (const LoaderBatch* b = loader.next()) {
    if (check_interrupt && InterruptGuard::requested()) {
      st.interrupted = true;
      break;
    }
    plan(b->rows);
    for (int64_t r = 0; r < b->rows; ++r) {
      const int64_t i = b->indices.data()[r];
      if (d.labels) lb_.data()[r] = d.labels[i];
      if (d.targets)
        std::copy(d.targets + i * g_.output_size(), d.targets + (i + 1) * g_.output_size(), tb_.data() + r * g_.output_size());
    }
    if (!train_step(b->x.data(), b->rows, seed, st)) break;
    if (progress && every > 0 && st.batches % every == 0) progress(st.batches, st.mean_loss());
  }
  loader.stop();
  return st;
}

bool Trainer::train_batch(const float* x, int64_t rows, const int32_t* labels, const float* targets,
                          uint64_t seed) {
  plan(rows);
  if (labels) std::copy(labels, labels + rows, lb_.data());
  if (targets) std::copy(targets, targets + rows * g_.output_size(), tb_.data());
  return train_step(x, rows, seed, open_epoch_);
}

EpochStats Trainer::evaluate(const DataRef& d, int64_t batch_size) {
  if (d.n < 1) throw ValueError("evaluate: the data is empty");
  plan(std::min(batch_size, d.n));
  order_.resize(std::max<int64_t>(planned_, 1));
  EpochStats st;
  for (int64_t start = 0; start < d.n; start += batch_size) {
    const int64_t rows = std::min(batch_size, d.n - start);
    for (int64_t r = 0; r < rows; ++r) order_.data()[r] = start + r;
    gather(d, order_.data(), rows);
    Matrix<const float> out = g_.forward(Matrix<const float>(xb_.data(), rows, g_.input_size()), StepInfo{});
    st.loss_sum += batch_loss(out, rows, false, &st) * double(rows);
    st.samples += rows;
    ++st.batches;
  }
  return st;
}

void predict(Graph& g, const float* x, int64_t n, int64_t batch_size, float* out) {
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  g.plan(std::min(batch_size, std::max<int64_t>(n, 1)));
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
  plan(d.n);
  order_.resize(d.n);
  for (int64_t i = 0; i < d.n; ++i) order_.data()[i] = i;
  gather(d, order_.data(), d.n);
  Matrix<const float> out =
      g_.forward(Matrix<const float>(xb_.data(), d.n, g_.input_size()), StepInfo{training, seed, uint64_t(step_ + 1)});
  const double loss = batch_loss(out, d.n, true, nullptr);
  g_.zero_grads();
  g_.backward();
  return loss;
}

}  // namespace pydl

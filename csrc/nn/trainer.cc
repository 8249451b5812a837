#include "nn/trainer.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/device.h"
#include "core/errors.h"
#include "core/interrupt.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/sizes.h"
#include "core/use_gate.h"
#include "kernels/gather.h"
#include "kernels/step_results.h"
#include "kernels/weight_penalty.h"

namespace pydl {
namespace {

// A loader batch as the graph's input. The loader's batches are float32: read in place by the
// float engine, widened into `widened` by the float64 one (which binds no loader, but compiles
// the same trainer).
template <typename T>
Matrix<const T> loader_rows(const LoaderBatch& b, int64_t offset, int64_t rows, int64_t cols, Buffer<T>& widened) {
  const float* x = b.x.data() + offset * cols;
  if constexpr (std::is_same_v<T, float>) {
    return Matrix<const T>(x, rows, cols);
  } else {
    std::copy(x, x + rows * cols, widened.data());
    return Matrix<const T>(widened.data(), rows, cols);
  }
}

}  // namespace

// A (rows, steps * classes) output as rows * steps rows of classes (steps 1: unchanged).
template <typename T>
static Matrix<T> tokens_of(Matrix<T> m, int64_t steps) {
  return Matrix<T>(m.data, m.rows * steps, m.cols / steps);
}

Trainer::Trainer(Graph& graph, std::vector<HeadConfig> heads, OptimizerConfig optimizer)
    : g_(graph), heads_(std::move(heads)), opt_(optimizer) {
  validate(opt_);
  if (heads_.size() != g_.num_outputs())
    throw ValueError("expected one loss per model output (" + std::to_string(g_.num_outputs()) + "), got " +
                     std::to_string(heads_.size()));
  loss_args_.resize(heads_.size());
  metric_specs_.resize(heads_.size());
  head_losses_.assign(heads_.size(), 0.0);
  head_weights_.assign(heads_.size(), 0.0);
  fused_.assign(heads_.size(), 0);
  for (size_t j = 0; j < heads_.size(); ++j) {
    const HeadConfig& h = heads_[j];
    const std::string name = loss_name(h.loss);
    if (!(h.label_smoothing >= 0.0 && h.label_smoothing <= 1.0))
      throw ValueError("label_smoothing: expected a value in [0, 1], got " + std::to_string(h.label_smoothing));
    if (h.label_smoothing > 0 && !is_softmax_loss(h.loss))
      throw ValueError("label_smoothing applies to cross_entropy and categorical_crossentropy, not " + name);
    if (!(h.weight >= 0.0) || !std::isfinite(h.weight))
      throw ValueError("loss_weights: expected finite values >= 0, got " + std::to_string(h.weight));
    // Sparse cross-entropy also takes sequences: (steps, classes), labels (N, steps).
    const size_t rank = g_.output_shape(j).size();
    if (is_softmax_loss(h.loss) && rank != 1 && !(h.loss == LossKind::CrossEntropy && rank == 2))
      throw ValueError(name + " expects a model output of shape (None, classes)" +
                       (h.loss == LossKind::CrossEntropy ? " or (None, steps, classes)" : "") + ", got " +
                       shape_str(g_.output_shape(j)) + "; add a Flatten layer before the output layer");
    label_steps_.push_back(h.loss == LossKind::CrossEntropy && rank == 2 ? g_.output_shape(j)[0] : 1);
    if ((h.loss == LossKind::Custom) != bool(h.custom))
      throw ValueError(h.custom ? "a custom loss function needs loss 'custom'" : "loss 'custom' needs its function");
    if (!h.from_logits && !is_classification(h.loss))
      throw ValueError("from_logits applies to the cross-entropy losses, not " + name);
    if (!h.pos_weight.empty()) {
      if (h.loss != LossKind::BinaryCrossEntropy)
        throw ValueError("pos_weight applies to binary_cross_entropy, not " + name);
      const int64_t cols = g_.output_size(j);
      if (int64_t(h.pos_weight.size()) != 1 && int64_t(h.pos_weight.size()) != cols)
        throw ValueError("pos_weight: expected one value or one per output column (" + std::to_string(cols) +
                         "), got " + std::to_string(h.pos_weight.size()));
      for (real v : h.pos_weight)
        if (!(v >= 0.0f) || !std::isfinite(v)) throw ValueError("pos_weight: expected finite values >= 0");
    }
    // A loss on probabilities made by the matching final activation reads its logits instead.
    const std::string& act = g_.output_activation(j);
    fused_[j] = !h.from_logits && ((h.loss == LossKind::BinaryCrossEntropy && act == "sigmoid") ||
                                   (is_softmax_loss(h.loss) && act == "softmax"));
    loss_args_[j].kind = h.loss;
    loss_args_[j].label_smoothing = h.label_smoothing;
    loss_args_[j].from_logits = h.from_logits || fused_[j];
    loss_args_[j].pos_weight_size = int64_t(h.pos_weight.size());
    set_class_weights(j, heads_[j].class_weights);
  }
  for (const ParamEntry& e : g_.params())
    if (e.spec.trainable && (e.spec.l1 > 0 || e.spec.l2 > 0))
      regularized_.push_back({e.offset, e.size, e.spec.l1, e.spec.l2});
  const int64_t n = g_.num_params();
  for (int k = 0; k < slots(); ++k) slots_[k].resize(n, Device::CPU);  // filled here, then moved
  if (opt_.kind == OptimizerKind::Adagrad)  // the accumulator starts at its initial value, as in PyTorch
    std::fill(slots_[0].data(), slots_[0].data() + n, real(opt_.initial_accumulator_value));
  class_weights_dev_.resize(heads_.size());
  pos_weight_dev_.resize(heads_.size());
  follow_graph();
}

namespace {

// A buffer's contents on (device, ordinal): a new allocation there and one copy.
template <typename T>
void move_to(Buffer<T>& b, Device device, int ordinal) {
  if (b.size() == 0 || (b.device() == device && device == Device::CPU)) return;
  Buffer<T> moved;
  {
    DeviceScope scope(device, ordinal);
    moved.resize(b.size(), device);
  }
  copy_bytes(moved.data(), device, b.data(), b.device(), sizeof(T) * size_t(b.size()));
  b = std::move(moved);
}

// n values from host memory into b (wherever it lives), and back.
template <typename T>
void put(Buffer<T>& b, const T* host, int64_t n) {
  if (n > 0) copy_bytes(b.data(), b.device(), host, Device::CPU, sizeof(T) * size_t(n));
}

}  // namespace

void Trainer::follow_graph() {
  const Device device = g_.device();
  const int ordinal = g_.device_ordinal();
  if (device == device_ && ordinal == ordinal_) return;
  if (reducer_ && device != Device::CPU)
    throw ValueError("data-parallel training (pydl.distributed) runs on the CPU only in this version of pydl");
  for (int k = 0; k < slots(); ++k) move_to(slots_[k], device, ordinal);
  batch_ = BatchBuffers{};  // planned anew there
  results_ = Buffer<double>{};  // sized anew by the next epoch
  resident_ = ResidentData{};
  augment_ = DeviceAugment{};
  step_graph_.reset();
  bounds_.known = false;
  device_ = device;
  ordinal_ = ordinal;
  for (size_t j = 0; j < heads_.size(); ++j) place_head_weights(j);
}

void Trainer::place_head_weights(size_t j) {
  const HeadConfig& h = heads_[j];
  loss_args_[j].class_weights = h.class_weights.empty() ? nullptr : h.class_weights.data();
  loss_args_[j].pos_weight = h.pos_weight.empty() ? nullptr : h.pos_weight.data();
  if (device_ == Device::CPU || j >= class_weights_dev_.size()) return;
  // The loss kernel reads them on the device.
  auto place = [&](Buffer<real>& dev, const std::vector<real>& w, const real*& ptr) {
    if (w.empty()) return;
    DeviceScope scope(device_, ordinal_);
    dev.reset();
    dev.resize(int64_t(w.size()), device_);
    put(dev, w.data(), int64_t(w.size()));
    ptr = dev.data();
  };
  place(class_weights_dev_[j], h.class_weights, loss_args_[j].class_weights);
  place(pos_weight_dev_[j], h.pos_weight, loss_args_[j].pos_weight);
}

void Trainer::read_slot(int i, real* host) const {
  const Buffer<real>& b = slots_.at(size_t(i));
  if (b.size() > 0) copy_bytes(host, Device::CPU, b.data(), b.device(), sizeof(real) * size_t(b.size()));
}

void Trainer::write_slot(int i, const real* host) {
  Buffer<real>& b = slots_.at(size_t(i));
  put(b, host, b.size());
  bounds_.known = false;
}

std::vector<std::pair<std::string, Device>> Trainer::buffer_devices() const {
  std::vector<std::pair<std::string, Device>> out;
  auto add = [&](const std::string& name, const auto& b) {
    if (b.size() > 0) out.emplace_back(name, b.device());
  };
  for (int k = 0; k < slots(); ++k) add("slot/" + std::to_string(k), slots_[k]);
  for (size_t i = 0; i < batch_.xs.size(); ++i) add("batch/x/" + std::to_string(i), batch_.xs[i]);
  for (size_t j = 0; j < batch_.targets.size(); ++j) add("batch/targets/" + std::to_string(j), batch_.targets[j]);
  for (size_t j = 0; j < batch_.labels.size(); ++j) add("batch/labels/" + std::to_string(j), batch_.labels[j]);
  add("batch/sample_weight", batch_.sample_weight);
  add("batch/loss_workspace", batch_.loss_ws);
  add("batch/token_weight", batch_.token_weight);
  add("step_results", results_);
  for (size_t i = 0; i < resident_.xs.size(); ++i) add("resident/x/" + std::to_string(i), resident_.xs[i]);
  for (size_t j = 0; j < resident_.labels.size(); ++j) add("resident/labels/" + std::to_string(j), resident_.labels[j]);
  for (size_t j = 0; j < resident_.targets.size(); ++j) add("resident/targets/" + std::to_string(j), resident_.targets[j]);
  add("resident/sample_weight", resident_.sample_weight);
  add("resident/order", resident_.order);
  add("augment/raw", augment_.raw);
  add("augment/scratch", augment_.scratch);
  add("augment/keys", augment_.keys);
  return out;
}

SlotPtrs<real> Trainer::slot_ptrs() {
  SlotPtrs<real> p{};
  for (int k = 0; k < slots(); ++k) p[k] = slots_[k].data();
  return p;
}

void Trainer::set_frozen(std::vector<ParamRange> ranges) {
  const int64_t n = g_.num_params();
  for (const ParamRange& r : ranges) {
    if (r.offset < 0) throw ValueError("set_frozen: expected offsets >= 0, got " + std::to_string(r.offset));
    if (r.size < 1) throw ValueError("set_frozen: expected sizes >= 1, got " + std::to_string(r.size));
    if (r.size > n - r.offset)
      throw ValueError("set_frozen: range (" + std::to_string(r.offset) + ", " + std::to_string(r.size) +
                       ") reaches beyond the " + std::to_string(n) + " parameters (num_params)");
  }
  std::sort(ranges.begin(), ranges.end(), [](const ParamRange& a, const ParamRange& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].offset < ranges[i - 1].offset + ranges[i - 1].size)
      throw ValueError("set_frozen: ranges overlap at offset " + std::to_string(ranges[i].offset));
  UseGate::Exclusive use(g_.gate(), "set_frozen");
  frozen_ = std::move(ranges);
  bounds_.known = false;  // the bounds cover the parameters a step updates
}

void Trainer::set_class_weights(size_t j, std::vector<real> w) {
  HeadConfig& h = heads_.at(j);
  if (!w.empty()) {
    if (h.loss != LossKind::CrossEntropy && h.loss != LossKind::BinaryCrossEntropy)
      throw ValueError(std::string("class weights apply to cross_entropy and binary_cross_entropy, not ") +
                       loss_name(h.loss) + (h.loss == LossKind::CategoricalCrossEntropy ? " (use sample_weight)" : ""));
    const int64_t expected = h.loss == LossKind::CrossEntropy ? g_.output_shape(j).back() : 2;
    if (int64_t(w.size()) != expected)
      throw ValueError("class weights: expected " + std::to_string(expected) + " values, got " +
                       std::to_string(w.size()));
    for (real v : w)
      if (!(v >= 0.0f) || !std::isfinite(v)) throw ValueError("class weights: expected finite values >= 0");
  }
  h.class_weights = std::move(w);
  place_head_weights(j);
}

EpochStats Trainer::new_stats() const {
  EpochStats st;
  st.heads.resize(heads_.size());
  return st;
}

void Trainer::check_data(const DataRef& d, const char* what) const {
  if (d.xs.size() != g_.num_inputs())
    throw ValueError(std::string(what) + ": expected " + std::to_string(g_.num_inputs()) + " input arrays, got " +
                     std::to_string(d.xs.size()));
  if (d.labels.size() != heads_.size() || d.targets.size() != heads_.size())
    throw ValueError(std::string(what) + ": expected targets for each of the " + std::to_string(heads_.size()) +
                     " outputs");
  for (size_t j = 0; j < heads_.size(); ++j) {
    const bool ce = uses_labels(heads_[j].loss);
    if (ce ? !d.labels[j] : !d.targets[j])
      throw ValueError(std::string(what) + ": output " + std::to_string(j) + " has no " + (ce ? "labels" : "targets"));
  }
}

void Trainer::set_learning_rate(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw ValueError("learning_rate: expected a finite value >= 0, got " + std::to_string(lr));
  opt_.learning_rate = lr;
  lr_table_.clear();
  ++clock_version_;
}

void Trainer::set_lr_table(std::vector<double> table) {
  for (size_t i = 0; i < table.size(); ++i)
    if (!(table[i] >= 0.0) || !std::isfinite(table[i]))
      throw ValueError("learning rate schedule: expected finite values >= 0, got " + std::to_string(table[i]) +
                       " for step " + std::to_string(step_ + int64_t(i) + 1));
  lr_table_ = std::move(table);
  lr_table_start_ = step_;
  ++clock_version_;
}

void Trainer::set_step(int64_t s) {
  if (s < 0) throw ValueError("step: expected a count >= 0, got " + std::to_string(s));
  step_ = s;
  ++clock_version_;
}

bool Trainer::is_frozen(int64_t offset) const {
  // Frozen ranges cover whole layers, so a weight lies in one or in none.
  for (const ParamRange& f : frozen_)
    if (offset >= f.offset && offset < f.offset + f.size) return true;
  return false;
}

void Trainer::queue_penalty(double* total) const {
  for (const Regularized& r : regularized_)
    if (!is_frozen(r.offset)) add_weight_penalty<real>(total, g_.param_data() + r.offset, r.size, r.l1, r.l2);
}

double Trainer::penalty() const {
  if (regularized_.empty()) return 0.0;
  if (g_.device() == Device::CPU) {
    double total = 0;
    queue_penalty(&total);
    return total;
  }
  Buffer<double> total;  // the sum is made there, then read (one synchronisation)
  total.resize(1, g_.device());
  require_device_runtime().fill_bytes(total.data(), 0, sizeof(double));
  queue_penalty(total.data());
  double h = 0;
  copy_bytes(&h, Device::CPU, total.data(), g_.device(), sizeof(h));
  return h;
}

void Trainer::add_penalty_gradient(real* grads) {
  for (const Regularized& r : regularized_)
    if (!is_frozen(r.offset))
      add_weight_penalty_gradient<real>(grads + r.offset, g_.param_data() + r.offset, r.size, r.l1, r.l2);
}

void Trainer::measure_bounds() {
  bounds_ = measure_update_bounds<real>(g_.param_data(), slot_ptrs(), g_.num_params(), &frozen_);
}

bool Trainer::report_progress(const ProgressFn& progress, int64_t every, EpochStats& st) {
  const int64_t done = queued_ ? queued_steps_ : st.batches;
  if (!progress || every <= 0 || done % every != 0) return true;
  if (queued_ && !read_queued(st)) return false;  // a queued step stopped training
  bool go_on = progress(st.batches, st.mean_loss());
  measure_bounds();  // the Python callback may have written the weights
  if (queued_) {  // the queued steps' proof reads them from the block
    namespace sr = step_results;
    double b[1 + kMaxSlots + 1] = {bounds_.known ? 1.0 : 0.0, bounds_.params};
    for (int k = 0; k < kMaxSlots; ++k) b[2 + k] = bounds_.slots[k];
    copy_bytes(results_.data() + sr::kBoundsKnown, device_, b, Device::CPU, sizeof(b));
    if (clock_version_ != clock_written_) {  // the callback set the rate, a schedule or the step
      // Every queued step has committed (read_queued): the next one is step_ + 1.
      results_host_[sr::kStepBase] = double(step_ - queued_steps_);
      fill_clock_rates(results_host_);
      copy_bytes(results_.data() + sr::kStepBase, device_, results_host_.data() + sr::kStepBase, Device::CPU,
                 sizeof(double) * size_t(sr::kLrTable + 1 - sr::kStepBase));
      copy_bytes(results_.data() + lr_table_at_, device_, results_host_.data() + lr_table_at_, Device::CPU,
                 sizeof(double) * size_t(epoch_steps_));
      clock_written_ = clock_version_;
    }
  }
  if (reducer_) {  // rank 0's stop_training decides for all
    double stop = reducer_->rank() == 0 && !go_on ? 1.0 : 0.0;
    reducer_->sum(&stop, 1);
    go_on = stop == 0.0;
  }
  return go_on;
}

void BatchBuffers::plan(int64_t rows, const Graph& g, const std::vector<int64_t>* steps) {
  if (rows < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(rows));
  if (steps) label_steps = *steps;
  label_steps.resize(g.num_outputs(), 1);
  if (planned > 0 && device != g.device()) {  // the graph moved: planned anew where it is now
    std::vector<int64_t> keep = label_steps;
    *this = BatchBuffers{};
    label_steps = std::move(keep);
  }
  if (rows <= planned) return;
  device = g.device();
  DeviceScope scope(g.device(), g.device_ordinal());
  const Device dev = device;
  const bool staged = dev != Device::CPU;
  int64_t tokens = rows;  // label rows of the longest output
  for (int64_t st : label_steps) tokens = std::max(tokens, checked_mul(rows, st, "batch labels"));
  const std::string owner = "batch of " + std::to_string(rows);
  xs.resize(g.num_inputs());
  views.resize(g.num_inputs());
  for (size_t i = 0; i < g.num_inputs(); ++i) xs[i].resize(checked_mul(rows, g.input_size(i), owner), dev);
  targets.resize(g.num_outputs());
  labels.resize(g.num_outputs());
  int64_t widest = 1;
  for (size_t j = 0; j < g.num_outputs(); ++j) {
    targets[j].resize(checked_mul(rows, g.output_size(j), owner), dev);
    labels[j].resize(rows * label_steps[j], dev);
    widest = std::max(widest, targets[j].size());
  }
  sample_weight.resize(rows, dev);
  token_weight.resize(tokens, dev);
  loss_ws.resize(checked_mul(2, tokens, "batch"), dev);
  order.resize(rows, Device::CPU);
  if (staged) {
    for (Staging& s : staging) {
      s.uploaded.wait();  // its copies may still read the old buffers
      s.xs.resize(g.num_inputs());
      for (size_t i = 0; i < g.num_inputs(); ++i) s.xs[i].resize(xs[i].size());
      s.targets.resize(g.num_outputs());
      s.labels.resize(g.num_outputs());
      for (size_t j = 0; j < g.num_outputs(); ++j) {
        s.targets[j].resize(targets[j].size());
        s.labels[j].resize(labels[j].size());
      }
      s.sample_weight.resize(rows);
    }
    // The host side of a custom loss (see trainer.h).
    host_tokens.resize(tokens, Device::CPU);
    host_pred.resize(widest, Device::CPU);
    host_true.resize(widest, Device::CPU);
    host_grad.resize(widest, Device::CPU);
    host_ws.resize(checked_mul(2, tokens, "batch"), Device::CPU);
  }
  planned = rows;
}

void BatchBuffers::next_staging() {
  slot ^= 1;
  staging[slot].uploaded.wait();  // the copies of two batches ago
}

void BatchBuffers::gather(const DataRef& d, const int64_t* idx, int64_t rows, const Graph& g) {
  if (device != Device::CPU) next_staging();
  {
    DeviceScope on_host(Device::CPU);  // from the caller's arrays into host memory (staging on a device)
    for (size_t i = 0; i < g.num_inputs(); ++i)
      gather_rows(x_dst(i), d.xs[i], idx, rows, int64_t(sizeof(real)) * g.input_size(i));
  }
  for (size_t i = 0; i < g.num_inputs(); ++i) views[i] = Matrix<const real>(xs[i].data(), rows, g.input_size(i));
  for (size_t j = 0; j < g.num_outputs(); ++j) {
    const int64_t out = g.output_size(j), st = label_steps[j];
    int32_t* ls = label_dst(j);
    real* ts = target_dst(j);
    for (int64_t r = 0; r < rows; ++r) {
      if (d.labels[j]) std::copy(d.labels[j] + idx[r] * st, d.labels[j] + (idx[r] + 1) * st, ls + r * st);
      if (d.targets[j]) std::memcpy(ts + r * out, d.targets[j] + idx[r] * out, sizeof(real) * out);
    }
  }
  if (d.sample_weight) {
    real* sw = sample_weight_dst();
    for (int64_t r = 0; r < rows; ++r) sw[r] = d.sample_weight[idx[r]];
  }
  if (device != Device::CPU) upload(d, rows, g);
}

void BatchBuffers::upload(const DataRef& d, int64_t rows, const Graph& g, bool with_x) {
  // One copy per array from pinned staging, queued on the device's stream; the event behind
  // them tells next_staging when this set may be rewritten.
  Staging& s = staging[slot];
  for (size_t i = 0; with_x && i < g.num_inputs(); ++i)
    copy_bytes(xs[i].data(), device, s.xs[i].data(), Device::CPU, sizeof(real) * size_t(rows * g.input_size(i)));
  for (size_t j = 0; j < g.num_outputs(); ++j) {
    if (d.labels[j])
      copy_bytes(labels[j].data(), device, s.labels[j].data(), Device::CPU,
                 sizeof(int32_t) * size_t(rows * label_steps[j]));
    if (d.targets[j])
      copy_bytes(targets[j].data(), device, s.targets[j].data(), Device::CPU,
                 sizeof(real) * size_t(rows * g.output_size(j)));
  }
  if (d.sample_weight)
    copy_bytes(sample_weight.data(), device, s.sample_weight.data(), Device::CPU, sizeof(real) * size_t(rows));
  s.uploaded.record();
}

void Trainer::plan(int64_t batch_size) {
  g_.plan(batch_size);
  batch_.plan(batch_size, g_, &label_steps_);
}

const real* Trainer::head_token_weights(BatchBuffers& b, const uint8_t* mask, int64_t rows, int64_t steps,
                                        bool weighted) {
  // On a device too (cuda/loss.cu): the mask lives there, and so does the result.
  const real* sample_weights = weighted ? b.sample_weight.data() : nullptr;
  if (!token_weights_needed(sample_weights, mask, steps)) return sample_weights;
  token_weights<real>(b.token_weight.data(), sample_weights, mask, rows, steps);
  return b.token_weight.data();
}

double Trainer::head_loss(Graph& g, BatchBuffers& b, size_t j, Matrix<real> grad, Matrix<const real> out,
                          Matrix<const real> targets, const LossArgs<real>& args) {
  if (!heads_[j].custom)
    return loss_forward_backward<real>(grad, b.loss_ws.data(), out, b.labels[j].data(), targets, args);
  if (g.device() == Device::CPU)
    return custom_loss_forward_backward(heads_[j].custom, grad, b.loss_ws.data(), out, targets, args.sample_weights);
  // A Python loss reads host arrays: the predictions, targets and weights are copied here and
  // its gradient copied back.
  const Device dev = g.device();
  const size_t n = size_t(out.size());
  copy_bytes(b.host_pred.data(), Device::CPU, out.data, dev, sizeof(real) * n);
  copy_bytes(b.host_true.data(), Device::CPU, targets.data, dev, sizeof(real) * n);
  const real* hsw = nullptr;
  if (args.sample_weights) {
    copy_bytes(b.host_tokens.data(), Device::CPU, args.sample_weights, dev, sizeof(real) * size_t(out.rows));
    hsw = b.host_tokens.data();
  }
  Matrix<real> hgrad(grad.data ? b.host_grad.data() : nullptr, grad.rows, grad.cols);
  double loss;
  {
    DeviceScope host(Device::CPU);
    loss = custom_loss_forward_backward(heads_[j].custom, hgrad, b.host_ws.data(),
                                        Matrix<const real>(b.host_pred.data(), out.rows, out.cols),
                                        Matrix<const real>(b.host_true.data(), targets.rows, targets.cols), hsw);
  }
  if (grad.data) copy_bytes(grad.data, dev, hgrad.data, Device::CPU, sizeof(real) * size_t(grad.size()));
  return loss;
}

double Trainer::batch_loss(Graph& g, BatchBuffers& b, int64_t rows, bool with_grad, EpochStats* st,
                           const std::vector<MetricSpec>& metrics) {
  double total = 0;
  const bool on_device = g.device() != Device::CPU;
  for (size_t j = 0; j < heads_.size(); ++j) {
    // Sequence cross-entropy: rows * steps token rows, weighted by the output's padding mask.
    const int64_t steps = label_steps_[j];
    const uint8_t* mask = steps > 1 ? g.output_mask(j) : nullptr;
    Matrix<const real> out = tokens_of(loss_input(g, fused_, j), steps);
    Matrix<real> grad = !with_grad ? Matrix<real>(nullptr, out.rows, out.cols)
                                    : tokens_of(fused_[j] ? g.output_logits_grad(j) : g.output_grad(j), steps);
    Matrix<const real> targets(b.targets[j].data(), rows, out.cols);
    LossArgs<real> args = loss_args_[j];
    args.sample_weights = head_token_weights(b, mask, rows, steps, sample_weighted_);
    const double loss = head_loss(g, b, j, grad, out, targets, args);
    // The denominators only data-parallel training reads (refused on a device, where the
    // workspace is device memory).
    if (!on_device)
      head_weights_[j] = heads_[j].custom ? custom_loss_weight_total(args.sample_weights, rows)
                                          : loss_weight_total(b.loss_ws.data(), out.rows);  // token rows
    // The total is sum_j w_j loss_j: each head's gradient scales by its weight (distributed:
    // in sync_step, together with the rank's share).
    const double w = heads_[j].weight;
    if (with_grad && w != 1.0 && !reducer_) scale_values(grad.data, grad.size(), real(w));
    total += w * loss;
    head_losses_[j] = loss;
    if (st) {
      HeadStats& h = st->heads[j];
      const bool logits = loss_args_[j].from_logits;
      AccuracyCount a = accuracy_count<real>(out, b.labels[j].data(), targets, heads_[j].loss, logits, mask);
      h.accuracy.correct += a.correct;
      h.accuracy.total += a.total;
      accumulate_metrics<real>(h.metrics, metrics[j], out, b.labels[j].data(), targets, heads_[j].loss, logits,
                                mask);
    }
  }
  return total;
}

// Adds one batch's losses to the epoch: the total and each head's.
static void add_losses(EpochStats& st, double total, const std::vector<double>& heads, int64_t rows) {
  st.loss_sum += total * double(rows);
  for (size_t j = 0; j < heads.size(); ++j) st.heads[j].loss_sum += heads[j] * double(rows);
  st.samples += rows;
  ++st.batches;
}

EpochStats Trainer::fit_epoch(const DataRef& d, int64_t batch_size, bool shuffle, uint64_t seed,
                              uint64_t epoch, const ProgressFn& progress, int64_t every,
                              bool check_interrupt) {
  if (d.n < 1) throw ValueError("fit: the training data is empty");
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  check_data(d, "fit");
  UseGate::Exclusive use(g_.gate(), "fit");
  follow_graph();
  DeviceScope scope(g_.device(), g_.device_ordinal());
  // Buffers for at most the data: batch_size=10**9 on 20 samples plans 20 rows.
  plan(std::min(batch_size, d.n));
  order_all_.resize(d.n, Device::CPU);
  int64_t* order = order_all_.data();
  for (int64_t i = 0; i < d.n; ++i) order[i] = i;
  if (shuffle) {
    // Fisher-Yates from counter-based draws: the order depends on (seed, epoch) alone.
    CounterRng rng(seed, 0x5f0ff1e000ULL + epoch);
    for (int64_t i = d.n - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i), uint64_t(i + 1))]);
  }
  sample_weighted_ = d.sample_weight != nullptr;
  measure_bounds();
  EpochStats st = new_stats();
  begin_queued_epoch(d.n / batch_size + (d.n % batch_size != 0));
  const bool resident = queued_ && keep_resident(d);
  if (resident) put(resident_.order, order, d.n);  // the only upload of the epoch
  for (int64_t start = 0; start < d.n; start += batch_size) {
    const bool interrupt = check_interrupt && InterruptGuard::requested();
    if (interrupt && !reducer_) {  // distributed: train_step stops every rank together
      st.interrupted = true;
      break;
    }
    const int64_t rows = std::min(batch_size, d.n - start);
    const BatchShare mine = share(rows);
    try {  // (a host error in a step queued after a stop: see stopped_before_error)
      if (mine.rows > 0) {
        if (resident)
          gather_resident(start, rows);  // (queued steps have no reducer: mine is the whole batch)
        else
          batch_.gather(d, order + start + mine.offset, mine.rows, g_);
      }
      if (!train_step(mine.rows, seed, st, rows, interrupt)) break;
      if (!report_progress(progress, every, st)) break;
    } catch (...) {
      if (stopped_before_error(st)) break;
      throw;
    }
  }
  if (queued_) read_queued(st);
  queued_ = false;
  // A Ctrl-C during the last batch must not be lost when the loop ends by itself.
  if (check_interrupt && InterruptGuard::requested()) st.interrupted = true;
  if (reducer_) sum_over_ranks(st);
  return st;
}

double Trainer::apply_lr_table() {
  const double before = opt_.learning_rate;
  if (!lr_table_.empty()) {
    const int64_t i = std::min<int64_t>(step_ - lr_table_start_, int64_t(lr_table_.size()) - 1);
    opt_.learning_rate = lr_table_[std::max<int64_t>(i, 0)];
  }
  return before;
}

void Trainer::release_resident_data() {
  resident_ = ResidentData{};
  augment_ = DeviceAugment{};
  for (BatchBuffers::Staging& s : batch_.staging) {
    s.uploaded.wait();  // a copy may still read the pinned buffers
    s.raw_x = PinnedBuffer<float>{};
    s.keys = PinnedBuffer<uint64_t>{};
  }
}

bool Trainer::keep_resident(const DataRef& d) {
  // Copied at every epoch (one copy per array): a callback may have changed the arrays in
  // place since the last, and the CPU reads them fresh too. The device buffers are kept while
  // the arrays keep their sizes.
  std::vector<const void*> present(d.xs.begin(), d.xs.end());
  present.insert(present.end(), d.labels.begin(), d.labels.end());
  present.insert(present.end(), d.targets.begin(), d.targets.end());
  present.push_back(d.sample_weight);
  std::vector<const void*> layout;  // which arrays there are (not where)
  for (const void* p : present) layout.push_back(p ? &resident_ : nullptr);
  const int64_t n = d.n;
  if (resident_.n != n || resident_.key != layout) {
    resident_ = ResidentData{};
    int64_t bytes = checked_mul(n, int64_t(sizeof(int64_t)), "data set");
    auto add = [&](int64_t per_sample) { bytes = checked_add(bytes, checked_mul(n, per_sample, "data set"), "data set"); };
    for (size_t i = 0; i < d.xs.size(); ++i) add(checked_mul(g_.input_size(i), int64_t(sizeof(real)), "data set"));
    for (size_t j = 0; j < heads_.size(); ++j) {
      if (d.labels[j]) add(checked_mul(label_steps_[j], int64_t(sizeof(int32_t)), "data set"));
      if (d.targets[j]) add(checked_mul(g_.output_size(j), int64_t(sizeof(real)), "data set"));
    }
    if (d.sample_weight) add(int64_t(sizeof(real)));
    size_t free_bytes = 0, total_bytes = 0;
    require_device_runtime().memory_info(&free_bytes, &total_bytes);
    if (double(bytes) > kResidentShare * double(free_bytes)) return false;
    try {
      resident_.xs.resize(d.xs.size());
      for (size_t i = 0; i < d.xs.size(); ++i) resident_.xs[i].resize(n * g_.input_size(i), device_);
      resident_.labels.resize(heads_.size());
      resident_.targets.resize(heads_.size());
      for (size_t j = 0; j < heads_.size(); ++j) {
        if (d.labels[j]) resident_.labels[j].resize(n * label_steps_[j], device_);
        if (d.targets[j]) resident_.targets[j].resize(n * g_.output_size(j), device_);
      }
      if (d.sample_weight) resident_.sample_weight.resize(n, device_);
      resident_.order.resize(n, device_);
    } catch (const MemoryError&) {  // another process took the memory since: batches stream instead
      resident_ = ResidentData{};
      return false;
    }
    resident_.key = std::move(layout);
    resident_.n = n;
  }
  for (size_t i = 0; i < d.xs.size(); ++i) put(resident_.xs[i], d.xs[i], n * g_.input_size(i));
  for (size_t j = 0; j < heads_.size(); ++j) {
    if (d.labels[j]) put(resident_.labels[j], d.labels[j], n * label_steps_[j]);
    if (d.targets[j]) put(resident_.targets[j], d.targets[j], n * g_.output_size(j));
  }
  if (d.sample_weight) put(resident_.sample_weight, d.sample_weight, n);
  return true;
}

void Trainer::gather_resident(int64_t start, int64_t rows) {
  const int64_t* idx = resident_.order.data() + start;
  for (size_t i = 0; i < resident_.xs.size(); ++i) {
    const int64_t in = g_.input_size(i);
    gather_rows(batch_.xs[i].data(), resident_.xs[i].data(), idx, rows, int64_t(sizeof(real)) * in);
    batch_.views[i] = Matrix<const real>(batch_.xs[i].data(), rows, in);
  }
  for (size_t j = 0; j < heads_.size(); ++j) {
    if (resident_.labels[j].size() > 0)
      gather_rows(batch_.labels[j].data(), resident_.labels[j].data(), idx, rows,
                  int64_t(sizeof(int32_t)) * label_steps_[j]);
    if (resident_.targets[j].size() > 0)
      gather_rows(batch_.targets[j].data(), resident_.targets[j].data(), idx, rows,
                  int64_t(sizeof(real)) * g_.output_size(j));
  }
  if (resident_.sample_weight.size() > 0)
    gather_rows(batch_.sample_weight.data(), resident_.sample_weight.data(), idx, rows, int64_t(sizeof(real)));
}

void Trainer::fill_clock_rates(std::vector<double>& h) const {
  namespace sr = step_results;
  h[sr::kLearningRate] = opt_.learning_rate;
  h[sr::kLrTable] = lr_table_.empty() ? 0.0 : double(lr_table_at_);
  if (lr_table_.empty()) return;
  const int64_t base = int64_t(h[sr::kStepBase]), last = int64_t(lr_table_.size()) - 1;
  for (int64_t k = 0; k < epoch_steps_; ++k)  // apply_lr_table's entry for step base + k
    h[size_t(lr_table_at_ + k)] = lr_table_[size_t(std::clamp<int64_t>(base + k - lr_table_start_, 0, last))];
}

void Trainer::begin_queued_epoch(int64_t steps) {
  namespace sr = step_results;
  queued_ = device_ != Device::CPU && !reducer_;
  step_graph_.reset();  // captured anew each epoch: the epoch's callbacks may have changed anything
  warm_rows_ = 0;
  if (!queued_) return;
  const int64_t heads = int64_t(heads_.size());
  metric_offset_.resize(heads_.size());
  int64_t size = sr::block_size(heads);
  for (size_t j = 0; j < heads_.size(); ++j) {
    metric_offset_[j] = size;
    const int64_t cols = g_.output_size(j) / label_steps_[j];
    size = checked_add(size, kMetricFields + confusion_cells(metric_specs_[j], heads_[j].loss, cols), "metric sums");
  }
  results_read_ = size;
  lr_table_at_ = size;  // then one rate per batch (unused without a schedule)
  epoch_steps_ = steps;
  size = checked_add(size, steps, "learning-rate table");
  results_host_.assign(size_t(size), 0.0);
  results_host_[sr::kStepBase] = double(step_);
  fill_clock_rates(results_host_);
  clock_written_ = clock_version_;
  for (int64_t j = 0; j < heads; ++j) results_host_[sr::head_weight(j)] = heads_[j].weight;
  results_host_[sr::kBoundsKnown] = bounds_.known ? 1.0 : 0.0;
  results_host_[sr::kBounds] = bounds_.params;
  for (int k = 0; k < kMaxSlots; ++k) results_host_[sr::kBounds + 1 + k] = bounds_.slots[k];
  if (results_.size() != size || results_.device() != device_) {
    results_.reset();
    results_.resize(size, device_);
  }
  put(results_, results_host_.data(), size);
  queued_steps_ = read_batches_ = 0;
  step_at_read_ = step_;
  lr_at_read_ = opt_.learning_rate;
  queued_lrs_.clear();
}

bool Trainer::stopped_before_error(EpochStats& st) {
  if (!queued_) return false;
  if (!read_queued(st)) return true;  // (which raises the earlier step's own error, if it has one)
  queued_ = false;
  return false;
}

bool Trainer::read_queued(EpochStats& st) {
  namespace sr = step_results;
  const std::vector<double>& h = results_host_;
  copy_bytes(results_host_.data(), Device::CPU, results_.data(), device_, sizeof(double) * size_t(results_read_));
  st.loss_sum = h[sr::kLossSum];
  st.samples = int64_t(h[sr::kSamples]);
  st.batches = int64_t(h[sr::kBatches]);
  for (size_t j = 0; j < heads_.size(); ++j) {
    HeadStats& hs = st.heads[j];
    hs.loss_sum = h[sr::head_loss_sum(int64_t(j))];
    const int64_t at = metric_offset_[j];
    const int64_t end = j + 1 < heads_.size() ? metric_offset_[j + 1] : results_read_;
    metric_sums_from_flat(h.data() + at, end - at - kMetricFields, hs.accuracy, hs.metrics);
  }
  const int64_t committed = st.batches - read_batches_;  // since the last read
  if (h[sr::kStop] == sr::kRunning) {
    read_batches_ = st.batches;
    step_at_read_ = step_;
    lr_at_read_ = opt_.learning_rate;
    queued_lrs_.clear();
    return true;
  }
  // The steps queued after the one that stopped changed nothing: the count and the learning
  // rate go back to the last committed step's, as the CPU loop, which stops there, leaves them.
  step_ = step_at_read_ + committed;
  if (!lr_table_.empty()) opt_.learning_rate = committed > 0 ? queued_lrs_[size_t(committed - 1)] : lr_at_read_;
  queued_ = false;
  if (h[sr::kStop] == sr::kZeroWeight) throw ValueError("loss: the weights of this batch sum to zero");
  if (h[sr::kStop] == sr::kBadInput) {  // Embedding's message on the CPU
    std::string who = "a layer";
    for (size_t i = 0; i < g_.num_layers(); ++i)
      if (double(layer_tag(g_.layer(i))) == h[sr::kStopTag]) who = g_.layer(i).label();
    throw ValueError(who + ": id " + std::to_string(real(h[sr::kStopValue])) + " at flat position " +
                     std::to_string(int64_t(h[sr::kStopPosition])) + " is not an integer in [0, " +
                     std::to_string(int64_t(h[sr::kStopLimit])) + ")");
  }
  st.nonfinite_batch = int64_t(h[sr::kStopBatch]);
  st.nonfinite_update = h[sr::kStop] == sr::kUpdateNonfinite;
  return false;
}

namespace {
std::atomic<bool>& step_graphs_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("PYDL_CUDA_GRAPHS");
    return !(v && std::strcmp(v, "0") == 0);
  }()};
  return on;
}
// A capture pays for itself over a few replays (instantiating one costs about a step's launches).
constexpr int64_t kMinReplays = 2;
}  // namespace

void set_step_graphs(bool on) { step_graphs_flag().store(on); }
bool step_graphs() { return step_graphs_flag().load(); }

void Trainer::step_graph_key(int64_t rows, std::vector<uint64_t>& k) const {
  k.clear();
  auto add = [&k](const void* p) { k.push_back(uint64_t(reinterpret_cast<uintptr_t>(p))); };
  auto add_double = [&k](double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    k.push_back(bits);
  };
  k.push_back(uint64_t(rows));
  k.push_back(uint64_t(g_.planned_batch()));
  k.push_back(device_scratch_generation());
  add(g_.param_data());
  add(const_cast<Graph&>(g_).grad_data());
  add(results_.data());
  for (int i = 0; i < slots(); ++i) add(slots_[size_t(i)].data());
  for (const Buffer<real>& b : batch_.xs) add(b.data());
  for (const Buffer<real>& b : batch_.targets) add(b.data());
  for (const Buffer<int32_t>& b : batch_.labels) add(b.data());
  add(batch_.sample_weight.data());
  add(batch_.token_weight.data());
  add(batch_.loss_ws.data());
  k.push_back(sample_weighted_ ? 1 : 0);
  for (const Buffer<real>& b : class_weights_dev_) add(b.data());
  for (const Buffer<real>& b : pos_weight_dev_) add(b.data());
  for (const ParamRange& r : frozen_) {
    k.push_back(uint64_t(r.offset));
    k.push_back(uint64_t(r.size));
  }
  // The optimizer as its kernels' arguments hold it (the rate comes from the clock).
  k.push_back(uint64_t(opt_.kind));
  for (double v : {opt_.momentum, opt_.weight_decay, opt_.beta_1, opt_.beta_2, opt_.epsilon, opt_.rho,
                   opt_.initial_accumulator_value, opt_.clipnorm})
    add_double(v);
  k.push_back((opt_.nesterov ? 1 : 0) | (opt_.centered ? 2 : 0));
}

bool Trainer::step_graph_valid(int64_t rows) const {
  if (step_graph_.empty() || step_graph_.scratch_generation() != device_scratch_generation()) return false;
  step_graph_key(rows, key_now_);
  return step_graph_key_ == key_now_;
}

bool Trainer::queue_step(int64_t rows, uint64_t seed) {
  bool graphable = step_graphs() && !graphs_refused_ && device_ != Device::CPU;
  for (const HeadConfig& h : heads_) graphable = graphable && !h.custom;  // host code in the step
  if (graphable && rows == warm_rows_ && step_graph_valid(rows)) {
    step_graph_.launch();
  } else if (graphable && rows == warm_rows_ && epoch_steps_ - queued_steps_ > kMinReplays) {
    // The previous full step ran uncaptured at these rows: every buffer and the scratch are sized.
    bool captured = false;
    try {
      DeviceGraph::begin_capture();
      queue_step_kernels(rows, seed);
      step_graph_.end_capture();
      captured = true;
    } catch (...) {  // not capturable (a kernel that reads back, or allocates): steps one by one
      DeviceGraph::abort_capture();
      step_graph_.reset();
      graphs_refused_ = true;
    }
    if (captured) {
      step_graph_key(rows, step_graph_key_);
      step_graph_.launch();
    } else {
      queue_step_kernels(rows, seed);  // (which raises the step's own error, if it has one)
    }
  } else {
    queue_step_kernels(rows, seed);
    // A full batch (only the epoch's last can be smaller, and it never warms): the next one at
    // these rows is captured. (Not g_.planned_batch(): an earlier, larger fit may have planned.)
    if (graphable && rows >= warm_rows_) {
      step_graph_.reset();  // stale, if there was one
      warm_rows_ = rows;
    }
  }
  apply_lr_table();  // the host's copy of the clock's rate (read_queued's rollback)
  queued_lrs_.push_back(opt_.learning_rate);
  ++step_;  // taken back by read_queued if this step or an earlier one stopped training
  ++queued_steps_;
  return true;
}

void Trainer::queue_step_kernels(int64_t rows, uint64_t seed) {
  namespace sr = step_results;
  const int64_t n_params = g_.num_params();
  double* block = results_.data();
  // The step number here serves nothing in a queued step: its kernels read the block's clock.
  StepInfo info{true, seed, uint64_t(step_ + 1), true};
  info.step_results = block;
  g_.forward(batch_.views, info);
  for (size_t j = 0; j < heads_.size(); ++j) {  // batch_loss's steps, their results left on the device
    const int64_t steps = label_steps_[j];
    const uint8_t* mask = steps > 1 ? g_.output_mask(j) : nullptr;
    Matrix<const real> out = tokens_of(loss_input(g_, fused_, j), steps);
    Matrix<real> grad = tokens_of(fused_[j] ? g_.output_logits_grad(j) : g_.output_grad(j), steps);
    Matrix<const real> targets(batch_.targets[j].data(), rows, out.cols);
    const int32_t* labels = batch_.labels[j].data();
    LossArgs<real> args = loss_args_[j];
    args.sample_weights = head_token_weights(batch_, mask, rows, steps, sample_weighted_);
    double* loss = block + sr::head_step_loss(int64_t(j));
    if (heads_[j].custom) {  // a Python loss: host code, so this head waits for the device
      const double v = head_loss(g_, batch_, j, grad, out, targets, args);
      copy_bytes(loss, device_, &v, Device::CPU, sizeof(v));
    } else {
      loss_forward_backward_into<real>(loss, block, grad, batch_.loss_ws.data(), out, labels, targets, args);
    }
    if (heads_[j].weight != 1.0) scale_values(grad.data, grad.size(), real(heads_[j].weight));
    metrics_into<real>(block + metric_offset_[j], block, metric_specs_[j], out, labels, targets, heads_[j].loss,
                       args.from_logits, mask);
  }
  queue_penalty(block + step_results::kPenalty);
  check_step_loss(block, int64_t(heads_.size()));
  g_.zero_grads();
  real* grads = g_.grad_data();
  g_.backward(&fused_);
  add_penalty_gradient(grads);
  if (opt_.clipnorm > 0) {
    for (const ParamRange& r : frozen_) require_device_runtime().fill_bytes(grads + r.offset, 0, sizeof(real) * size_t(r.size));
    clip_by_global_norm_queued<real>(grads, n_params, opt_.clipnorm);
  }
  optimizer_step_into<real>(block, g_.param_data(), grads, slot_ptrs(), n_params, opt_, &frozen_);
  commit_step(block, int64_t(heads_.size()), rows);
}

bool Trainer::train_step(int64_t rows, uint64_t seed, EpochStats& st, int64_t global_rows, bool interrupt) {
  if (queued_) return queue_step(rows, seed);
  const int64_t n_params = g_.num_params();
  StepInfo info{true, seed, uint64_t(step_ + 1), true};
  if (global_rows >= 0) info.row_offset = share(global_rows).offset;
  info.ranks = reducer_.get();
  double loss = 0;
  if (rows > 0) {
    g_.forward(batch_.views, info);
    loss = batch_loss(g_, batch_, rows, true, &st, metric_specs_);
  } else {  // distributed: a batch smaller than the ranks left this one nothing
    g_.forward_without_rows(info);  // but its layers' collectives
    std::fill(head_losses_.begin(), head_losses_.end(), 0.0);
    std::fill(head_weights_.begin(), head_weights_.end(), 0.0);
  }
  if (reducer_ && !sync_step(loss, rows, interrupt, st)) return false;
  loss += penalty();  // the same on every rank: added once, after the ranks' losses are combined
  if (!std::isfinite(loss)) {
    // Stop before the update: the model keeps its last finite weights.
    st.nonfinite_batch = st.batches;
    return false;
  }
  g_.zero_grads();
  real* grads = g_.grad_data();
  if (reducer_) {
    reducer_->begin_gradients(grads, n_params);
    g_.backward(&fused_, &node_done_);  // without rows: the same collectives and bucket order
    grads = reducer_->finish_gradients();  // the sum over ranks: the global batch's gradient
  } else {
    g_.backward(&fused_);
  }
  add_penalty_gradient(grads);
  if (opt_.clipnorm > 0) {
    // Frozen parameters take no part in the norm (PyTorch and Keras clip the trainable ones).
    for (const ParamRange& r : frozen_) {
      if (device_ == Device::CPU)
        std::fill(grads + r.offset, grads + r.offset + r.size, 0.0f);
      else
        require_device_runtime().fill_bytes(grads + r.offset, 0, sizeof(real) * size_t(r.size));
    }
    clip_by_global_norm<real>(grads, n_params, opt_.clipnorm);
  }
  const double lr_before = apply_lr_table();
  if (!optimizer_step<real>(g_.param_data(), grads, slot_ptrs(), n_params, opt_, step_ + 1, &bounds_,
                             &frozen_)) {
    // Refused: weights, moments, step and learning rate stay those of the last finite step.
    opt_.learning_rate = lr_before;
    st.nonfinite_batch = st.batches;
    st.nonfinite_update = true;
    return false;
  }
  ++step_;
  add_losses(st, loss, head_losses_, global_rows < 0 ? rows : global_rows);
  return true;
}

void Trainer::set_reducer(std::shared_ptr<GradientReducer> reducer) {
  UseGate::Exclusive use(g_.gate(), "set_reducer");
  if (reducer && g_.device() != Device::CPU)
    throw ValueError("data-parallel training (pydl.distributed) runs on the CPU only in this version of pydl; "
                     "move the model to the CPU first");
  reducer_ = std::move(reducer);
  final_after_.assign(g_.num_nodes(), {});
  // Backward visits a layer's first node last: its gradients are final after that one.
  for (size_t i = 0; i < g_.num_layers(); ++i)
    for (int e : g_.layer_param_entries(i)) {
      const ParamEntry& p = g_.params()[size_t(e)];
      if (p.spec.trainable && p.size > 0) final_after_[g_.first_node(i)].push_back({p.offset, p.size});
    }
  node_done_ = [this](size_t k) {
    for (const ParamRange& r : final_after_[k]) reducer_->gradients_ready(r.offset, r.size);
  };
}

bool Trainer::sync_step(double& loss, int64_t rows, bool interrupt, EpochStats& st) {
  const size_t h = heads_.size();
  sync_.resize(1 + 2 * h);  // the same size every step: allocated once
  sync_[0] = interrupt ? 1.0 : 0.0;
  for (size_t j = 0; j < h; ++j) {
    sync_[1 + 2 * j] = head_weights_[j];
    sync_[2 + 2 * j] = head_weights_[j] * head_losses_[j];  // a NaN loss stays NaN in the sum
  }
  reducer_->sum(sync_.data(), int64_t(sync_.size()));
  if (sync_[0] > 0) {
    st.interrupted = true;
    return false;
  }
  // The global loss of head j is sum_r W_r L_r / W, so its gradient is sum_r (W_r / W) dL_r:
  // each rank scales its loss gradient by W_r / W and the all-reduce sums.
  loss = 0;
  for (size_t j = 0; j < h; ++j) {
    const double W = sync_[1 + 2 * j], WL = sync_[2 + 2 * j];
    head_losses_[j] = W > 0 || !std::isfinite(WL) ? WL / (W > 0 ? W : 1.0) : 0.0;
    loss += heads_[j].weight * head_losses_[j];
    if (rows == 0 || !std::isfinite(WL)) continue;
    const real scale = W > 0 ? real(heads_[j].weight * head_weights_[j] / W) : 0.0f;
    Matrix<real> grad = fused_[j] ? g_.output_logits_grad(j) : g_.output_grad(j);
    scale_values(grad.data, grad.size(), scale);
  }
  return true;
}

void Trainer::sum_over_ranks(EpochStats& st) const {
  // One sum of every count as doubles (exact below 2**53). A rank that saw no rows has no
  // confusion matrix yet: it is sized as accumulate_metrics would.
  std::vector<double> v;
  for (size_t j = 0; j < heads_.size(); ++j) {
    HeadStats& h = st.heads[j];
    MetricSums& m = h.metrics;
    const LossKind k = heads_[j].loss;
    const int64_t classes = is_softmax_loss(k) ? g_.output_size(j) : 2;
    if (metric_specs_[j].confusion && is_classification(k) && m.confusion.empty()) m.confusion.assign(classes * classes, 0);
    v.insert(v.end(), {double(h.accuracy.correct), double(h.accuracy.total), double(m.top_k_correct),
                       double(m.top_k_total), m.sq_err, m.abs_err, m.sum_t, m.sum_t2, double(m.count), m.nll,
                       double(m.nll_count)});
    for (int64_t c : m.confusion) v.push_back(double(c));
  }
  reducer_->sum(v.data(), int64_t(v.size()));
  size_t i = 0;
  for (size_t j = 0; j < heads_.size(); ++j) {
    HeadStats& h = st.heads[j];
    MetricSums& m = h.metrics;
    h.accuracy.correct = int64_t(v[i++]);
    h.accuracy.total = int64_t(v[i++]);
    m.top_k_correct = int64_t(v[i++]);
    m.top_k_total = int64_t(v[i++]);
    m.sq_err = v[i++];
    m.abs_err = v[i++];
    m.sum_t = v[i++];
    m.sum_t2 = v[i++];
    m.count = int64_t(v[i++]);
    m.nll = v[i++];
    m.nll_count = int64_t(v[i++]);
    for (int64_t& c : m.confusion) c = int64_t(v[i++]);
  }
}

EpochStats Trainer::end_epoch() const {
  EpochStats st = open_epoch_;
  if (reducer_) sum_over_ranks(st);
  return st;
}

EpochStats Trainer::fit_epoch_loader(ArrayLoader& loader, const DataRef& d, uint64_t seed, uint64_t epoch,
                                     const ProgressFn& progress, int64_t every, bool check_interrupt) {
  if (g_.num_inputs() != 1) throw ValueError("fit: a DataLoader feeds models with one input");
  if (loader.size() != d.n) throw ValueError("fit: the loader and the targets differ in length");
  if (checked_product(loader.output_shape(), "loader samples") != g_.input_size())
    throw ValueError("fit: the loader's samples do not match the model's input size");
  DataRef with_x = d;
  with_x.xs.assign(1, nullptr);  // the loader supplies x
  check_data(with_x, "fit");
  UseGate::Exclusive use(g_.gate(), "fit");
  follow_graph();
  DeviceScope scope(g_.device(), g_.device_ordinal());
  sample_weighted_ = d.sample_weight != nullptr;
  measure_bounds();
  EpochStats st = new_stats();
  begin_queued_epoch(loader.batches_per_epoch());
  // On a device the loader leaves its augmentation to the device (the same draws, keyed alike).
  const bool augment_here = device_ != Device::CPU && !loader.pipeline().empty();
  loader.start_epoch(epoch, augment_here);
  struct StopAtExit {  // also when a step throws: the loader's thread never outlives the epoch
    ArrayLoader& l;
    ~StopAtExit() { l.stop(); }
  } stop_at_exit{loader};
  for (;;) {
    try {  // (a host error in a step queued after a stop: see stopped_before_error)
      const LoaderBatch* b = loader.next();
      if (!b) break;
      const bool interrupt = check_interrupt && InterruptGuard::requested();
      if (interrupt && !reducer_) {
        st.interrupted = true;
        break;
      }
      plan(b->rows);
      const BatchShare mine = share(b->rows);  // the loader makes the global batch; this rank's rows
      const int64_t* indices = b->indices.data() + mine.offset;
      if (batch_.device != Device::CPU) batch_.next_staging();
      for (size_t j = 0; j < heads_.size(); ++j) {
        const int64_t out = g_.output_size(j);
        int32_t* ls = batch_.label_dst(j);
        real* ts = batch_.target_dst(j);
        for (int64_t r = 0; r < mine.rows; ++r) {
          const int64_t i = indices[r];
          const int64_t st = label_steps_[j];
          if (d.labels[j]) std::copy(d.labels[j] + i * st, d.labels[j] + (i + 1) * st, ls + r * st);
          if (d.targets[j]) std::copy(d.targets[j] + i * out, d.targets[j] + (i + 1) * out, ts + r * out);
        }
      }
      if (d.sample_weight) {
        real* sw = batch_.sample_weight_dst();
        for (int64_t r = 0; r < mine.rows; ++r) sw[r] = d.sample_weight[indices[r]];
      }
      if (batch_.device == Device::CPU) {
        batch_.views[0] = loader_rows(*b, mine.offset, mine.rows, g_.input_size(), batch_.xs[0]);
      } else {  // the loader's batch is host memory: copied to the device with the targets
        if constexpr (std::is_same_v<real, float>) {
          const int64_t cols = g_.input_size();
          if (augment_here) {
            augment_on_device(loader, *b, mine, d);
          } else {
            std::memcpy(batch_.x_dst(0), b->x.data() + mine.offset * cols, sizeof(real) * size_t(mine.rows * cols));
            batch_.upload(d, mine.rows, g_);
          }
          batch_.views[0] = Matrix<const real>(batch_.xs[0].data(), mine.rows, cols);
        }
      }
      if (!train_step(mine.rows, seed, st, b->rows, interrupt)) break;
      if (!report_progress(progress, every, st)) break;
    } catch (...) {
      if (stopped_before_error(st)) break;
      throw;
    }
  }
  if (queued_) read_queued(st);
  queued_ = false;
  if (check_interrupt && InterruptGuard::requested()) st.interrupted = true;
  if (reducer_) sum_over_ranks(st);
  return st;
}

namespace {
// The pipeline is float code; the float64 engine never runs on a device (nor gets here).
template <typename R>
void apply_pipeline(const AugmentPipeline& p, R* out, const float* in, int64_t n, uint64_t seed, const uint64_t* keys,
                    float* scratch) {
  if constexpr (std::is_same_v<R, float>)
    p.apply(out, in, n, seed, keys, scratch);
  else
    throw std::logic_error("augmentation on a device runs in float32 only");
}
}  // namespace

void Trainer::augment_on_device(const ArrayLoader& loader, const LoaderBatch& b, const BatchShare& mine,
                                const DataRef& d) {
  const AugmentPipeline& pipeline = loader.pipeline();
  const int64_t in = loader.input_sample_size(), rows = mine.rows;
  const int64_t values = checked_mul(rows, in, "loader batch");
  BatchBuffers::Staging& s = batch_.staging[batch_.slot];  // next_staging ran: its copies are done
  s.raw_x.resize(values);
  s.keys.resize(rows);
  std::memcpy(s.raw_x.data(), b.x.data() + mine.offset * in, sizeof(float) * size_t(values));
  std::memcpy(s.keys.data(), b.keys.data() + mine.offset, sizeof(uint64_t) * size_t(rows));
  augment_.raw.resize(values, device_);
  augment_.keys.resize(rows, device_);
  augment_.scratch.resize(pipeline.scratch_size(rows), device_);
  copy_bytes(augment_.raw.data(), device_, s.raw_x.data(), Device::CPU, sizeof(float) * size_t(values));
  copy_bytes(augment_.keys.data(), device_, s.keys.data(), Device::CPU, sizeof(uint64_t) * size_t(rows));
  batch_.upload(d, rows, g_, /*with_x=*/false);  // the targets, and the event behind all of it
  apply_pipeline(pipeline, batch_.xs[0].data(), augment_.raw.data(), rows, loader.seed(), augment_.keys.data(),
                 augment_.scratch.data());
}

bool Trainer::train_batch(const DataRef& d, uint64_t seed) {
  check_data(d, "fit");
  UseGate::Exclusive use(g_.gate(), "fit");
  follow_graph();
  DeviceScope scope(g_.device(), g_.device_ordinal());
  plan(d.n);
  measure_bounds();  // Python ran since the last batch and may have written the weights
  const BatchShare mine = share(d.n);  // distributed: d is the global batch
  const int64_t off = mine.offset, rows = mine.rows;
  for (size_t i = 0; i < g_.num_inputs(); ++i) {
    const int64_t in = g_.input_size(i);
    if (batch_.device == Device::CPU) {  // read in place
      batch_.views[i] = Matrix<const real>(d.xs[i] + off * in, rows, in);
    } else {
      put(batch_.xs[i], d.xs[i] + off * in, rows * in);
      batch_.views[i] = Matrix<const real>(batch_.xs[i].data(), rows, in);
    }
  }
  // The rows are contiguous: one copy per array (a memcpy on the CPU).
  for (size_t j = 0; j < heads_.size(); ++j) {
    const int64_t out = g_.output_size(j), st = label_steps_[j];
    if (d.labels[j]) put(batch_.labels[j], d.labels[j] + off * st, rows * st);
    if (d.targets[j]) put(batch_.targets[j], d.targets[j] + off * out, rows * out);
  }
  sample_weighted_ = d.sample_weight != nullptr;
  if (d.sample_weight) put(batch_.sample_weight, d.sample_weight + off, rows);
  if (open_epoch_.heads.size() != heads_.size()) open_epoch_ = new_stats();
  queued_ = false;  // Python made the batch and wants its verdict now
  return train_step(rows, seed, open_epoch_, d.n);
}

EpochStats Trainer::evaluate(const DataRef& d, int64_t batch_size, const std::vector<MetricSpec>& metrics) {
  if (d.n < 1) throw ValueError("evaluate: the data is empty");
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  if (metrics.size() != heads_.size()) throw ValueError("evaluate: expected one metric spec per output");
  check_data(d, "evaluate");
  UseGate::Shared use(g_.gate(), "evaluate");
  DeviceScope scope(g_.device(), g_.device_ordinal());
  Graph::Lease lease(g_);
  Graph& g = lease.graph();
  const int64_t planned = std::min(batch_size, d.n);
  g.plan(planned);
  BatchBuffers b;  // per call: concurrent evaluations share nothing
  b.plan(planned, g, &label_steps_);
  EpochStats st = new_stats();
  std::vector<double> head_losses(heads_.size());
  // The weights do not change during evaluate. (The trainer's own slots and batch buffers are
  // not used here: they follow the graph at the next training call.)
  const double reg = penalty();
  for (int64_t start = 0; start < d.n; start += batch_size) {
    const int64_t rows = std::min(batch_size, d.n - start);
    for (int64_t r = 0; r < rows; ++r) b.order.data()[r] = start + r;
    b.gather(d, b.order.data(), rows, g);
    g.forward(b.views, StepInfo{});
    double total = reg;
    for (size_t j = 0; j < heads_.size(); ++j) {  // as batch_loss, without shared state
      const int64_t steps = label_steps_[j];
      const uint8_t* mask = steps > 1 ? g.output_mask(j) : nullptr;
      Matrix<const real> out = tokens_of(loss_input(g, fused_, j), steps);
      Matrix<const real> targets(b.targets[j].data(), rows, out.cols);
      LossArgs<real> args = loss_args_[j];
      args.sample_weights = head_token_weights(b, mask, rows, steps, d.sample_weight != nullptr);
      const Matrix<real> no_grad(nullptr, out.rows, out.cols);
      head_losses[j] = head_loss(g, b, j, no_grad, out, targets, args);
      total += heads_[j].weight * head_losses[j];
      HeadStats& h = st.heads[j];
      AccuracyCount a = accuracy_count<real>(out, b.labels[j].data(), targets, heads_[j].loss, args.from_logits,
                                              mask);
      h.accuracy.correct += a.correct;
      h.accuracy.total += a.total;
      accumulate_metrics<real>(h.metrics, metrics[j], out, b.labels[j].data(), targets, heads_[j].loss,
                                args.from_logits, mask);
    }
    add_losses(st, total, head_losses, rows);
  }
  return st;
}

void predict(Graph& owner, const std::vector<const real*>& xs, int64_t n, int64_t batch_size,
             const std::vector<real*>& outs) {
  if (batch_size < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(batch_size));
  if (xs.size() != owner.num_inputs() || outs.size() != owner.num_outputs())
    throw ValueError("predict: expected one array per model input and output");
  if (n < 1) return;
  UseGate::Shared use(owner.gate(), "predict");
  const Device dev = owner.device();
  DeviceScope scope(dev, owner.device_ordinal());
  Graph::Lease lease(owner);
  Graph& g = lease.graph();
  const int64_t planned = std::min(batch_size, n);
  g.plan(planned);
  std::vector<Matrix<const real>> views(xs.size());
  std::vector<Buffer<real>> staged(dev == Device::CPU ? 0 : xs.size());  // per call: predicts run concurrently
  for (size_t i = 0; i < staged.size(); ++i) staged[i].resize(checked_mul(planned, g.input_size(i), "predict batch"), dev);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t rows = std::min(batch_size, n - start);
    // Rows of each x are contiguous: the batch is read in place (on a device: one copy).
    for (size_t i = 0; i < xs.size(); ++i) {
      const int64_t in = g.input_size(i);
      const real* x = xs[i] + start * in;
      if (dev != Device::CPU) {
        copy_bytes(staged[i].data(), dev, x, Device::CPU, sizeof(real) * size_t(rows * in));
        x = staged[i].data();
      }
      views[i] = Matrix<const real>(x, rows, in);
    }
    g.forward(views, StepInfo{});
    for (size_t j = 0; j < outs.size(); ++j) {
      const int64_t on = g.output_size(j);
      copy_bytes(outs[j] + start * on, Device::CPU, g.output(j).data, dev, sizeof(real) * size_t(rows * on));
    }
  }
}

double Trainer::loss_and_gradients(const DataRef& d, bool training, uint64_t seed) {
  if (d.n < 1) throw ValueError("loss_and_gradients: the data is empty");
  check_data(d, "loss_and_gradients");
  UseGate::Exclusive use(g_.gate(), "loss_and_gradients");
  follow_graph();
  DeviceScope scope(g_.device(), g_.device_ordinal());
  plan(d.n);
  order_all_.resize(d.n, Device::CPU);
  for (int64_t i = 0; i < d.n; ++i) order_all_.data()[i] = i;
  batch_.gather(d, order_all_.data(), d.n, g_);
  sample_weighted_ = d.sample_weight != nullptr;
  g_.forward(batch_.views, StepInfo{training, seed, uint64_t(step_ + 1), true});
  const double loss = batch_loss(g_, batch_, d.n, true, nullptr, metric_specs_);
  g_.zero_grads();
  g_.backward(&fused_);
  add_penalty_gradient(g_.grad_data());
  return loss + penalty();
}

}  // namespace pydl

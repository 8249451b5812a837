// Trainer: runs whole epochs in C++ (gather a batch, forward, loss, backward, clip, one
// fused optimizer step), evaluation and prediction, over arrays the caller owns.
// Nothing is allocated per step: buffers are sized once per batch size, never beyond the data.
// Training holds the graph's gate exclusively; evaluate and predict hold it shared and run on
// a leased replica of the graph with buffers of their own (see graph.h).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "core/buffer.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optim.h"
#include "data/loader.h"
#include "nn/graph.h"

namespace pydl {

// A data set the caller owns: x is (n, input_size) float32; labels (n,) int32 for
// cross-entropy, or targets (n, output_size) float32 for the other losses.
struct DataRef {
  const float* x = nullptr;
  int64_t n = 0;
  const int32_t* labels = nullptr;
  const float* targets = nullptr;
};

struct EpochStats {
  double loss_sum = 0;      // sum over batches of (batch loss * batch samples)
  int64_t samples = 0;      // samples seen
  AccuracyCount accuracy;   // accumulated over batches
  MetricSums metrics;       // what the MetricSpec asked for
  int64_t batches = 0;      // completed optimizer steps (or evaluated batches)
  bool interrupted = false; // Ctrl-C: stopped at a batch boundary
  int64_t nonfinite_batch = -1;  // first batch whose loss was NaN or Inf (training stops there)
  // The same batch, when its loss was finite but its update would have made a weight or an
  // optimizer moment NaN or Inf (the update was refused).
  bool nonfinite_update = false;
  double mean_loss() const { return samples ? loss_sum / double(samples) : 0.0; }
};

// Called every `every` batches with (batches done, running mean loss); at batch boundaries.
using ProgressFn = std::function<void(int64_t, double)>;

// Inference over n samples in batches (no dropout); out is (n, output_size).
void predict(Graph& graph, const float* x, int64_t n, int64_t batch_size, float* out);

// One batch's inputs and targets, and the loss workspace, for up to `planned` rows.
struct BatchBuffers {
  Buffer<float> x, targets;
  Buffer<int32_t> labels;
  Buffer<double> loss_ws;
  Buffer<int64_t> order;
  int64_t planned = 0;
  void plan(int64_t rows, const Graph& g);
  // Copies rows idx[0..rows) of the data set into the batch buffers.
  void gather(const DataRef& d, const int64_t* idx, int64_t rows, const Graph& g);
};

class Trainer {
 public:
  Trainer(Graph& graph, LossKind loss, std::vector<float> class_weights, double label_smoothing,
          OptimizerConfig optimizer);

  EpochStats fit_epoch(const DataRef& data, int64_t batch_size, bool shuffle, uint64_t seed,
                       uint64_t epoch, const ProgressFn& progress, int64_t every,
                       bool check_interrupt);
  // An epoch over a loader's batches; labels / targets come from `targets_of` (x unused).
  EpochStats fit_epoch_loader(ArrayLoader& loader, const DataRef& targets_of, uint64_t seed, uint64_t epoch,
                              const ProgressFn& progress, int64_t every, bool check_interrupt);
  // Epochs whose batches the caller makes (custom data sets): begin, one train_batch per
  // batch (an optimizer step; loss and metrics accumulate as in fit_epoch), end.
  void begin_epoch() { open_epoch_ = EpochStats(); }
  // Returns false (nothing changed) when the loss is not finite.
  bool train_batch(const float* x, int64_t rows, const int32_t* labels, const float* targets, uint64_t seed);
  EpochStats end_epoch() { return open_epoch_; }
  // Safe beside other evaluate/predict calls: a replica of the graph, buffers of its own.
  EpochStats evaluate(const DataRef& data, int64_t batch_size, const MetricSpec& metrics);
  EpochStats evaluate(const DataRef& data, int64_t batch_size) { return evaluate(data, batch_size, metric_spec_); }
  // Loss of the whole data set as one batch; leaves d loss / d params in graph.grad_data().
  double loss_and_gradients(const DataRef& data, bool training, uint64_t seed);

  // Replaces the loss's class weights (empty: none); checked like the constructor's.
  void set_class_weights(std::vector<float> w);
  const std::vector<float>& class_weights() const { return class_weights_; }
  void set_metrics(const MetricSpec& m) { metric_spec_ = m; }
  const MetricSpec& metrics() const { return metric_spec_; }
  Graph& graph() { return g_; }
  int64_t num_params() const { return g_.num_params(); }
  const OptimizerConfig& optimizer() const { return opt_; }
  // Throws ValueError unless lr is finite and >= 0.
  void set_learning_rate(double lr);
  // Learning rates for the next steps, one per step (a schedule evaluated ahead of the epoch);
  // after the last entry the last one stays. Cleared by set_learning_rate. Checked like it.
  void set_lr_table(std::vector<double> table);
  int64_t step() const { return step_; }
  void set_step(int64_t s);
  int slots() const { return optimizer_slots(opt_); }
  float* slot_data(int i) { return i == 0 ? slot0_.data() : slot1_.data(); }

 private:
  void plan(int64_t batch_size);
  // The weights' and moments' magnitudes, for optimizer_step's cheap finiteness proof.
  void measure_bounds();
  // Calls progress every `every` batches, then re-measures the bounds.
  void report_progress(const ProgressFn& progress, int64_t every, const EpochStats& st);
  // The loss of `out` against the targets in b; d loss / d out into g's output gradient when
  // with_grad; metrics into st when given.
  double batch_loss(Graph& g, BatchBuffers& b, Matrix<const float> out, int64_t rows, bool with_grad,
                    EpochStats* st, const MetricSpec& metrics);
  // Forward, loss, backward, clip and update on x (rows samples) with batch_'s labels/targets filled.
  // Returns false (and changes nothing) when the loss is not finite.
  bool train_step(const float* x, int64_t rows, uint64_t seed, EpochStats& st);

  Graph& g_;
  LossKind loss_;
  std::vector<float> class_weights_;
  LossArgs<float> loss_args_;
  OptimizerConfig opt_;
  int64_t step_ = 0;
  Buffer<float> slot0_, slot1_;
  UpdateBounds bounds_;
  BatchBuffers batch_;        // training's own
  Buffer<int64_t> order_all_;  // the epoch's sample order
  MetricSpec metric_spec_;
  EpochStats open_epoch_;
  std::vector<double> lr_table_;
  int64_t lr_table_start_ = 0;
};

}  // namespace pydl

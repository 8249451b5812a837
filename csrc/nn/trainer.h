// Trainer: runs whole epochs in C++ (gather a batch, forward, the losses of every output,
// backward, clip, one fused optimizer step), evaluation and prediction, over arrays the
// caller owns. A model with several outputs has one head per output: its loss, class
// weights, loss weight and metrics; the training loss is the weighted sum of the heads'.
// Nothing is allocated per step: buffers are sized once per batch size, never beyond the data.
// Weight regularizers (ParamSpec l1, l2: Keras' convention l1 * sum|w| + l2 * sum w^2) are
// added here, once per weight however many nodes share it, to the total loss of training,
// evaluate and loss_and_gradients, and their gradient to the weight gradients before clipping;
// frozen weights carry no penalty (Keras counts trainable weights' only). Per-output losses
// leave them out, as Keras'.
// Training holds the graph's gate exclusively; evaluate and predict hold it shared and run on
// a leased replica of the graph with buffers of their own (see graph.h).
// Devices: the trainer runs where its graph is (Graph::to). Its optimizer slots and batch
// buffers live there too (follow_graph moves them); each batch is gathered on the host into
// staging memory (pinned, core/pinned.h) and copied to the device in one call per array;
// the kernels then run on the device (a DeviceScope of the graph's device around every entry
// point). fit's epochs queue their steps without waiting for the device: losses, metric sums,
// the non-finite checks and the optimizer's verdict stay in a step-results block there
// (kernels/step_results.h), which the host reads at progress intervals and at the epoch's end
// (queue_step, read_queued). Steps queued after one that stopped training change nothing, so
// the model keeps its last finite step as on the CPU (BatchNormalization's moving statistics
// included: StepInfo::step_results). Host-side steps that have no device kernel yet go
// through explicit copies, each a synchronisation: a custom (Python) loss.
// An Embedding id out of range stops a queued step too (StepInfo::step_results).
// train_batch (batches made in Python) reads its step's results at once. fit's arrays are
// copied to the device at each epoch's start when they take at most kResidentShare of the free
// device memory (ResidentData), and every batch is gathered there; otherwise each batch is
// gathered on the host into one of two pinned staging sets in turn and uploaded while the
// previous step runs. A loader's augmentation runs on the device (augment_on_device).
// CUDA graphs (queue_step): the kernels of a queued step read its batch, optimizer step and
// learning rate from the step-results block (kernels/step_results.h's clock), so the step of a
// full batch is captured once per epoch as a CUDA graph, at the second full batch (the first,
// run as usual, sizes every buffer and the kernels' scratch), and replayed for the rest; the
// batch's gather or upload is queued before each launch, outside the graph, and the last partial
// batch runs uncaptured. A custom (Python) loss, a failed capture, or step_graphs() off: no
// graph. Data-parallel training on a device is refused.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "core/pinned.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optim.h"
#include "data/loader.h"
#include "nn/graph.h"
#include "nn/gradient_reducer.h"

namespace pydl {

// A data set the caller owns: xs[i] is (n, input_size(i)) real, one per graph input; per
// head j, labels[j] (n,) int32 for (sparse) cross-entropy or targets[j] (n, output_size(j))
// real for the other losses (categorical_crossentropy included); sample_weight (n,) or null.
struct DataRef {
  std::vector<const real*> xs;
  int64_t n = 0;
  std::vector<const int32_t*> labels;
  std::vector<const real*> targets;
  const real* sample_weight = nullptr;
};

// The loss of one output.
struct HeadConfig {
  LossKind loss = LossKind::CrossEntropy;
  std::vector<real> class_weights;  // empty: none
  double label_smoothing = 0.0;
  double weight = 1.0;               // its share of the total loss
  // false: the output holds probabilities. When a sigmoid (binary) or softmax (cross-entropy,
  // categorical) Activation node makes the output (Graph::output_activation), the loss is
  // fused: computed from that node's input as logits, exactly and stably, and backward starts
  // there. Otherwise the probabilities are clipped as Keras does.
  bool from_logits = true;
  std::vector<real> pos_weight;     // binary only: empty, one value, or one per output column
  CustomLossOf<real> custom;         // LossKind::Custom: the loss, called once per batch
};

struct HeadStats {
  double loss_sum = 0;     // sum over batches of (batch loss * batch samples)
  AccuracyCount accuracy;  // accumulated over batches
  MetricSums metrics;      // what the head's MetricSpec asked for
};

struct EpochStats {
  double loss_sum = 0;      // the weighted total: sum over batches of (loss * batch samples)
  int64_t samples = 0;      // samples seen
  std::vector<HeadStats> heads;
  int64_t batches = 0;      // completed optimizer steps (or evaluated batches)
  bool interrupted = false; // Ctrl-C: stopped at a batch boundary
  int64_t nonfinite_batch = -1;  // first batch whose loss was NaN or Inf (training stops there)
  // The same batch, when its loss was finite but its update would have made a weight or an
  // optimizer moment NaN or Inf (the update was refused).
  bool nonfinite_update = false;
  double mean_loss() const { return samples ? loss_sum / double(samples) : 0.0; }
};

// Whether fit captures queued steps as CUDA graphs (process-wide; default on unless the
// environment sets PYDL_CUDA_GRAPHS=0). Off, every step's kernels are queued one by one.
void set_step_graphs(bool on);
bool step_graphs();

// Called every `every` batches with (batches done, running mean loss); at batch boundaries.
// Returning false ends the epoch there (a callback set stop_training).
using ProgressFn = std::function<bool(int64_t, double)>;

// Inference over n samples in batches (no dropout): xs as in DataRef, outs[j] is
// (n, output_size(j)).
void predict(Graph& graph, const std::vector<const real*>& xs, int64_t n, int64_t batch_size,
             const std::vector<real*>& outs);

// One batch's inputs, targets and sample weights, and the loss workspace, for up to
// `planned` rows, on the graph's device. On a device, the host_* staging buffers hold what
// gather collected (and the host side of the copies the trainer makes).
struct BatchBuffers {
  std::vector<Buffer<real>> xs, targets;
  std::vector<Buffer<int32_t>> labels;
  std::vector<Matrix<const real>> views;  // the graph's inputs over xs
  Buffer<real> sample_weight;
  Buffer<double> loss_ws;
  Buffer<int64_t> order;      // always on the host
  Buffer<real> token_weight;  // sequence cross-entropy: per-token weights (loss.h token_weights)
  std::vector<int64_t> label_steps;  // per output: labels per sample (see Trainer::label_steps)
  int64_t planned = 0;
  Device device = Device::CPU;  // where xs, targets, labels, sample_weight, loss_ws, token_weight live
  // Device only: host staging (pinned) of the arrays above, two sets used in turn, so that a
  // batch is gathered into one while the other's copies (queued behind the previous step) are
  // still to run; a set is rewritten only once the event recorded behind its copies passed.
  struct Staging {
    std::vector<PinnedBuffer<real>> xs, targets;
    std::vector<PinnedBuffer<int32_t>> labels;
    PinnedBuffer<real> sample_weight;
    PinnedBuffer<float> raw_x;     // a loader's unaugmented batch (augmented on the device)
    PinnedBuffer<uint64_t> keys;   // and its rows' augmentation keys
    DeviceEvent uploaded;
  };
  std::array<Staging, 2> staging;
  int slot = 0;  // the set gather writes and upload reads
  // Scratch for the host steps (a custom loss).
  Buffer<real> host_tokens, host_pred, host_true, host_grad;
  Buffer<double> host_ws;
  // label_steps: per output (null: one label per sample). Allocates on g's device.
  void plan(int64_t rows, const Graph& g, const std::vector<int64_t>* label_steps = nullptr);
  // Copies rows idx[0..rows) of the data set into the batch buffers (on a device: into the
  // staging buffers, then one copy per array).
  void gather(const DataRef& d, const int64_t* idx, int64_t rows, const Graph& g);
  // Device only: copies `rows` gathered rows from the staging set to the device (queued, not
  // waited for; x only with_x) and records the set's event behind them.
  void upload(const DataRef& d, int64_t rows, const Graph& g, bool with_x = true);
  // Device only: switches to the other staging set, waiting until its last copies ran.
  void next_staging();
  // Where gather writes input i / head j's labels and targets / the sample weights (call
  // next_staging first on a device).
  real* x_dst(size_t i) { return device == Device::CPU ? xs[i].data() : staging[slot].xs[i].data(); }
  real* target_dst(size_t j) { return device == Device::CPU ? targets[j].data() : staging[slot].targets[j].data(); }
  int32_t* label_dst(size_t j) { return device == Device::CPU ? labels[j].data() : staging[slot].labels[j].data(); }
  real* sample_weight_dst() {
    return device == Device::CPU ? sample_weight.data() : staging[slot].sample_weight.data();
  }
};

// fit's data set on the device (Trainer::keep_resident): copied at the start of each epoch
// (one copy per array), then every batch is gathered there (kernels/gather.h).
struct ResidentData {
  std::vector<const void*> key;  // which of DataRef's arrays there are (non-null where present)
  int64_t n = 0;
  std::vector<Buffer<real>> xs, targets;
  std::vector<Buffer<int32_t>> labels;
  Buffer<real> sample_weight;
  Buffer<int64_t> order;  // the epoch's sample order
};
// The data set stays on the device when it takes at most this share of its free memory.
constexpr double kResidentShare = 0.5;

class Trainer {
 public:
  Trainer(Graph& graph, std::vector<HeadConfig> heads, OptimizerConfig optimizer);

  EpochStats fit_epoch(const DataRef& data, int64_t batch_size, bool shuffle, uint64_t seed,
                       uint64_t epoch, const ProgressFn& progress, int64_t every,
                       bool check_interrupt);
  // An epoch over a loader's batches (single-input graphs); targets come from `targets_of`.
  EpochStats fit_epoch_loader(ArrayLoader& loader, const DataRef& targets_of, uint64_t seed, uint64_t epoch,
                              const ProgressFn& progress, int64_t every, bool check_interrupt);
  // Epochs whose batches the caller makes (custom data sets): begin, one train_batch per
  // batch (an optimizer step; loss and metrics accumulate as in fit_epoch), end. `batch`
  // holds one batch: rows = batch.n.
  void begin_epoch() { open_epoch_ = new_stats(); }
  // Returns false (nothing changed) when the loss or the update is not finite.
  bool train_batch(const DataRef& batch, uint64_t seed);
  EpochStats end_epoch() const;
  // Safe beside other evaluate/predict calls: a replica of the graph, buffers of its own.
  // `metrics`: one spec per head.
  EpochStats evaluate(const DataRef& data, int64_t batch_size, const std::vector<MetricSpec>& metrics);
  EpochStats evaluate(const DataRef& data, int64_t batch_size) { return evaluate(data, batch_size, metric_specs_); }
  // Loss of the whole data set as one batch; leaves d loss / d params in graph.grad_data().
  double loss_and_gradients(const DataRef& data, bool training, uint64_t seed);

  size_t num_heads() const { return heads_.size(); }
  // Labels per sample of head j: `steps` for cross-entropy over a sequence output
  // (steps, classes), whose padded steps (the output's mask) the loss and metrics skip; else 1.
  int64_t label_steps(size_t j) const { return label_steps_.at(j); }
  // Whether head j's loss is fused with the output's final sigmoid/softmax (see HeadConfig).
  bool fused(size_t j) const { return fused_.at(j) != 0; }
  const HeadConfig& head(size_t j) const { return heads_[j]; }
  // Replaces head j's class weights (empty: none); checked like the constructor's.
  void set_class_weights(size_t j, std::vector<real> w);
  void set_metrics(size_t j, const MetricSpec& m) { metric_specs_.at(j) = m; }
  const std::vector<MetricSpec>& metrics() const { return metric_specs_; }
  Graph& graph() { return g_; }
  int64_t num_params() const { return g_.num_params(); }
  const OptimizerConfig& optimizer() const { return opt_; }
  // Throws ValueError unless lr is finite and >= 0.
  void set_learning_rate(double lr);  // (the clock of queued steps follows at the next read)
  // Learning rates for the next steps, one per step (a schedule evaluated ahead of the epoch);
  // after the last entry the last one stays. Cleared by set_learning_rate. Checked like it.
  void set_lr_table(std::vector<double> table);
  int64_t step() const { return step_; }
  void set_step(int64_t s);
  int slots() const { return optimizer_slots(opt_); }
  // Slot i's memory on the trainer's device (a host view only when that is the CPU).
  real* slot_data(int i) { return slots_.at(size_t(i)).data(); }
  // Slot i copied to / from host memory (num_params values), wherever it lives.
  void read_slot(int i, real* host) const;
  void write_slot(int i, const real* host);
  // Moves the optimizer slots and the batch buffers to the graph's device after Graph::to
  // (called by every entry point too; a no-op when they are already there).
  void follow_graph();
  Device device() const { return device_; }
  // Frees the device copy of fit's data set and the device augmentation's buffers (fit calls it
  // when it ends, however it ends).
  void release_resident_data();
  // For tests: (name, device) of the trainer's allocated buffers (slots, batch buffers).
  std::vector<std::pair<std::string, Device>> buffer_devices() const;
  // Frozen parameters: ranges of the flat buffer that training leaves alone (no update, no
  // weight decay, no optimizer state change; their gradients are left out of clipnorm's
  // norm). Any order; overlapping or out-of-range ranges are refused. Empty: none frozen.
  void set_frozen(std::vector<ParamRange> ranges);
  const std::vector<ParamRange>& frozen() const { return frozen_; }
  // Data-parallel training (pydl.distributed), or null for one process. With a reducer every
  // batch fit sees is the global batch: this rank trains on its contiguous share
  // (batch_share), the loss gradient is scaled by its share of the batch's loss weight, the
  // parameter gradients are summed over ranks (bucketed during backward), and losses, metrics
  // and stop decisions (Ctrl-C, a callback's stop_training on rank 0) are those of the whole
  // batch, the same on every rank. Every rank must call fit with the same arguments.
  void set_reducer(std::shared_ptr<GradientReducer> reducer);
  GradientReducer* reducer() const { return reducer_.get(); }
  // Checks that d fits the graph's inputs and heads (`what` names the caller in errors).
  void check_data(const DataRef& d, const char* what) const;

 private:
  EpochStats new_stats() const;
  void plan(int64_t batch_size);
  // The regularizers' penalty at the current weights (in double, the same for every thread
  // count: kernels/weight_penalty.h), and its gradient added into the graph's gradients.
  // queue_penalty adds it to *total where the weights live; penalty reads it (on a device:
  // one synchronisation).
  void queue_penalty(double* total) const;
  double penalty() const;
  void add_penalty_gradient(real* grads);  // grads: the graph's, or the reducer's summed buffer
  // Head j's loss over the last forward of g (grad.data null: no gradient); on a device a
  // custom loss runs on host copies. args.sample_weights already set.
  double head_loss(Graph& g, BatchBuffers& b, size_t j, Matrix<real> grad, Matrix<const real> out,
                   Matrix<const real> targets, const LossArgs<real>& args);
  // loss.h token_weights for head j's batch in b (wherever b lives).
  const real* head_token_weights(BatchBuffers& b, const uint8_t* mask, int64_t rows, int64_t steps, bool weighted);
  // The class / pos weights each head's loss reads, on the trainer's device.
  void place_head_weights(size_t j);
  bool is_frozen(int64_t offset) const;
  // The weights' and moments' magnitudes, for optimizer_step's cheap finiteness proof.
  void measure_bounds();
  SlotPtrs<real> slot_ptrs();
  // Calls progress every `every` batches, then re-measures the bounds; false: stop the epoch.
  bool report_progress(const ProgressFn& progress, int64_t every, EpochStats& st);
  // The weighted loss of g's outputs against the targets in b; d loss / d outputs into g's
  // output gradients when with_grad; head losses and metrics into st when given.
  double batch_loss(Graph& g, BatchBuffers& b, int64_t rows, bool with_grad, EpochStats* st,
                    const std::vector<MetricSpec>& metrics);
  // Forward, losses, backward, clip and update on batch_ (rows samples, filled).
  // Returns false (and changes nothing) when the loss or the update is not finite.
  // With a reducer, rows is this rank's share of a batch of global_rows (possibly none) and
  // `interrupt` this rank's Ctrl-C flag, which stops every rank at once.
  bool train_step(int64_t rows, uint64_t seed, EpochStats& st, int64_t global_rows = -1, bool interrupt = false);
  // On a device, fit's step: forward, losses, backward, clip and update queued with their
  // results left in results_ (the host waits for nothing), as a replay of the step's CUDA graph
  // where one is captured (see the header). Always true.
  bool queue_step(int64_t rows, uint64_t seed);
  // The kernels of one queued step (what a graph captures).
  void queue_step_kernels(int64_t rows, uint64_t seed);
  // Whether this step's graph can be replayed (captured for these rows, nothing it captured
  // has moved or changed since).
  bool step_graph_valid(int64_t rows) const;
  // What the captured step's kernels took from the host: the buffers they read and write and
  // the configuration frozen in their arguments.
  // (Into k, cleared first: checked before every launch, so it allocates nothing once grown.)
  void step_graph_key(int64_t rows, std::vector<uint64_t>& k) const;
  // Starts an epoch of at most `steps` queued steps (queued_ when the graph is on a device):
  // results_ zeroed, the head weights, the optimizer's bounds and the step clock written there.
  void begin_queued_epoch(int64_t steps);
  // The clock's rates into h (the block's host copy): kLearningRate, and with a rate table one
  // rate per batch of the epoch (kLrTable).
  void fill_clock_rates(std::vector<double>& h) const;
  // Reads results_ into st (one copy from the device). False when a queued step stopped
  // training: st says where and why, and the step count and learning rate are those of the
  // last committed step; raises ValueError where the synchronous loss would have.
  bool read_queued(EpochStats& st);
  // A step's host code raised (a custom loss, out of memory) during an epoch of queued steps:
  // true when an earlier queued step had stopped training (st says so, as the CPU loop would,
  // which never reached the raising step); false, the error stands.
  bool stopped_before_error(EpochStats& st);
  // The learning-rate table's entry for the next step into opt_ (when there is a table);
  // returns the rate before.
  double apply_lr_table();
  // On a device with queued steps: copies d into resident_ (its device buffers kept across
  // epochs while the sizes stay) when it fits in kResidentShare of the free memory. False: it
  // does not fit, and batches are uploaded from the host.
  bool keep_resident(const DataRef& d);
  // Batch rows [start, start + rows) of the epoch's order, gathered from resident_.
  void gather_resident(int64_t start, int64_t rows);
  // A loader's unaugmented batch b (this rank's rows `mine`) uploaded with its keys and the
  // targets, then augmented into batch_.xs[0] on the device (the loader's pipeline and seed).
  void augment_on_device(const ArrayLoader& loader, const LoaderBatch& b, const BatchShare& mine, const DataRef& d);
  // This rank's share of a global batch of rows (all of it without a reducer).
  BatchShare share(int64_t rows) const {
    return reducer_ ? batch_share(rows, reducer_->rank(), reducer_->size()) : BatchShare{0, rows};
  }
  // Distributed: sums the batch's loss weights, weighted losses and Ctrl-C flags over ranks,
  // makes `loss` and head_losses_ the global batch's and scales the output gradients by this
  // rank's weight share. False: some rank was interrupted (st.interrupted).
  bool sync_step(double& loss, int64_t rows, bool interrupt, EpochStats& st);
  // Distributed: the epoch's metric counts summed over ranks (the losses already are global).
  void sum_over_ranks(EpochStats& st) const;

  Graph& g_;
  std::vector<HeadConfig> heads_;
  std::vector<LossArgs<real>> loss_args_;
  std::vector<uint8_t> fused_;       // per head: the loss reads the output's logits
  std::vector<int64_t> label_steps_; // per head, see label_steps
  // The matrix head j's loss and metrics read: the output, or its logits when fused.
  static Matrix<const real> loss_input(Graph& g, const std::vector<uint8_t>& fused, size_t j) {
    return fused[j] ? g.output_logits(j) : g.output(j);
  }
  std::vector<MetricSpec> metric_specs_;
  std::vector<double> head_losses_;  // of the last batch
  std::vector<double> head_weights_; // of the last batch: each loss's denominator (sum of weights)
  std::shared_ptr<GradientReducer> reducer_;
  std::vector<double> sync_;                         // a step's sums over ranks
  std::vector<std::vector<ParamRange>> final_after_; // per node: gradients final once its backward ran
  std::function<void(size_t)> node_done_;            // reports final_after_ to the reducer
  bool sample_weighted_ = false;     // this epoch's data carries sample weights
  OptimizerConfig opt_;
  int64_t step_ = 0;
  std::array<Buffer<real>, kMaxSlots> slots_;
  std::vector<ParamRange> frozen_;  // sorted, disjoint
  struct Regularized { int64_t offset, size; double l1, l2; };
  std::vector<Regularized> regularized_;  // trainable weights with a regularizer
  UpdateBounds bounds_;
  BatchBuffers batch_;         // training's own
  Device device_ = Device::CPU;  // of slots_, batch_ and the head weights below
  int ordinal_ = 0;
  std::vector<Buffer<real>> class_weights_dev_, pos_weight_dev_;  // per head, on a device
  Buffer<int64_t> order_all_;  // the epoch's sample order
  EpochStats open_epoch_;
  std::vector<double> lr_table_;
  int64_t lr_table_start_ = 0;
  // Queued steps (a device): the step-results block, then each head's metric sums (metrics.h's
  // flat form) at metric_offset_[j], on the device, and its host copy.
  bool queued_ = false;
  Buffer<double> results_;
  std::vector<double> results_host_;
  std::vector<int64_t> metric_offset_;
  int64_t queued_steps_ = 0;    // queued this epoch
  int64_t read_batches_ = 0;    // committed steps at the last read
  int64_t step_at_read_ = 0;    // step_ then
  double lr_at_read_ = 0;       // the learning rate then
  std::vector<double> queued_lrs_;  // the rate of each step queued since
  int64_t epoch_steps_ = 0;         // at most, this epoch
  int64_t results_read_ = 0;        // the block's doubles the host reads (not the rate table)
  int64_t lr_table_at_ = 0;         // where the epoch's rates start in the block (0: no table)
  uint64_t clock_version_ = 0;      // bumped by set_learning_rate, set_lr_table, set_step
  uint64_t clock_written_ = 0;      // the version the block's clock holds
  // The captured step (see the header): its graph, what it captured, and the rows of the last
  // uncaptured full step of this epoch (which sized every buffer).
  DeviceGraph step_graph_;
  std::vector<uint64_t> step_graph_key_;
  mutable std::vector<uint64_t> key_now_;  // step_graph_valid's scratch
  int64_t warm_rows_ = 0;
  bool graphs_refused_ = false;  // a capture failed: this trainer queues its steps one by one
  ResidentData resident_;
  // A loader's augmentation on the device: the unaugmented batch, its keys, the pipeline's scratch.
  struct DeviceAugment {
    Buffer<float> raw, scratch;
    Buffer<uint64_t> keys;
  } augment_;
};

}  // namespace pydl

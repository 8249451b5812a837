// The Layer interface of the C++ network. A layer holds its configuration, checks its input
// shape at build time, declares its parameters (which live in the graph's flat buffers) and
// runs forward / backward over one batch. Parameter gradients accumulate (+=); the input
// gradient dx is overwritten (=).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/real.h"
#include "core/view.h"
#include "nn/layer_config.h"

namespace pydl {

class StatisticsReducer;  // nn/gradient_reducer.h

using Shape = std::vector<int64_t>;  // per sample: the batch axis is never included
std::string shape_str(const Shape& s);  // "(None, 8, 8, 1)"
int64_t shape_size(const Shape& s);

// Keras' initializers with Keras' default scales (nn/initializers.h has the formulas).
enum class Init {
  Zeros, Ones, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal,
  RandomNormal, RandomUniform
};

struct ParamSpec {
  std::string name;  // "kernel", "bias"
  Shape shape;
  Init init = Init::Zeros;
  int64_t fan_in = 0, fan_out = 0;  // 0: from the shape, as Keras computes them
  // Keras' regularizers: the trainer adds l1 * sum|w| + l2 * sum w^2 to the training loss.
  double l1 = 0.0, l2 = 0.0;
  // Keras' unit_forget_bias: after `init`, the second quarter (LSTM's forget gate) is ones.
  bool forget_ones = false;
  // Non-trainable weights (BatchNormalization's moving statistics) live in the graph's state
  // buffer: the optimizer never sees them and they have no gradient.
  bool trainable = true;
};

// Where one ParamSpec's values live, as the graph laid them out.
struct ParamView {
  real* value = nullptr;
  real* grad = nullptr;  // null for non-trainable weights
};

struct StepInfo {
  bool training = false;  // dropout drops, BatchNormalization uses batch statistics
  uint64_t seed = 0;  // for dropout masks
  uint64_t step = 0;  // the optimizer step this forward belongs to (see step_results)
  // A backward pass follows (training, or loss_and_gradients in inference mode too): keep what
  // it reads beyond x and y (Dense's and Conv2D's GELU pre-activations).
  bool backward = false;
  // Data-parallel training: the index of this rank's first row in the global batch, so that
  // random masks are those a single process would draw for the same rows.
  int64_t row_offset = 0;
  // Data-parallel training: sums over ranks for the layers that synchronise what they compute
  // from the batch (BatchNormalization(synchronized=True)); null in one process, where such
  // layers compute exactly as unsynchronised ones.
  StatisticsReducer* ranks = nullptr;
  // fit's queued steps on a device (kernels/step_results.h): their results block, which the
  // layers whose training forward writes state (BatchNormalization's moving statistics) pass
  // to their kernels so that a step queued after training stopped changes nothing. Else null.
  // Its clock is also where their kernels read the step number from (StepClock{step,
  // step_results}): a step captured as a CUDA graph replays as each later one.
  double* step_results = nullptr;
};


class Layer {
 public:
  // Subclasses read the rest of their configuration in their constructors (see
  // layer_registry.h: keys nobody reads are errors).
  explicit Layer(const LayerConfig& c) : name_(c.get_string("name")), kind_(c.kind()) {}
  virtual ~Layer() = default;

  const std::string& name() const { return name_; }
  // "Dense": the kind the type was registered with; used in error messages and summaries.
  const char* kind() const { return kind_.c_str(); }
  // "Dense 'dense_1'": how errors name this layer.
  std::string label() const { return std::string(kind()) + " '" + name() + "'"; }

  // How many tensors a call reads: 1, or kMerge (two or more) for merge layers, which
  // implement build_merge / forward_merge / backward_merge instead of the unary three.
  static constexpr int kMerge = -1;
  virtual int arity() const { return 1; }

  // Checks the per-sample input shape, returns the per-sample output shape. `index` numbers
  // the call (the graph node) and keys its random streams.
  virtual Shape build(const Shape& input, int index) = 0;
  virtual Shape build_merge(const std::vector<Shape>& /*inputs*/, int /*index*/) { return {}; }
  virtual std::vector<ParamSpec> param_specs() const { return {}; }
  // Which forward tensors backward reads (x, y of backward / backward_merge). The training
  // graph reuses the buffer of a tensor no backward reads once forward is done with it, so a
  // deep net does not hold activations backward never needs. Saying false where backward does
  // read the tensor corrupts gradients: only override after checking the backward kernel.
  virtual bool backward_reads_input() const { return true; }
  virtual bool backward_reads_output() const { return true; }
  // layer.trainable = False: its weights are frozen by the trainer; a layer whose training
  // forward differs in more than its weights (BatchNormalization: batch statistics, moving
  // averages) then runs as in inference, as Keras does.
  virtual void set_frozen(bool /*frozen*/) {}
  // "sigmoid" or "softmax" for an Activation layer applying it (a loss may fuse with it and
  // read its input as logits), else "".
  virtual std::string fusable_activation() const { return ""; }
  // The output is the input, reinterpreted (Flatten): no buffer and no copy.
  virtual bool output_aliases_input() const { return false; }
  // Allocates per-batch workspace for up to max_batch samples (never during a step).
  virtual void plan(int64_t /*max_batch*/) {}
  // The graph hands the layer one view per ParamSpec, in param_specs order: the weight (in
  // the flat parameter buffer, or the state buffer when not trainable) and its gradient (null
  // when not trainable). Layers never compute offsets themselves.
  void bind(std::vector<ParamView> views) { views_ = std::move(views); }

  // Masking: Embedding(mask_zero=True) creates a (batch, steps) mask of valid steps; layers
  // that keep the time axis pass it on; recurrent layers consume it.
  virtual const uint8_t* output_mask() const { return nullptr; }
  virtual bool passes_mask() const { return false; }
  void set_input_mask(const uint8_t* m) { mask_ = m; }
  // Merge layers that read their inputs' masks (MultiHeadAttention: query and key padding)
  // size merge_masks_ in build_merge; the graph sets entry i to input i's mask before every
  // forward_merge. output_mask_input says which input's mask the output carries (-1: the AND
  // of every input's mask, what elementwise merges want; kNoMask: none, the output has no
  // steps axis).
  static constexpr int kNoMask = -2;
  void set_merge_mask(size_t i, const uint8_t* m) {
    if (i < merge_masks_.size()) merge_masks_[i] = m;
  }
  virtual int output_mask_input() const { return -1; }
  // Which output of a call this node makes: 0, or 1.. for a layer whose call returns several
  // (MultiHeadAttention's attention scores). Each output is a node of its own over the same
  // inputs and weights; called before build.
  virtual void select_output(int j) {
    if (j != 0) throw ValueError(label() + ": a call has one output, so output " + std::to_string(j) + " does not exist");
  }

  // Data-parallel training: a rank whose share of a batch is empty runs no kernel, but must
  // meet the other ranks in every collective a layer's forward or backward makes (through
  // StepInfo::ranks). The graph calls these instead of forward / backward on such a rank, at
  // the same points; a layer that makes collectives joins them with an empty contribution.
  virtual void forward_without_rows(const StepInfo& /*s*/) {}
  virtual void backward_without_rows() {}

  virtual void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) = 0;
  // dy may be overwritten; dx.data is null for the first layer (no input gradient needed).
  virtual void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x,
                        Matrix<const real> y) = 0;
  // Merge layers: one x and one dx per input (a dx with null data needs no gradient).
  virtual void forward_merge(Matrix<real> /*y*/, const std::vector<Matrix<const real>>& /*xs*/,
                             const StepInfo& /*s*/) {}
  virtual void backward_merge(const std::vector<Matrix<real>>& /*dxs*/, Matrix<real> /*dy*/,
                              const std::vector<Matrix<const real>>& /*xs*/, Matrix<const real> /*y*/) {}

 protected:
  // The weights of param_specs()[i] and their gradient (see bind).
  real* param(size_t i) const { return views_[i].value; }
  real* grad(size_t i) const { return views_[i].grad; }

  std::string name_, kind_;
  std::vector<ParamView> views_;
  const uint8_t* mask_ = nullptr;
  std::vector<const uint8_t*> merge_masks_;
  Shape input_, output_;
  int index_ = 0;
};

// A layer's tag in a step-results block, by which the trainer names the layer that stopped a
// queued step (Trainer::read_queued): a hash of its name (unique in a model) cut to 52 bits,
// exact in a double.
inline int64_t layer_tag(const Layer& l) {
  return int64_t(std::hash<std::string>{}(l.name()) & ((uint64_t(1) << 52) - 1));
}

}  // namespace pydl

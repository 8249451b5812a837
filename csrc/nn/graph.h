// Graph: the compiled network, a DAG. Tensors are numbered: graph inputs first, then one per
// node, nodes in topological order (each reads tensors numbered before its own). A node is one
// call of a layer; calling a layer on several tensors makes several nodes that share its
// weights (their gradients add up). All parameters live in one flat buffer and all gradients
// in another; activations are planned once per batch size and reused.
//
// Gradients: a tensor read by several nodes receives the sum of their input gradients (the
// first writes, the others add); layers themselves keep the "dx is overwritten" contract.
// Masks (Embedding(mask_zero=True)) travel with tensors along edges.
//
// Devices: a graph starts on the CPU; to(CUDA, ordinal) moves its flat buffers there (copies)
// and re-plans activations and workspaces there (plan() allocates under a DeviceScope of the
// graph's device). The caller runs forward and backward inside a DeviceScope of device() with
// inputs in memory of that device (the Trainer stages batches; see trainer.h). Host code reads
// and writes the weights through read()/write(), which copy when the buffers live on a device.
//
// Threads: training runs on the graph's own buffers under gate() held exclusively; inference
// (predict, evaluate) runs on leased replicas, each with its own layers and planned buffers
// over the same weights, under gate() held shared. So concurrent predicts never share a
// buffer, and a fit beside anything else raises instead of racing.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/use_gate.h"
#include "core/view.h"
#include "nn/layer.h"

namespace pydl {

struct ParamEntry {
  std::string layer;  // layer name
  std::string name;   // "kernel", "bias"
  Shape shape;
  int64_t offset = 0;  // into the flat parameter/gradient buffers, or the state buffer
  int64_t size = 0;
  ParamSpec spec;     // spec.trainable says which buffer
};

// One call of layers[layer] on the tensors `inputs`; it produces tensor num_inputs + its index.
struct GraphNode {
  int layer = 0;
  std::vector<int> inputs;
  int output = 0;  // which output of the call (Layer::select_output)
};

class Graph {
 public:
  // A DAG: per-sample input shapes, the distinct layers, the calls, the output tensors.
  Graph(std::vector<Shape> input_shapes, const std::vector<LayerConfig>& layers, std::vector<GraphNode> nodes,
        std::vector<int> outputs);
  // The chain (Sequential): layer i reads layer i - 1's output.
  Graph(Shape input_shape, const std::vector<LayerConfig>& configs);

  // An inference replica of `owner`: this graph's layers and buffers are its own, its weights
  // are the owner's (read only).
  struct ReplicaOf { const Graph& owner; };
  explicit Graph(ReplicaOf r);

  UseGate& gate() { return gate_; }
  // Replicas made so far: more than one means inference calls really overlapped.
  int64_t replicas_made() const { return replicas_made_.load(); }

  // A replica of this graph for one inference call; back to the pool when the lease ends.
  class Lease {
   public:
    explicit Lease(Graph& owner);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Graph& graph() { return *g_; }

   private:
    Graph& owner_;
    std::unique_ptr<Graph> g_;
  };

  size_t num_inputs() const { return input_shapes_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  const Shape& input_shape(size_t i = 0) const { return input_shapes_[i]; }
  int64_t input_size(size_t i = 0) const { return input_sizes_[i]; }
  const Shape& output_shape(size_t j = 0) const { return shapes_[outputs_[j]]; }
  int64_t output_size(size_t j = 0) const { return sizes_[outputs_[j]]; }
  const std::vector<int>& outputs() const { return outputs_; }

  size_t num_layers() const { return layer_configs_.size(); }
  const LayerConfig& layer_config(size_t i) const { return layer_configs_[i]; }
  size_t num_nodes() const { return nodes_.size(); }
  const GraphNode& node(size_t k) const { return nodes_[k]; }
  const Layer& node_layer(size_t k) const { return *node_layers_[k]; }
  const Shape& tensor_shape(size_t t) const { return shapes_[t]; }
  // The first node of layer i (what summaries and errors describe).
  const Layer& layer(size_t i) const { return *node_layers_[first_node_[i]]; }
  size_t first_node(size_t i) const { return size_t(first_node_[i]); }
  // Layer i's entries of params() (its weights and its state).
  const std::vector<int>& layer_param_entries(size_t i) const { return layer_params_[i]; }
  const Shape& layer_output_shape(size_t i) const { return shapes_[num_inputs() + first_node_[i]]; }

  const std::vector<ParamEntry>& params() const { return params_; }
  // layer.trainable = False / True for layer i (every call of it; replicas are inference-only).
  void set_layer_frozen(size_t i, bool frozen);
  int64_t num_params() const { return num_params_; }
  real* param_data() { return param_buf_.data(); }
  real* grad_data() { return grad_buf_.data(); }
  int64_t num_state() const { return num_state_; }
  real* state_data() { return state_buf_.data(); }

  // Each weight from its ParamSpec initializer (nn/initializers.h), from counter-based draws
  // keyed by seed and the weight's index. On a device the values are drawn on the host and
  // copied: bitwise the CPU's weights for the same seed.
  void init_params(uint64_t seed);

  // Where the flat buffers, activations and workspaces live (CPU until to()).
  Device device() const { return device_; }
  int device_ordinal() const { return ordinal_; }
  // Moves the parameter, gradient and state buffers to (device, ordinal) by copying, releases
  // the planned activations, gradients and layer workspaces (the next plan() makes them
  // there, for the batch size planned before) and drops the idle inference replicas (bound
  // to the old buffers). The caller holds gate() exclusively; a Trainer over this graph
  // follows with Trainer::follow_graph (its optimizer state and batch buffers).
  void to(Device device, int ordinal = 0);
  enum class Which { Params, Grads, State };
  // n values at `offset` of a flat buffer, copied to / from host memory wherever it lives.
  // Out-of-range requests raise ValueError.
  void read(Which w, int64_t offset, int64_t n, real* host) const;
  void write(Which w, int64_t offset, int64_t n, const real* host);
  // Weights and state of `other` (the same parameter layout: a graph of the same model for
  // other input lengths), copied across devices as needed.
  void copy_weights_from(const Graph& other);
  // For tests: (name, device) of every allocated buffer of the graph itself (the flat
  // buffers, activation and gradient slots, the gradient scratch, merge masks).
  std::vector<std::pair<std::string, Device>> buffer_devices() const;
  // Makes room for batches of up to max_batch samples; a no-op when already large enough.
  void plan(int64_t max_batch);
  int64_t planned_batch() const { return planned_; }
  // Activation floats planned per sample (summaries report the memory of a batch): the
  // training graph's activation and gradient slots, or an inference replica's.
  int64_t activation_floats_per_sample() const;
  // What an inference replica plans per sample: buffers reused once their tensor's last
  // reader ran, so a deep net holds only the tensors still to be read.
  int64_t inference_floats_per_sample() const;

  // Runs every node over the inputs (one matrix per graph input, equal rows <= planned).
  void forward(const std::vector<Matrix<const real>>& xs, const StepInfo& s);
  // A data-parallel rank whose share of the batch is empty: no kernel runs, every node's
  // layer gets forward_without_rows (its collectives); a backward after it calls
  // backward_without_rows on the nodes a backward with rows would run, in the same order.
  void forward_without_rows(const StepInfo& s);
  // Single-input graphs: forward(x) and output 0.
  Matrix<const real> forward(Matrix<const real> x, const StepInfo& s);
  Matrix<const real> output(size_t j = 0) const;
  // The padding mask (batch, steps) output j carries after the last forward, or null.
  const uint8_t* output_mask(size_t j = 0) const { return mask_[outputs_[j]]; }
  // Where the loss writes d loss / d output j for the last forward's rows (overwritten).
  Matrix<real> output_grad(size_t j = 0);
  // Back-propagates the output gradients; parameter gradients accumulate into grad_data().
  // Where seed_at_logits[j] is set, output j's loss wrote output_logits_grad(j) instead of
  // output_grad(j), and the final activation node's backward is skipped.
  // node_done, when given, is called with every node's index in backward's order (nodes that
  // need no backward included) once its backward ran: the gradients of a layer whose first
  // node it is are then final (data-parallel training all-reduces them while backward goes on).
  void backward(const std::vector<uint8_t>* seed_at_logits = nullptr,
                const std::function<void(size_t)>* node_done = nullptr);

  // Loss fusion. "sigmoid" or "softmax" when output j is made by such an Activation node that
  // nothing else reads, over a node's tensor that is no output: a loss may then read that
  // tensor as logits (output_logits) and write its gradient there (output_logits_grad, then
  // backward(seed_at_logits)). "" otherwise. Replicas keep the logits alive for evaluate.
  const std::string& output_activation(size_t j) const { return output_activation_.at(j); }
  Matrix<const real> output_logits(size_t j) const;
  Matrix<real> output_logits_grad(size_t j);
  void zero_grads() { grad_buf_.zero(); }

 private:
  void build_nodes();
  // Node k's layer made and built anew from its config (to(): fresh workspaces).
  std::unique_ptr<Layer> make_node_layer(size_t k) const;
  const Buffer<real>& flat(Which w) const {
    return w == Which::Params ? param_buf_ : w == Which::Grads ? grad_buf_ : state_buf_;
  }
  void check_range(Which w, int64_t offset, int64_t n) const;
  void find_output_logits(const std::set<int>& output_roots);
  // Whether node k's backward runs: it needs gradients and is not a view (Flatten).
  bool runs_backward(size_t k) const;
  // Each activation gets a slot of slot_bufs_ by liveness: freed once its last reader ran
  // (inference), or, in training, kept through backward when some backward reads it.
  void plan_activation_slots();
  // Each activation gradient gets a slot of grad_slot_bufs_ by liveness in backward's order.
  void plan_gradient_slots();
  real* out_buffer(size_t t) { return slot_bufs_[slot_of_[t]].data(); }
  real* grad_buffer(int root) { return grad_slot_bufs_[grad_slot_of_[root]].data(); }
  void bind_layers(real* params, real* grads, real* state);
  // The tensor whose buffers tensor t shares (t itself unless an aliasing node made it).
  int root(int t) const { return root_[t]; }

  std::vector<Shape> input_shapes_;
  std::vector<int64_t> input_sizes_;
  std::vector<LayerConfig> layer_configs_;
  std::vector<GraphNode> nodes_;
  std::vector<int> outputs_;
  std::vector<std::unique_ptr<Layer>> node_layers_;  // one instance per node (own workspaces)
  std::vector<int> first_node_;                      // per layer
  std::vector<std::vector<int>> layer_params_;  // per layer: its entries of params_, in param_specs order
  std::vector<Shape> shapes_;    // per tensor
  std::vector<int64_t> sizes_;   // per tensor, per sample
  std::vector<int> root_;        // per tensor
  std::vector<bool> needs_grad_; // per tensor: some trainable weight lies upstream
  std::vector<int> output_logits_;              // per output: the fusable activation's input, or -1
  std::vector<std::string> output_activation_;  // per output: "sigmoid", "softmax" or ""
  std::vector<ParamEntry> params_;
  int64_t num_params_ = 0;
  int64_t num_state_ = 0;
  Buffer<real> param_buf_, grad_buf_, state_buf_;
  Device device_ = Device::CPU;
  int ordinal_ = 0;
  std::vector<uint8_t> frozen_layers_;  // per layer: set_layer_frozen's last word (to() remakes layers)

  int64_t planned_ = 0;
  int64_t rows_ = 0;  // of the last forward
  bool inference_only_ = false;                      // a replica: forward only, no gradients
  std::vector<int> slot_of_;                         // the activation slot of each root tensor
  std::vector<int64_t> slot_sizes_;                  // floats per sample of each slot
  std::vector<Buffer<real>> slot_bufs_;
  std::vector<int> grad_slot_of_;                    // training: the gradient slot of each root tensor
  std::vector<int64_t> grad_slot_sizes_;
  std::vector<Buffer<real>> grad_slot_bufs_;
  Buffer<real> grad_scratch_;                       // a later consumer's dx, added into the sum
  int64_t scratch_slot_ = 0;                         // floats per input slot of grad_scratch_
  std::vector<Matrix<const real>> single_input_ = std::vector<Matrix<const real>>(1);
  std::vector<Buffer<uint8_t>> merged_masks_;         // per node: a merge's AND of its inputs' masks
  std::vector<uint8_t> mask_host_;                    // on a device: the AND computed here (2 regions)
  int64_t mask_host_region_ = 0;
  int max_arity_ = 1;
  std::vector<const real*> act_;                    // per tensor, resolved per forward
  std::vector<const uint8_t*> mask_;                 // per tensor
  std::vector<bool> grad_written_;                   // per root tensor, during backward
  // Per node, reused every step (no allocation in a step).
  std::vector<std::vector<Matrix<const real>>> node_xs_;
  std::vector<std::vector<Matrix<real>>> node_dxs_;
  std::vector<std::vector<const uint8_t*>> node_masks_;

  UseGate gate_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Graph>> idle_replicas_;
  std::atomic<int64_t> replicas_made_{0};
};

}  // namespace pydl

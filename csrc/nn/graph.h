// Graph: the compiled network. Layers in topological order (today each consumes its
// predecessor's output: the Sequential case), all parameters in one flat buffer and all
// gradients in another, activations planned once per batch size and reused.
//
// Threads: training runs on the graph's own buffers under gate() held exclusively; inference
// (predict, evaluate) runs on leased replicas, each with its own layers and planned buffers
// over the same weights, under gate() held shared. So concurrent predicts never share a
// buffer, and a fit beside anything else raises instead of racing.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
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

class Graph {
 public:
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

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return shapes_.empty() ? input_shape_ : shapes_.back(); }
  int64_t input_size() const { return shape_size(input_shape_); }
  int64_t output_size() const { return shape_size(output_shape()); }
  size_t num_layers() const { return layers_.size(); }
  const Layer& layer(size_t i) const { return *layers_[i]; }
  const Shape& layer_output_shape(size_t i) const { return shapes_[i]; }

  const std::vector<ParamEntry>& params() const { return params_; }
  int64_t num_params() const { return num_params_; }
  float* param_data() { return param_buf_.data(); }
  float* grad_data() { return grad_buf_.data(); }
  int64_t num_state() const { return num_state_; }
  float* state_data() { return state_buf_.data(); }

  // Glorot-uniform kernels and zero biases, from counter-based draws keyed by seed.
  void init_params(uint64_t seed);
  // Makes room for batches of up to max_batch samples; a no-op when already large enough.
  void plan(int64_t max_batch);
  int64_t planned_batch() const { return planned_; }

  // Runs every layer over x (rows <= planned batch); returns the network's output.
  Matrix<const float> forward(Matrix<const float> x, const StepInfo& s);
  // Where the loss writes d loss / d output for the last forward's rows.
  Matrix<float> output_grad();
  // Back-propagates output_grad(); parameter gradients accumulate into grad_data().
  void backward();
  void zero_grads() { grad_buf_.zero(); }

 private:
  void build_layers(const std::vector<LayerConfig>& configs);
  // Layer i's slices of the flat buffers start at these offsets.
  void bind_layers(float* params, float* grads, float* state);

  Shape input_shape_;
  std::vector<LayerConfig> configs_;
  std::vector<std::pair<int64_t, int64_t>> layer_offsets_;  // (params, state) per layer
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Shape> shapes_;
  std::vector<ParamEntry> params_;
  int64_t num_params_ = 0;
  int64_t num_state_ = 0;
  std::vector<bool> needs_input_grad_;  // some layer before this one has parameters
  Buffer<float> param_buf_, grad_buf_, state_buf_;

  int64_t planned_ = 0;
  std::vector<Buffer<float>> act_bufs_, grad_bufs_;  // one per layer output (unused when aliased)
  // Resolved per forward: where each layer's output and its gradient live.
  std::vector<float*> act_, dact_;
  Matrix<const float> input_;

  UseGate gate_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Graph>> idle_replicas_;
  std::atomic<int64_t> replicas_made_{0};
};

}  // namespace pydl

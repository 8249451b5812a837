#include "nn/graph.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/sizes.h"
#include "nn/initializers.h"
#include "kernels/merge.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

std::vector<GraphNode> chain_nodes(size_t n) {
  std::vector<GraphNode> nodes(n);
  for (size_t i = 0; i < n; ++i) nodes[i] = GraphNode{int(i), {int(i)}};
  return nodes;
}

}  // namespace

Graph::Graph(Shape input_shape, const std::vector<LayerConfig>& configs)
    : Graph(std::vector<Shape>{std::move(input_shape)}, configs, chain_nodes(configs.size()),
            std::vector<int>{int(configs.size())}) {}

Graph::Graph(std::vector<Shape> input_shapes, const std::vector<LayerConfig>& layers, std::vector<GraphNode> nodes,
             std::vector<int> outputs)
    : input_shapes_(std::move(input_shapes)), layer_configs_(layers), nodes_(std::move(nodes)),
      outputs_(std::move(outputs)) {
  if (input_shapes_.empty()) throw ValueError("a model needs at least one input");
  std::set<std::string> names;
  for (const auto& c : layer_configs_)
    if (!names.insert(c.name()).second) throw ValueError("two layers are named '" + c.name() + "'");
  build_nodes();
  // Each layer's weights once, in param_specs order of its first call; every other call of a
  // shared layer must ask for the same shapes.
  std::string largest;
  int64_t largest_size = -1;
  for (size_t i = 0; i < layer_configs_.size(); ++i) {
    const Layer& l = layer(i);
    const std::vector<ParamSpec> specs = l.param_specs();
    for (size_t k = 0; k < nodes_.size(); ++k) {
      if (nodes_[k].layer != int(i) || k == size_t(first_node_[i])) continue;
      const std::vector<ParamSpec> other = node_layers_[k]->param_specs();
      bool same = other.size() == specs.size();
      for (size_t q = 0; same && q < specs.size(); ++q) same = other[q].shape == specs[q].shape;
      if (!same)
        throw ValueError(l.label() + ": called on inputs of different shapes (" +
                         shape_str(shapes_[nodes_[first_node_[i]].inputs[0]]) + " and " +
                         shape_str(shapes_[nodes_[k].inputs[0]]) + "), so its weights cannot be shared");
    }
    int64_t layer_size = 0;
    for (bool trainable : {true, false})
      for (const auto& spec : specs) {
        if (spec.trainable != trainable) continue;
        const std::string owner = l.label() + " " + spec.name;
        for (int64_t d : spec.shape)
          if (d < 1) throw ValueError(owner + ": weight shape " + shape_str(spec.shape) + " has a size below 1");
        const int64_t size = checked_product(spec.shape, owner);
        int64_t& counter = trainable ? num_params_ : num_state_;
        params_.push_back({l.name(), spec.name, spec.shape, counter, size, spec});
        counter = checked_add(counter, size, "the model's weight count");
        layer_size += size;
      }
    if (layer_size > largest_size) largest_size = layer_size, largest = l.label();
  }
  // Parameters, gradients and the moving statistics must fit before anything is allocated.
  const double bytes = (2.0 * double(num_params_) + double(num_state_)) * sizeof(real);
  if (physical_memory_bytes() && bytes > double(physical_memory_bytes()))
    check_fits_in_memory(uint64_t(bytes), "the model's " + std::to_string(num_params_ + num_state_) +
                                              " weights (largest layer: " + largest + " with " +
                                              std::to_string(largest_size) + ") and their gradients");
  // get_weights order: each layer's weights in param_specs order, which is also the order of
  // the views each layer is bound to.
  std::vector<ParamEntry> ordered;
  layer_params_.assign(layer_configs_.size(), {});
  for (size_t i = 0; i < layer_configs_.size(); ++i)
    for (const auto& spec : layer(i).param_specs())
      for (const auto& e : params_)
        if (e.layer == layer_configs_[i].name() && e.name == spec.name) {
          layer_params_[i].push_back(int(ordered.size()));
          ordered.push_back(e);
        }
  params_ = std::move(ordered);
  // A tensor needs a gradient when some trainable weight lies upstream of it.
  const size_t n_in = num_inputs();
  needs_grad_.assign(n_in + nodes_.size(), false);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    bool upstream = false;
    for (const auto& spec : node_layers_[k]->param_specs()) upstream = upstream || spec.trainable;
    for (int t : nodes_[k].inputs) upstream = upstream || needs_grad_[t];
    needs_grad_[n_in + k] = upstream;
  }
  plan_activation_slots();
  plan_gradient_slots();
  param_buf_.resize(num_params_);
  grad_buf_.resize(num_params_);
  state_buf_.resize(num_state_);
  bind_layers(param_buf_.data(), grad_buf_.data(), state_buf_.data());
}

Graph::Graph(ReplicaOf r)
    : input_shapes_(r.owner.input_shapes_), layer_configs_(r.owner.layer_configs_), nodes_(r.owner.nodes_),
      outputs_(r.owner.outputs_), layer_params_(r.owner.layer_params_), needs_grad_(r.owner.needs_grad_),
      params_(r.owner.params_), num_params_(r.owner.num_params_), num_state_(r.owner.num_state_),
      device_(r.owner.device_), ordinal_(r.owner.ordinal_) {
  build_nodes();
  inference_only_ = true;
  plan_activation_slots();
  // Inference only reads the weights; the gradient slices are never touched.
  Graph& owner = const_cast<Graph&>(r.owner);
  bind_layers(owner.param_buf_.data(), owner.grad_buf_.data(), owner.state_buf_.data());
}

void Graph::build_nodes() {
  const size_t n_in = num_inputs();
  for (const Shape& s : input_shapes_) {
    for (int64_t d : s)
      if (d < 1) throw ValueError("Input: expected positive dimensions, got " + shape_str(s));
    input_sizes_.push_back(checked_product(s, "Input " + shape_str(s)));
    shapes_.push_back(s);
    sizes_.push_back(input_sizes_.back());
    root_.push_back(int(root_.size()));
  }
  first_node_.assign(layer_configs_.size(), -1);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const GraphNode& node = nodes_[k];
    const int t = int(n_in + k);
    if (node.layer < 0 || size_t(node.layer) >= layer_configs_.size())
      throw ValueError("graph node " + std::to_string(k) + ": no layer " + std::to_string(node.layer));
    node_layers_.push_back(make_layer(layer_configs_[node.layer]));
    Layer& l = *node_layers_.back();
    l.select_output(node.output);
    if (first_node_[node.layer] < 0) first_node_[node.layer] = int(k);
    std::vector<Shape> ins;
    for (int in : node.inputs) {
      if (in < 0 || in >= t)
        throw ValueError(l.label() + ": input tensor " + std::to_string(in) + " is not computed before it");
      ins.push_back(shapes_[in]);
    }
    const bool merge = l.arity() == Layer::kMerge;
    if (merge ? ins.size() < 2 : ins.size() != 1)
      throw ValueError(l.label() + (merge ? ": expected a list of at least 2 inputs, got " : ": expected 1 input, got ") +
                       std::to_string(ins.size()));
    max_arity_ = std::max(max_arity_, int(ins.size()));
    Shape shape;
    try {
      shape = merge ? l.build_merge(ins, int(k)) : l.build(ins[0], int(k));
    } catch (const ValueError& e) {  // size helpers do not know the layer: name it here
      const std::string msg = e.what();
      if (msg.rfind(l.label(), 0) == 0) throw;
      throw ValueError(l.label() + ": " + msg);
    }
    for (int64_t d : shape)
      if (d < 1)
        throw ValueError(l.label() + ": the output shape " + shape_str(shape) +
                         " has a size below 1; check its sizes against the input " + shape_str(ins[0]));
    sizes_.push_back(checked_product(shape, l.label() + " output " + shape_str(shape)));
    shapes_.push_back(shape);
    root_.push_back(!merge && l.output_aliases_input() ? root_[node.inputs[0]] : t);
  }
  for (size_t i = 0; i < layer_configs_.size(); ++i)
    if (first_node_[i] < 0) throw ValueError("layer '" + layer_configs_[i].name() + "' is never called");
  if (outputs_.empty()) throw ValueError("a model needs at least one output");
  std::set<int> output_roots;
  for (int o : outputs_) {
    if (o < 0 || size_t(o) >= shapes_.size()) throw ValueError("output tensor " + std::to_string(o) + " does not exist");
    if (!output_roots.insert(root_[o]).second)
      throw ValueError("two outputs are the same tensor (or views of it, like Flatten or Reshape)");
  }
  const size_t n_t = shapes_.size();
  act_.assign(n_t, nullptr);
  mask_.assign(n_t, nullptr);
  grad_written_.assign(n_t, false);
  merged_masks_.resize(nodes_.size());
  node_xs_.resize(nodes_.size());
  node_dxs_.resize(nodes_.size());
  node_masks_.resize(nodes_.size());
  for (size_t k = 0; k < nodes_.size(); ++k) {
    node_xs_[k].resize(nodes_[k].inputs.size());
    node_dxs_[k].resize(nodes_[k].inputs.size());
    node_masks_[k].reserve(nodes_[k].inputs.size());
  }
  find_output_logits(output_roots);
}

void Graph::find_output_logits(const std::set<int>& output_roots) {
  // Output j qualifies when a sigmoid/softmax Activation node makes it, nothing else reads it
  // (its gradient is the loss's alone), and the activation reads a node's tensor that is no
  // output itself (so the loss may own that tensor's gradient).
  const size_t n_in = num_inputs();
  output_logits_.assign(outputs_.size(), -1);
  output_activation_.assign(outputs_.size(), "");
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const int t = outputs_[j];
    if (t < int(n_in)) continue;
    const GraphNode& node = nodes_[t - n_in];
    const std::string act = node_layers_[t - n_in]->fusable_activation();
    if (act.empty()) continue;
    const int in = node.inputs[0];
    bool read_elsewhere = false;
    for (const GraphNode& other : nodes_)
      read_elsewhere = read_elsewhere || std::find(other.inputs.begin(), other.inputs.end(), t) != other.inputs.end();
    if (read_elsewhere || in < int(n_in) || output_roots.count(root_[in])) continue;
    output_logits_[j] = in;
    output_activation_[j] = act;
  }
}

namespace {

// Buffers shared by tensors whose lifetimes do not overlap. A tensor takes the smallest free
// slot that fits, else the largest free one (grown), else a new one.
struct SlotPool {
  std::vector<int64_t>& sizes;  // floats per sample of each slot
  std::vector<int> free_slots;

  int acquire(int64_t size) {
    int best = -1;
    for (int s : free_slots)
      if (sizes[s] >= size && (best < 0 || sizes[s] < sizes[best])) best = s;
    if (best < 0)
      for (int s : free_slots)
        if (best < 0 || sizes[s] > sizes[best]) best = s;
    if (best < 0) {
      best = int(sizes.size());
      sizes.push_back(0);
    } else {
      free_slots.erase(std::find(free_slots.begin(), free_slots.end(), best));
    }
    sizes[best] = std::max(sizes[best], size);
    return best;
  }
  void release(int s) {
    if (s >= 0 && std::find(free_slots.begin(), free_slots.end(), s) == free_slots.end()) free_slots.push_back(s);
  }
};

}  // namespace

bool Graph::runs_backward(size_t k) const {
  const Layer& l = *node_layers_[k];
  return needs_grad_[num_inputs() + k] && (l.arity() == Layer::kMerge || !l.output_aliases_input());
}

void Graph::plan_activation_slots() {
  const size_t n_in = num_inputs(), n_t = shapes_.size();
  constexpr int kForever = 1 << 30;
  std::vector<int> last_use(n_t, -1);
  for (size_t k = 0; k < nodes_.size(); ++k)
    for (int in : nodes_[k].inputs) last_use[root_[in]] = std::max(last_use[root_[in]], int(k));
  for (int o : outputs_) last_use[root_[o]] = kForever;  // the loss and predict read them
  for (int t : output_logits_)
    if (t >= 0) last_use[root_[t]] = kForever;  // a fused loss reads it after the forward
  if (!inference_only_) {
    // Training keeps what some backward reads until backward ran; the rest is reused as in
    // inference once forward is done with it.
    for (size_t k = 0; k < nodes_.size(); ++k) {
      if (!runs_backward(k)) continue;
      const Layer& l = *node_layers_[k];
      if (l.backward_reads_output()) last_use[root_[n_in + k]] = kForever;
      if (l.backward_reads_input())
        for (int in : nodes_[k].inputs) last_use[root_[in]] = kForever;
    }
  }
  slot_of_.assign(n_t, -1);
  slot_sizes_.clear();
  SlotPool pool{slot_sizes_, {}};
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const size_t t = n_in + k;
    if (root_[t] == int(t)) slot_of_[t] = pool.acquire(sizes_[t]);
    // After node k ran, tensors it read last (and its own output when nothing reads it) free
    // their slots.
    std::vector<int> done = nodes_[k].inputs;
    done.push_back(int(t));
    for (int in : done) {
      const int r = root_[in];
      if (r >= int(n_in) && last_use[r] <= int(k)) pool.release(slot_of_[r]);
    }
  }
  slot_bufs_.resize(slot_sizes_.size());
}

void Graph::plan_gradient_slots() {
  // Backward runs the nodes in reverse. A tensor's gradient is written first by its last
  // consumer (the losses write the outputs' before backward starts) and read last by its
  // producer, after which its slot serves an earlier tensor.
  const size_t n_in = num_inputs(), n_t = shapes_.size();
  grad_slot_of_.assign(n_t, -1);
  grad_slot_sizes_.clear();
  SlotPool pool{grad_slot_sizes_, {}};
  // A fused loss writes its logits' gradient (an output's activation input) before backward
  // starts too.
  std::vector<int> seeded(outputs_.begin(), outputs_.end());
  for (int t : output_logits_)
    if (t >= 0) seeded.push_back(t);
  for (int o : seeded)
    if (grad_slot_of_[root_[o]] < 0) grad_slot_of_[root_[o]] = pool.acquire(sizes_[root_[o]]);
  for (size_t k = nodes_.size(); k-- > 0;) {
    if (!runs_backward(k)) continue;
    for (int in : nodes_[k].inputs)
      if (needs_grad_[in] && grad_slot_of_[root_[in]] < 0) grad_slot_of_[root_[in]] = pool.acquire(sizes_[root_[in]]);
    pool.release(grad_slot_of_[n_in + k]);  // runs_backward: node k's output is its own root
  }
  grad_slot_bufs_.resize(grad_slot_sizes_.size());
}

int64_t Graph::inference_floats_per_sample() const {
  if (inference_only_) {
    int64_t n = 0;
    for (int64_t s : slot_sizes_) n += s;
    return n;
  }
  Graph replica(ReplicaOf{*this});
  return replica.inference_floats_per_sample();
}

void Graph::set_layer_frozen(size_t i, bool frozen) {
  if (i >= layer_configs_.size()) throw ValueError("set_layer_frozen: no layer " + std::to_string(i));
  for (size_t k = 0; k < nodes_.size(); ++k)
    if (nodes_[k].layer == int(i)) node_layers_[k]->set_frozen(frozen);
  frozen_layers_.resize(layer_configs_.size(), 0);
  frozen_layers_[i] = frozen;
}

void Graph::bind_layers(real* params, real* grads, real* state) {
  for (size_t k = 0; k < nodes_.size(); ++k) {
    std::vector<ParamView> views;
    for (int p : layer_params_[nodes_[k].layer]) {
      const ParamEntry& e = params_[p];
      views.push_back(e.spec.trainable ? ParamView{params + e.offset, grads + e.offset}
                                       : ParamView{state + e.offset, nullptr});
    }
    node_layers_[k]->bind(std::move(views));
  }
}

Graph::Lease::Lease(Graph& owner) : owner_(owner) {
  {
    std::lock_guard<std::mutex> lock(owner_.pool_mutex_);
    if (!owner_.idle_replicas_.empty()) {
      g_ = std::move(owner_.idle_replicas_.back());
      owner_.idle_replicas_.pop_back();
    }
  }
  if (!g_) {
    g_ = std::make_unique<Graph>(ReplicaOf{owner_});
    owner_.replicas_made_.fetch_add(1);
  }
}

Graph::Lease::~Lease() {
  std::lock_guard<std::mutex> lock(owner_.pool_mutex_);
  owner_.idle_replicas_.push_back(std::move(g_));
}

void Graph::init_params(uint64_t seed) {
  // On a device: drawn into host buffers, then copied (the initialisers are host code).
  const bool here = device_ == Device::CPU;
  Buffer<real> host_params, host_state;
  if (!here) {
    host_params.resize(num_params_, Device::CPU);
    host_state.resize(num_state_, Device::CPU);
  }
  real* params = here ? param_buf_.data() : host_params.data();
  real* state = here ? state_buf_.data() : host_state.data();
  for (size_t p = 0; p < params_.size(); ++p) {
    const ParamEntry& e = params_[p];
    real* w = (e.spec.trainable ? params : state) + e.offset;
    fill_init(w, e.size, e.spec, CounterRng(seed, 0x1a1700ULL + p));
  }
  if (here) return;
  write(Which::Params, 0, num_params_, params);
  write(Which::State, 0, num_state_, state);
}

std::unique_ptr<Layer> Graph::make_node_layer(size_t k) const {
  const GraphNode& node = nodes_[k];
  std::unique_ptr<Layer> l = make_layer(layer_configs_[node.layer]);
  l->select_output(node.output);
  std::vector<Shape> ins;
  for (int in : node.inputs) ins.push_back(shapes_[in]);
  if (l->arity() == Layer::kMerge)
    l->build_merge(ins, int(k));
  else
    l->build(ins[0], int(k));
  if (size_t(node.layer) < frozen_layers_.size() && frozen_layers_[node.layer]) l->set_frozen(true);
  return l;
}

namespace {

// A buffer's contents on (device, ordinal): a new allocation there and one copy.
template <typename T>
void move_buffer(Buffer<T>& b, Device device, int ordinal) {
  if (b.size() == 0 || (b.device() == device && device == Device::CPU)) return;
  Buffer<T> moved;
  {
    DeviceScope scope(device, ordinal);  // allocates on that ordinal
    moved.resize(b.size(), device);
  }
  copy_bytes(moved.data(), device, b.data(), b.device(), sizeof(T) * size_t(b.size()));
  b = std::move(moved);
}

}  // namespace

void Graph::to(Device device, int ordinal) {
  if (inference_only_) throw ValueError("Graph::to: an inference replica follows its owner");
  if (!std::is_same_v<real, float> && device == Device::CUDA)
    throw ValueError("the float64 engine (pydl._core64) runs on the CPU only");
  if (device == Device::CUDA) {
    const DeviceRuntime& rt = require_device_runtime();
    const int count = rt.device_count();
    if (ordinal < 0 || ordinal >= count)
      throw ValueError("expected a CUDA device ordinal in [0, " + std::to_string(count) + "), got " +
                       std::to_string(ordinal));
  } else {
    ordinal = 0;
  }
  if (device == device_ && ordinal == ordinal_) return;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    idle_replicas_.clear();  // bound to the buffers about to move
  }
  move_buffer(param_buf_, device, ordinal);
  move_buffer(grad_buf_, device, ordinal);
  move_buffer(state_buf_, device, ordinal);
  device_ = device;
  ordinal_ = ordinal;
  // Activations, gradients and the layers' workspaces are made anew where the graph now is.
  for (auto& b : slot_bufs_) b.reset();
  for (auto& b : grad_slot_bufs_) b.reset();
  grad_scratch_.reset();
  for (auto& b : merged_masks_) b.reset();
  for (size_t k = 0; k < nodes_.size(); ++k) node_layers_[k] = make_node_layer(k);
  bind_layers(param_buf_.data(), grad_buf_.data(), state_buf_.data());
  std::fill(act_.begin(), act_.end(), nullptr);
  std::fill(mask_.begin(), mask_.end(), nullptr);
  rows_ = 0;
  const int64_t planned = planned_;
  planned_ = 0;
  if (planned > 0) plan(planned);
}

void Graph::check_range(Which w, int64_t offset, int64_t n) const {
  const int64_t size = w == Which::State ? num_state_ : num_params_;
  if (offset < 0 || n < 0 || n > size - offset)
    throw ValueError("graph buffer: values [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                     ") are outside the buffer's " + std::to_string(size));
}

void Graph::read(Which w, int64_t offset, int64_t n, real* host) const {
  check_range(w, offset, n);
  if (n == 0) return;
  const Buffer<real>& b = flat(w);
  copy_bytes(host, Device::CPU, b.data() + offset, b.device(), sizeof(real) * size_t(n));
}

void Graph::write(Which w, int64_t offset, int64_t n, const real* host) {
  check_range(w, offset, n);
  if (n == 0) return;
  Buffer<real>& b = const_cast<Buffer<real>&>(flat(w));
  copy_bytes(b.data() + offset, b.device(), host, Device::CPU, sizeof(real) * size_t(n));
}

void Graph::copy_weights_from(const Graph& other) {
  if (other.params_.size() != params_.size() || other.num_params_ != num_params_ || other.num_state_ != num_state_)
    throw ValueError("copy_weights_from: the graphs have different weights");
  for (Which w : {Which::Params, Which::State}) {
    const Buffer<real>& src = other.flat(w);
    Buffer<real>& dst = const_cast<Buffer<real>&>(flat(w));
    const int64_t n = w == Which::State ? num_state_ : num_params_;
    if (n > 0) copy_bytes(dst.data(), dst.device(), src.data(), src.device(), sizeof(real) * size_t(n));
  }
}

std::vector<std::pair<std::string, Device>> Graph::buffer_devices() const {
  std::vector<std::pair<std::string, Device>> out;
  auto add = [&](const std::string& name, const auto& b) {
    if (b.size() > 0) out.emplace_back(name, b.device());
  };
  add("params", param_buf_);
  add("grads", grad_buf_);
  add("state", state_buf_);
  for (size_t s = 0; s < slot_bufs_.size(); ++s) add("activations/" + std::to_string(s), slot_bufs_[s]);
  for (size_t s = 0; s < grad_slot_bufs_.size(); ++s) add("activation_grads/" + std::to_string(s), grad_slot_bufs_[s]);
  add("grad_scratch", grad_scratch_);
  for (size_t k = 0; k < merged_masks_.size(); ++k) add("merged_mask/" + std::to_string(k), merged_masks_[k]);
  return out;
}

void Graph::plan(int64_t max_batch) {
  if (max_batch < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(max_batch));
  if (max_batch <= planned_) return;
  DeviceScope scope(device_, ordinal_);  // activations and workspaces live where the weights do
  const std::string batch = " with batch_size " + std::to_string(max_batch);
  const size_t n_in = num_inputs();
  for (size_t i = 0; i < n_in; ++i) checked_mul(max_batch, input_sizes_[i], "Input " + shape_str(input_shapes_[i]) + batch);
  for (size_t t = n_in; t < shapes_.size(); ++t)  // too large: name the layer before allocating
    if (root_[t] == int(t)) checked_mul(max_batch, sizes_[t], node_layers_[t - n_in]->label() + batch);
  for (size_t s = 0; s < slot_bufs_.size(); ++s)
    slot_bufs_[s].resize(checked_mul(max_batch, slot_sizes_[s], "activations" + batch));
  int64_t widest_grad = 0;
  for (size_t s = 0; s < grad_slot_bufs_.size(); ++s) {
    grad_slot_bufs_[s].resize(checked_mul(max_batch, grad_slot_sizes_[s], "activation gradients" + batch));
    widest_grad = std::max(widest_grad, max_batch * grad_slot_sizes_[s]);
  }
  // A later consumer of a tensor writes its dx here, then adds it into the sum: one region
  // per input slot, since a merge may read one tensor twice.
  grad_scratch_.resize(checked_mul(widest_grad, max_arity_, "gradient scratch" + batch));
  scratch_slot_ = widest_grad;
  int64_t widest_mask = 0;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (node_layers_[k]->arity() == Layer::kMerge) {
      const int64_t steps = checked_mul(max_batch, shapes_[nodes_[k].inputs[0]][0], "mask" + batch);
      merged_masks_[k].resize(steps);
      widest_mask = std::max(widest_mask, steps);
    }
    node_layers_[k]->plan(max_batch);
  }
  if (device_ != Device::CPU) {  // merged masks are computed on the host there (see forward)
    mask_host_.resize(size_t(2 * widest_mask));
    mask_host_region_ = widest_mask;
  }
  planned_ = max_batch;
}

int64_t Graph::activation_floats_per_sample() const {
  int64_t n = 0;
  for (int64_t s : slot_sizes_) n += s;
  for (int64_t s : grad_slot_sizes_) n += s;
  return n;
}

Matrix<const real> Graph::forward(Matrix<const real> x, const StepInfo& s) {
  single_input_[0] = x;
  forward(single_input_, s);
  return output(0);
}

void Graph::forward(const std::vector<Matrix<const real>>& xs, const StepInfo& s) {
  const size_t n_in = num_inputs();
  if (xs.size() != n_in)
    throw ValueError("expected " + std::to_string(n_in) + " input arrays, got " + std::to_string(xs.size()));
  const int64_t rows = xs[0].rows;
  for (size_t i = 0; i < n_in; ++i) {
    if (xs[i].rows != rows) throw ValueError("the input arrays have different numbers of samples");
    act_[i] = xs[i].data;
    mask_[i] = nullptr;
  }
  if (rows > planned_) plan(rows);
  rows_ = rows;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    Layer& l = *node_layers_[k];
    const GraphNode& node = nodes_[k];
    const size_t t = n_in + k;
    if (l.arity() != Layer::kMerge) {
      const int in = node.inputs[0];
      l.set_input_mask(mask_[in]);
      if (l.output_aliases_input()) {
        act_[t] = act_[in];  // never written through: views are read-only
      } else {
        real* out = out_buffer(t);
        l.forward(Matrix<real>(out, rows, sizes_[t]), Matrix<const real>(act_[in], rows, sizes_[in]), s);
        act_[t] = out;
      }
      mask_[t] = l.output_mask() ? l.output_mask() : (l.passes_mask() ? mask_[in] : nullptr);
      continue;
    }
    auto& xs_k = node_xs_[k];
    auto& masks = node_masks_[k];
    masks.clear();
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int in = node.inputs[i];
      xs_k[i] = Matrix<const real>(act_[in], rows, sizes_[in]);
      l.set_merge_mask(i, mask_[in]);
      if (mask_[in] && std::find(masks.begin(), masks.end(), mask_[in]) == masks.end()) masks.push_back(mask_[in]);
    }
    real* out = out_buffer(t);
    l.forward_merge(Matrix<real>(out, rows, sizes_[t]), xs_k, s);
    act_[t] = out;
    // A merged step is valid where every masked input is valid (unless the layer says whose
    // mask its output carries).
    if (l.output_mask_input() == Layer::kNoMask) {
      mask_[t] = nullptr;
    } else if (l.output_mask_input() >= 0) {
      mask_[t] = mask_[node.inputs[l.output_mask_input()]];
    } else if (masks.size() <= 1) {
      mask_[t] = masks.empty() ? nullptr : masks[0];
    } else {
      uint8_t* m = merged_masks_[k].data();
      const int64_t steps = rows * shapes_[node.inputs[0]][0];
      if (device_ == Device::CPU) {
        for (int64_t i = 0; i < steps; ++i) {
          uint8_t v = 1;
          for (const uint8_t* src : masks) v &= src[i];
          m[i] = v;
        }
      } else {
        // On a device: the masks are copied here, ANDed, and the result copied back (a few
        // bytes per step; a device kernel for it would save the round trip).
        uint8_t* acc = mask_host_.data();
        uint8_t* part = acc + mask_host_region_;
        std::fill(acc, acc + steps, uint8_t(1));
        for (const uint8_t* src : masks) {
          copy_bytes(part, Device::CPU, src, device_, size_t(steps));
          for (int64_t i = 0; i < steps; ++i) acc[i] &= part[i];
        }
        copy_bytes(m, device_, acc, Device::CPU, size_t(steps));
      }
      mask_[t] = m;
    }
  }
}

void Graph::forward_without_rows(const StepInfo& s) {
  rows_ = 0;
  std::fill(act_.begin(), act_.end(), nullptr);
  std::fill(mask_.begin(), mask_.end(), nullptr);
  for (size_t k = 0; k < nodes_.size(); ++k) node_layers_[k]->forward_without_rows(s);
}

Matrix<const real> Graph::output(size_t j) const {
  return Matrix<const real>(act_[outputs_[j]], rows_, sizes_[outputs_[j]]);
}

Matrix<real> Graph::output_grad(size_t j) {
  return Matrix<real>(grad_buffer(root_[outputs_[j]]), rows_, sizes_[outputs_[j]]);
}

Matrix<const real> Graph::output_logits(size_t j) const {
  const int t = output_logits_.at(j);
  if (t < 0) throw ValueError("output " + std::to_string(j) + " is not made by a sigmoid/softmax Activation");
  return Matrix<const real>(act_[t], rows_, sizes_[t]);
}

Matrix<real> Graph::output_logits_grad(size_t j) {
  const int t = output_logits_.at(j);
  if (t < 0) throw ValueError("output " + std::to_string(j) + " is not made by a sigmoid/softmax Activation");
  return Matrix<real>(grad_buffer(root_[t]), rows_, sizes_[t]);
}

void Graph::backward(const std::vector<uint8_t>* seed_at_logits, const std::function<void(size_t)>* node_done) {
  const size_t n_in = num_inputs();
  const int64_t rows = rows_;
  std::fill(grad_written_.begin(), grad_written_.end(), false);
  // The losses wrote these. An output seeded at its logits leaves the activation's own
  // gradient unwritten, so the loop below skips that node.
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const bool at_logits = seed_at_logits && j < seed_at_logits->size() && (*seed_at_logits)[j];
    if (at_logits && output_logits_[j] < 0) throw ValueError("backward: output " + std::to_string(j) + " has no logits");
    grad_written_[root_[at_logits ? output_logits_[j] : outputs_[j]]] = true;
  }
  for (size_t k = nodes_.size(); k-- > 0;) {
    Layer& l = *node_layers_[k];
    const GraphNode& node = nodes_[k];
    const size_t t = n_in + k;
    // Nothing to do for views (their gradient is their root's), for outputs that depend on no
    // weight, and for tensors no output reads (dead branches).
    if (!needs_grad_[t] || (l.arity() != Layer::kMerge && l.output_aliases_input()) || !grad_written_[root_[t]]) {
      if (node_done) (*node_done)(k);
      continue;
    }
    if (rows == 0) {  // after forward_without_rows: the same nodes, without data
      l.backward_without_rows();
      for (int in : node.inputs)
        if (needs_grad_[in]) grad_written_[root_[in]] = true;
      if (node_done) (*node_done)(k);
      continue;
    }
    Matrix<real> dy(grad_buffer(root_[t]), rows, sizes_[t]);
    Matrix<const real> y(act_[t], rows, sizes_[t]);
    // Where each input's gradient goes: straight into the tensor's sum when this is the first
    // contribution, else into a scratch region that is added afterwards.
    auto& dxs = node_dxs_[k];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int in = node.inputs[i], r = root_[in];
      real* target = nullptr;
      if (needs_grad_[in]) {
        bool earlier_slot = false;  // this node already writes r directly through a lower slot
        for (size_t q = 0; q < i; ++q) earlier_slot = earlier_slot || (root_[node.inputs[q]] == r && needs_grad_[node.inputs[q]]);
        target = grad_written_[r] || earlier_slot ? grad_scratch_.data() + int64_t(i) * scratch_slot_
                                                  : grad_buffer(r);
      }
      dxs[i] = Matrix<real>(target, rows, sizes_[in]);
    }
    if (l.arity() == Layer::kMerge) {
      auto& xs_k = node_xs_[k];
      for (size_t i = 0; i < node.inputs.size(); ++i) xs_k[i] = Matrix<const real>(act_[node.inputs[i]], rows, sizes_[node.inputs[i]]);
      l.backward_merge(dxs, dy, xs_k, y);
    } else {
      const int in = node.inputs[0];
      l.backward(dxs[0], dy, Matrix<const real>(act_[in], rows, sizes_[in]), y);
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int r = root_[node.inputs[i]];
      if (!dxs[i].data) continue;
      if (dxs[i].data == grad_buffer(r)) {
        grad_written_[r] = true;
        continue;
      }
      // sum += part through a kernel, so that it runs on the device.
      add_into<real>(grad_buffer(r), dxs[i].data, dxs[i].size());
    }
    if (node_done) (*node_done)(k);
  }
}

}  // namespace pydl

#include "nn/graph.h"

#include <cmath>
#include <vector>

#include "core/errors.h"
#include "core/rng.h"
#include "core/sizes.h"

namespace pydl {

Graph::Graph(Shape input_shape, const std::vector<LayerConfig>& configs)
    : input_shape_(std::move(input_shape)), configs_(configs) {
  build_layers(configs);
  bool params_before = false;
  std::string largest;
  int64_t largest_size = -1;
  for (auto& l : layers_) {
    needs_input_grad_.push_back(params_before);
    layer_offsets_.emplace_back(num_params_, num_state_);
    int64_t layer_size = 0;
    for (bool trainable : {true, false})
      for (const auto& spec : l->param_specs()) {
        if (spec.trainable != trainable) continue;
        const std::string owner = l->label() + " " + spec.name;
        for (int64_t d : spec.shape)
          if (d < 1) throw ValueError(owner + ": weight shape " + shape_str(spec.shape) + " has a size below 1");
        const int64_t size = checked_product(spec.shape, owner);
        int64_t& counter = trainable ? num_params_ : num_state_;
        params_.push_back({l->name(), spec.name, spec.shape, counter, size, spec});
        counter = checked_add(counter, size, "the model's weight count");
        layer_size += size;
        if (trainable) params_before = true;
      }
    if (layer_size > largest_size) largest_size = layer_size, largest = l->label();
  }
  // Parameters, gradients and the moving statistics must fit before anything is allocated.
  const double bytes = (2.0 * double(num_params_) + double(num_state_)) * sizeof(float);
  if (physical_memory_bytes() && bytes > double(physical_memory_bytes()))
    check_fits_in_memory(uint64_t(bytes), "the model's " + std::to_string(num_params_ + num_state_) +
                                              " weights (largest layer: " + largest + " with " +
                                              std::to_string(largest_size) + ") and their gradients");
  // get_weights order: each layer's weights in param_specs order.
  std::vector<ParamEntry> ordered;
  for (auto& l : layers_)
    for (const auto& spec : l->param_specs())
      for (const auto& e : params_)
        if (e.layer == l->name() && e.name == spec.name) ordered.push_back(e);
  params_ = std::move(ordered);
  param_buf_.resize(num_params_);
  grad_buf_.resize(num_params_);
  state_buf_.resize(num_state_);
  bind_layers(param_buf_.data(), grad_buf_.data(), state_buf_.data());
}

Graph::Graph(ReplicaOf r)
    : input_shape_(r.owner.input_shape_), configs_(r.owner.configs_), layer_offsets_(r.owner.layer_offsets_),
      params_(r.owner.params_), num_params_(r.owner.num_params_), num_state_(r.owner.num_state_),
      needs_input_grad_(r.owner.needs_input_grad_) {
  build_layers(configs_);
  // Inference only reads the weights; the gradient slices are never touched.
  Graph& owner = const_cast<Graph&>(r.owner);
  bind_layers(owner.param_buf_.data(), owner.grad_buf_.data(), owner.state_buf_.data());
}

void Graph::build_layers(const std::vector<LayerConfig>& configs) {
  for (int64_t d : input_shape_)
    if (d < 1) throw ValueError("Input: expected positive dimensions, got " + shape_str(input_shape_));
  checked_product(input_shape_, "Input " + shape_str(input_shape_));
  Shape shape = input_shape_;
  int index = 0;
  for (const auto& c : configs) {
    layers_.push_back(make_layer(c));
    Layer& l = *layers_.back();
    try {
      shape = l.build(shape, index++);
    } catch (const ValueError& e) {  // size helpers do not know the layer: name it here
      const std::string msg = e.what();
      if (msg.rfind(l.label(), 0) == 0) throw;
      throw ValueError(l.label() + ": " + msg);
    }
    for (int64_t d : shape)
      if (d < 1)
        throw ValueError(l.label() + ": the output shape " + shape_str(shape) +
                         " has a size below 1; check its sizes against the input " +
                         shape_str(index > 1 ? shapes_.back() : input_shape_));
    checked_product(shape, l.label() + " output " + shape_str(shape));
    shapes_.push_back(shape);
  }
  act_.assign(layers_.size(), nullptr);
  dact_.assign(layers_.size(), nullptr);
  act_bufs_.resize(layers_.size());
  grad_bufs_.resize(layers_.size());
}

void Graph::bind_layers(float* params, float* grads, float* state) {
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->bind(params + layer_offsets_[i].first, grads + layer_offsets_[i].first,
                     state + layer_offsets_[i].second);
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

// Rows (or columns, whichever are fewer) orthonormal: Gram-Schmidt over Gaussian draws.
static void orthogonal_init(float* w, int64_t rows, int64_t cols, const CounterRng& rng) {
  const bool by_rows = rows <= cols;
  const int64_t count = by_rows ? rows : cols, len = by_rows ? cols : rows;
  std::vector<double> v(count * len);
  for (int64_t i = 0; i < count * len; ++i) {  // Box-Muller
    const double u1 = 1.0 - rng.uniform_double(2 * uint64_t(i)), u2 = rng.uniform_double(2 * uint64_t(i) + 1);
    v[i] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  for (int64_t a = 0; a < count; ++a) {
    double* va = v.data() + a * len;
    for (int64_t b = 0; b < a; ++b) {
      const double* vb = v.data() + b * len;
      double dot = 0;
      for (int64_t k = 0; k < len; ++k) dot += va[k] * vb[k];
      for (int64_t k = 0; k < len; ++k) va[k] -= dot * vb[k];
    }
    double norm = 0;
    for (int64_t k = 0; k < len; ++k) norm += va[k] * va[k];
    norm = std::sqrt(norm);
    for (int64_t k = 0; k < len; ++k) va[k] /= norm;
  }
  for (int64_t a = 0; a < count; ++a)
    for (int64_t k = 0; k < len; ++k) (by_rows ? w[a * cols + k] : w[k * cols + a]) = float(v[a * len + k]);
}

void Graph::init_params(uint64_t seed) {
  for (size_t p = 0; p < params_.size(); ++p) {
    const ParamEntry& e = params_[p];
    float* w = (e.spec.trainable ? param_buf_.data() : state_buf_.data()) + e.offset;
    CounterRng rng(seed, 0x1a1700ULL + p);
    switch (e.spec.init) {
      case Init::Zeros:
        for (int64_t i = 0; i < e.size; ++i) w[i] = 0.0f;
        break;
      case Init::Ones:
        for (int64_t i = 0; i < e.size; ++i) w[i] = 1.0f;
        break;
      case Init::GlorotUniform: {
        const double limit = std::sqrt(6.0 / double(e.spec.fan_in + e.spec.fan_out));
        for (int64_t i = 0; i < e.size; ++i)
          w[i] = float((2.0 * rng.uniform_double(uint64_t(i)) - 1.0) * limit);
        break;
      }
      case Init::EmbeddingUniform:  // Keras: uniform in [-0.05, 0.05]
        for (int64_t i = 0; i < e.size; ++i) w[i] = float((2.0 * rng.uniform_double(uint64_t(i)) - 1.0) * 0.05);
        break;
      case Init::LstmBias: {  // zeros, forget gate (second quarter) ones
        const int64_t u = e.size / 4;
        for (int64_t i = 0; i < e.size; ++i) w[i] = i >= u && i < 2 * u ? 1.0f : 0.0f;
        break;
      }
      case Init::Orthogonal:
        orthogonal_init(w, e.shape[0], e.size / e.shape[0], rng);
        break;
    }
  }
}

void Graph::plan(int64_t max_batch) {
  if (max_batch < 1) throw ValueError("batch_size: expected >= 1, got " + std::to_string(max_batch));
  if (max_batch <= planned_) return;
  checked_mul(max_batch, input_size(), "batch_size " + std::to_string(max_batch) + " x input " + shape_str(input_shape_));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t n = checked_mul(max_batch, shape_size(shapes_[i]), layers_[i]->label() + " with batch_size " +
                                                                       std::to_string(max_batch));
    if (!layers_[i]->output_aliases_input()) act_bufs_[i].resize(n);
    // The output gradient needs a home of its own unless it can alias its predecessor's.
    if (!layers_[i]->output_aliases_input() || i == 0) grad_bufs_[i].resize(n);
    layers_[i]->plan(max_batch);
  }
  planned_ = max_batch;
}

Matrix<const float> Graph::forward(Matrix<const float> x, const StepInfo& s) {
  if (x.rows > planned_) plan(x.rows);
  input_ = x;
  const float* cur = x.data;
  const uint8_t* mask = nullptr;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = *layers_[i];
    l.set_input_mask(mask);
    const int64_t in_cols = i == 0 ? input_size() : shape_size(shapes_[i - 1]);
    const int64_t out_cols = shape_size(shapes_[i]);
    if (l.output_aliases_input()) {
      act_[i] = const_cast<float*>(cur);  // never written through: aliased outputs are read-only
      dact_[i] = i == 0 ? grad_bufs_[i].data() : dact_[i - 1];
    } else {
      act_[i] = act_bufs_[i].data();
      dact_[i] = grad_bufs_[i].data();
      l.forward(Matrix<float>(act_[i], x.rows, out_cols), Matrix<const float>(cur, x.rows, in_cols), s);
    }
    cur = act_[i];
    if (l.output_mask()) mask = l.output_mask();
    else if (!l.passes_mask()) mask = nullptr;
  }
  return Matrix<const float>(cur, x.rows, output_size());
}

Matrix<float> Graph::output_grad() {
  if (layers_.empty()) throw ValueError("the model has no layers");
  return Matrix<float>(dact_.back(), input_.rows, output_size());
}

void Graph::backward() {
  const int64_t rows = input_.rows;
  for (size_t ii = layers_.size(); ii-- > 0;) {
    Layer& l = *layers_[ii];
    if (l.output_aliases_input()) continue;
    const int64_t in_cols = ii == 0 ? input_size() : shape_size(shapes_[ii - 1]);
    const int64_t out_cols = shape_size(shapes_[ii]);
    const float* x = ii == 0 ? input_.data : act_[ii - 1];
    // Gradients flowing into layers without parameters before them would go unused.
    float* dx = needs_input_grad_[ii] ? dact_[ii - 1] : nullptr;
    l.backward(Matrix<float>(dx, rows, in_cols), Matrix<float>(dact_[ii], rows, out_cols),
               Matrix<const float>(x, rows, in_cols), Matrix<const float>(act_[ii], rows, out_cols));
  }
}

}  // namespace pydl

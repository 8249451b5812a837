#include "nn/graph.h"

#include <cmath>
#include <vector>

#include "core/errors.h"
#include "core/rng.h"

namespace pydl {

Graph::Graph(Shape input_shape, const std::vector<LayerConfig>& configs)
    : input_shape_(std::move(input_shape)) {
  for (int64_t d : input_shape_)
    if (d < 1) throw ValueError("Input: expected positive dimensions, got " + shape_str(input_shape_));
  Shape shape = input_shape_;
  int index = 0;
  for (const auto& c : configs) {
    layers_.push_back(make_layer(c));
    shape = layers_.back()->build(shape, index++);
    shapes_.push_back(shape);
  }
  bool params_before = false;
  std::vector<std::pair<int64_t, int64_t>> layer_offsets;  // (params, state) per layer
  for (auto& l : layers_) {
    needs_input_grad_.push_back(params_before);
    layer_offsets.emplace_back(num_params_, num_state_);
    for (bool trainable : {true, false})
      for (const auto& spec : l->param_specs()) {
        if (spec.trainable != trainable) continue;
        int64_t& counter = trainable ? num_params_ : num_state_;
        params_.push_back({l->name(), spec.name, spec.shape, counter, shape_size(spec.shape), spec});
        counter += shape_size(spec.shape);
        if (trainable) params_before = true;
      }
  }
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
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->bind(param_buf_.data() + layer_offsets[i].first, grad_buf_.data() + layer_offsets[i].first,
                     state_buf_.data() + layer_offsets[i].second);
  act_.assign(layers_.size(), nullptr);
  dact_.assign(layers_.size(), nullptr);
  act_bufs_.resize(layers_.size());
  grad_bufs_.resize(layers_.size());
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
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t n = max_batch * shape_size(shapes_[i]);
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

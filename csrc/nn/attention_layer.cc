// MultiHeadAttention (Keras 3): project query, key and value per head, fused scaled dot-product
// attention (kernels/attention), project the heads back.
//   Q = query @ Wq + bq, K = key @ Wk + bk, V = value @ Wv + bv   (N, T, heads, dim)
//   y = attention(Q, K, V) @ Wo + bo
// Weights as Keras stores them: query/key/value kernels (D, heads, key_dim|value_dim), biases
// (heads, dim), output kernel (heads, value_dim, *output_shape), bias (*output_shape).
// A merge-style node over [query, value, key?, attention_mask?]; key defaults to value. Keys
// are masked by the value's (and key's) padding mask, query rows by the query's, as Keras
// does; a query row that attends to nothing averages every value (weights 1 / Tk), as Keras'
// masked softmax does. The output carries the query's mask.
// Config: num_heads, key_dim, value_dim (key_dim), dropout (0), use_bias (true), output_shape
// ([] = the query's features); the call's use_causal_mask, has_key, has_attention_mask.
#include <algorithm>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/errors.h"
#include "core/rng.h"
#include "core/sizes.h"
#include "kernels/attention.h"
#include "kernels/dense.h"
#include "kernels/gemm.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

// Keras' glorot fans for an EinsumDense kernel: the leading axes count as receptive field.
ParamSpec einsum_kernel(const std::string& name, const Shape& shape) {
  int64_t rf = 1;
  for (size_t d = 0; d + 2 < shape.size(); ++d) rf *= shape[d];
  return {name, shape, Init::GlorotUniform, shape[shape.size() - 2] * rf, shape.back() * rf};
}

class MultiHeadAttentionLayer : public Layer {
 public:
  explicit MultiHeadAttentionLayer(const LayerConfig& c)
      : Layer(c), heads_(c.get_int("num_heads")), key_dim_(c.get_int("key_dim")),
        value_dim_(c.get_int("value_dim", key_dim_)), dropout_(c.get_double("dropout", 0.0)),
        use_bias_(c.get_bool("use_bias", true)), output_shape_(c.get_int_list("output_shape", {})),
        causal_(c.get_bool("use_causal_mask", false)), has_key_(c.get_bool("has_key", false)),
        has_mask_(c.get_bool("has_attention_mask", false)) {
    if (heads_ < 1) throw ValueError(label() + ": expected num_heads >= 1, got " + std::to_string(heads_));
    if (key_dim_ < 1) throw ValueError(label() + ": expected key_dim >= 1, got " + std::to_string(key_dim_));
    if (value_dim_ < 1) throw ValueError(label() + ": expected value_dim >= 1, got " + std::to_string(value_dim_));
    if (!(dropout_ >= 0.0 && dropout_ < 1.0))
      throw ValueError(label() + ": expected 0 <= dropout < 1, got " + std::to_string(dropout_));
    for (int64_t d : output_shape_)
      if (d < 1) throw ValueError(label() + ": expected output_shape sizes >= 1, got " + shape_str(output_shape_));
  }
  int arity() const override { return kMerge; }
  // Output 1 (return_attention_scores): the weights P, which its backward reads.
  void select_output(int j) override {
    if (j != 0 && j != 1)
      throw ValueError(label() + ": a call has two outputs (the attention output, the scores), no output " +
                       std::to_string(j));
    scores_ = j == 1;
  }
  bool backward_reads_output() const override { return scores_; }
  int output_mask_input() const override { return scores_ ? kNoMask : 0; }  // the query's
  Shape build(const Shape&, int) override {
    throw ValueError(label() + ": expected query and value tensors (mha(query, value))");
  }
  void forward(Matrix<real>, Matrix<const real>, const StepInfo&) override {}
  void backward(Matrix<real>, Matrix<real>, Matrix<const real>, Matrix<const real>) override {}

  Shape build_merge(const std::vector<Shape>& in, int index) override {
    index_ = index;
    const size_t expected = 2 + size_t(has_key_) + size_t(has_mask_);
    if (in.size() != expected)
      throw ValueError(label() + ": expected " + std::to_string(expected) + " inputs (query, value" +
                       (has_key_ ? ", key" : "") + (has_mask_ ? ", attention_mask" : "") + "), got " +
                       std::to_string(in.size()));
    const char* names[] = {"query", "value", "key"};
    for (size_t i = 0; i < 2 + size_t(has_key_); ++i)
      if (in[i].size() != 2)
        throw ValueError(label() + ": expected " + names[i] + " of shape (None, steps, features), got " +
                         shape_str(in[i]));
    const Shape& key = in[key_input()];
    if (key[0] != in[1][0])
      throw ValueError(label() + ": key and value need the same number of steps, got key " + shape_str(key) +
                       " and value " + shape_str(in[1]));
    tq_ = in[0][0];
    tk_ = in[1][0];
    dq_ = in[0][1];
    dv_in_ = in[1][1];
    dk_in_ = key[1];
    if (has_mask_ && in[mask_input()] != Shape{tq_, tk_})
      throw ValueError(label() + ": expected attention_mask of shape " + shape_str({tq_, tk_}) +
                       " (query steps, key steps), got " + shape_str(in[mask_input()]));
    if (causal_ && tq_ != tk_)
      throw ValueError(label() + ": use_causal_mask=True needs as many query steps as key steps, got " +
                       std::to_string(tq_) + " and " + std::to_string(tk_));
    out_shape_ = output_shape_.empty() ? Shape{dq_} : output_shape_;
    d_out_ = checked_product(out_shape_, label() + " output_shape");
    hk_ = checked_mul(heads_, key_dim_, label() + " num_heads * key_dim");
    hv_ = checked_mul(heads_, value_dim_, label() + " num_heads * value_dim");
    merge_masks_.assign(in.size(), nullptr);
    if (scores_) {
      output_ = {heads_, tq_, tk_};
      checked_product(output_, label() + " attention scores");
      return output_;
    }
    output_ = {tq_};
    output_.insert(output_.end(), out_shape_.begin(), out_shape_.end());
    return output_;
  }

  std::vector<ParamSpec> param_specs() const override {
    std::vector<ParamSpec> p;
    const int64_t in_dims[3] = {dq_, dk_in_, dv_in_}, dims[3] = {key_dim_, key_dim_, value_dim_};
    const char* names[3] = {"query", "key", "value"};
    for (int w = 0; w < 3; ++w) {
      p.push_back(einsum_kernel(std::string(names[w]) + "_kernel", {in_dims[w], heads_, dims[w]}));
      if (use_bias_) p.push_back({std::string(names[w]) + "_bias", {heads_, dims[w]}, Init::Zeros, 0, 0});
    }
    Shape okernel{heads_, value_dim_};
    okernel.insert(okernel.end(), out_shape_.begin(), out_shape_.end());
    p.push_back(einsum_kernel("output_kernel", okernel));
    if (use_bias_) p.push_back({"output_bias", out_shape_, Init::Zeros, 0, 0});
    return p;
  }

  void plan(int64_t n) override {
    for (auto* b : {&q_, &dq_buf_}) b->resize(n * tq_ * hk_);
    for (auto* b : {&k_, &dk_buf_}) b->resize(n * tk_ * hk_);
    key_mask_.resize(n * tk_);
    if (has_mask_) attn_mask_.resize(n * tq_ * tk_);
    if (scores_) return;
    for (auto* b : {&v_, &dv_buf_}) b->resize(n * tk_ * hv_);
    for (auto* b : {&o_, &do_}) b->resize(n * tq_ * hv_);
    lse_.resize(n * heads_ * tq_);
  }

  void forward_merge(Matrix<real> y, const std::vector<Matrix<const real>>& xs, const StepInfo& s) override {
    const int64_t n = y.rows;
    project(Matrix<real>(q_.data(), n * tq_, hk_), xs[0], tq_, dq_, 0);
    project(Matrix<real>(k_.data(), n * tk_, hk_), xs[key_input()], tk_, dk_in_, 1);
    set_masks_and_args(n, xs, s);
    if (scores_) {  // Keras returns the weights before dropout
      attention_scores_forward<real>(y.data, q_.data(), k_.data(), masks_, args_);
      return;
    }
    project(Matrix<real>(v_.data(), n * tk_, hv_), xs[1], tk_, dv_in_, 2);
    attention_forward<real>(o_.data(), lse_.data(), q_.data(), k_.data(), v_.data(), masks_, args_);
    gemm<real>(Matrix<real>(y.data, n * tq_, d_out_), Matrix<const real>(o_.data(), n * tq_, hv_), false,
                Matrix<const real>(param(kernel_of(3)), hv_, d_out_), false, 1.0f, 0.0f,
                use_bias_ ? param(bias_of(3)) : nullptr);
  }

  void backward_merge(const std::vector<Matrix<real>>& dxs, Matrix<real> dy, const std::vector<Matrix<const real>>& xs,
                      Matrix<const real> y) override {
    if (scores_) return scores_backward(dxs, dy, xs, y);
    const int64_t n = dy.rows;
    Matrix<const real> dyr(dy.data, n * tq_, d_out_), o(o_.data(), n * tq_, hv_);
    gemm<real>(Matrix<real>(grad(kernel_of(3)), hv_, d_out_), o, true, dyr, false, 1.0f, 1.0f);
    if (use_bias_) bias_backward<real>(grad(bias_of(3)), dyr);
    gemm<real>(Matrix<real>(do_.data(), n * tq_, hv_), dyr, false, Matrix<const real>(param(kernel_of(3)), hv_, d_out_),
                true);
    attention_backward<real>(dq_buf_.data(), dk_buf_.data(), dv_buf_.data(), do_.data(), q_.data(), k_.data(),
                              v_.data(), o_.data(), lse_.data(), masks_, args_);
    project_back(dxs[0], xs[0], dq_buf_.data(), tq_, dq_, 0, false);
    // Without a key tensor, value feeds both projections: its gradient is the sum.
    project_back(dxs[1], xs[1], dv_buf_.data(), tk_, dv_in_, 2, false);
    project_back(dxs[key_input()], xs[key_input()], dk_buf_.data(), tk_, dk_in_, 1, !has_key_);
    zero_mask_grad(dxs);
  }

 private:
  // The scores node: P depends on the query and key projections only.
  void scores_backward(const std::vector<Matrix<real>>& dxs, Matrix<real> dp, const std::vector<Matrix<const real>>& xs,
                       Matrix<const real> p) {
    attention_scores_backward<real>(dq_buf_.data(), dk_buf_.data(), dp.data, p.data, q_.data(), k_.data(), masks_,
                                    args_);
    project_back(dxs[0], xs[0], dq_buf_.data(), tq_, dq_, 0, false);
    project_back(dxs[key_input()], xs[key_input()], dk_buf_.data(), tk_, dk_in_, 1, false);
    if (has_key_ && dxs[1].data) attention_zero_backward<real>(dxs[1].data, dxs[1].size());  // value: unused
    zero_mask_grad(dxs);
  }
  void zero_mask_grad(const std::vector<Matrix<real>>& dxs) {
    if (has_mask_ && dxs[mask_input()].data)  // a mask has no gradient
      attention_zero_backward<real>(dxs[mask_input()].data, dxs[mask_input()].size());
  }
  void set_masks_and_args(int64_t n, const std::vector<Matrix<const real>>& xs, const StepInfo& s) {
    masks_ = AttentionMasks{};
    masks_.query = merge_masks_[0];
    const uint8_t* vm = merge_masks_[1];
    const uint8_t* km = has_key_ ? merge_masks_[key_input()] : nullptr;
    if (vm && km && vm != km) {  // Keras ANDs the value's and the key's padding
      attention_key_mask_forward(key_mask_.data(), vm, km, n * tk_);
      masks_.key = key_mask_.data();
    } else {
      masks_.key = vm ? vm : km;
    }
    if (has_mask_) {
      attention_mask_forward<real>(attn_mask_.data(), xs[mask_input()].data, n * tq_ * tk_);
      masks_.attn = attn_mask_.data();
    }
    args_ = AttentionArgs{};
    args_.n = n;
    args_.tq = tq_;
    args_.tk = tk_;
    args_.heads = heads_;
    args_.dk = key_dim_;
    args_.dv = value_dim_;
    args_.causal = causal_;
    args_.dropout = s.training ? dropout_ : 0.0;
    args_.dropout_seed = s.seed;
    args_.dropout_stream = 0xa77e0000ULL + uint64_t(index_);
    args_.clock = StepClock{s.step, s.step_results};
  }

  size_t key_input() const { return has_key_ ? 2 : 1; }
  size_t mask_input() const { return has_key_ ? 3 : 2; }
  // Projection w (0 query, 1 key, 2 value, 3 output): where its kernel and bias are bound.
  size_t kernel_of(int w) const { return use_bias_ ? size_t(2 * w) : size_t(w); }
  size_t bias_of(int w) const { return size_t(2 * w + 1); }
  int64_t width(int w) const { return w == 2 ? hv_ : hk_; }

  void project(Matrix<real> out, Matrix<const real> x, int64_t steps, int64_t features, int w) {
    gemm<real>(out, Matrix<const real>(x.data, x.rows * steps, features), false,
                Matrix<const real>(param(kernel_of(w)), features, width(w)), false, 1.0f, 0.0f,
                use_bias_ ? param(bias_of(w)) : nullptr);
  }
  // dW += x^T dz, db += colsum(dz), dx (=, or += when accumulate) dz W^T.
  void project_back(Matrix<real> dx, Matrix<const real> x, const real* dz_data, int64_t steps, int64_t features,
                    int w, bool accumulate) {
    const int64_t rows = x.rows * steps;
    Matrix<const real> dz(dz_data, rows, width(w)), xr(x.data, rows, features);
    gemm<real>(Matrix<real>(grad(kernel_of(w)), features, width(w)), xr, true, dz, false, 1.0f, 1.0f);
    if (use_bias_) bias_backward<real>(grad(bias_of(w)), dz);
    if (dx.data)
      gemm<real>(Matrix<real>(dx.data, rows, features), dz, false,
                  Matrix<const real>(param(kernel_of(w)), features, width(w)), true, 1.0f, accumulate ? 1.0f : 0.0f);
  }

  int64_t heads_, key_dim_, value_dim_;
  double dropout_;
  bool use_bias_;
  Shape output_shape_;
  bool causal_, has_key_, has_mask_;
  bool scores_ = false;  // this node makes output 1, the attention scores
  int64_t tq_ = 0, tk_ = 0, dq_ = 0, dk_in_ = 0, dv_in_ = 0, hk_ = 0, hv_ = 0, d_out_ = 0;
  Shape out_shape_;
  Buffer<real> q_, k_, v_, o_, lse_, do_, dq_buf_, dk_buf_, dv_buf_;
  Buffer<uint8_t> key_mask_, attn_mask_;
  AttentionMasks masks_;  // forward's, reused by backward
  AttentionArgs args_;
};

PYDL_REGISTER_LAYER("multi_head_attention", "MultiHeadAttention", construct<MultiHeadAttentionLayer>);

}  // namespace
}  // namespace pydl

// Fused attention kernels exposed for tests and benches, float32 and float64: forward returns
// (o, lse), backward (dq, dk, dv). Arrays are (N, T, heads, features), masks uint8 (1 = attend).
#include "bind/common.h"
#include "kernels/attention.h"

namespace pydl::bind {
namespace {

using Mask = std::optional<py::array_t<uint8_t, py::array::c_style | py::array::forcecast>>;

template <typename T>
AttentionArgs args_of(const Array<T>& q, const Array<T>& k, const Array<T>& v, bool causal, double dropout,
                      uint64_t seed, double scale) {
  require_rank(q, 4, "attention q (N, Tq, heads, dk)");
  require_rank(k, 4, "attention k (N, Tk, heads, dk)");
  require_rank(v, 4, "attention v (N, Tk, heads, dv)");
  AttentionArgs a;
  a.n = q.shape(0); a.tq = q.shape(1); a.heads = q.shape(2); a.dk = q.shape(3);
  a.tk = k.shape(1); a.dv = v.shape(3);
  if (k.shape(0) != a.n || k.shape(2) != a.heads || k.shape(3) != a.dk)
    throw ValueError("attention: k must be (N, Tk, heads, dk) with q's N, heads and dk");
  if (v.shape(0) != a.n || v.shape(1) != a.tk || v.shape(2) != a.heads)
    throw ValueError("attention: v must be (N, Tk, heads, dv) with k's N, Tk and heads");
  a.causal = causal;
  a.dropout = dropout;
  a.scale = scale;
  a.rng = CounterRng(seed, 0xa77e);
  check_attention_args(a);
  return a;
}

AttentionMasks masks_of(const AttentionArgs& a, const Mask& key, const Mask& query, const Mask& attn) {
  if (key) require_size(*key, a.n * a.tk, "attention key_mask (N, Tk)");
  if (query) require_size(*query, a.n * a.tq, "attention query_mask (N, Tq)");
  if (attn) require_size(*attn, a.n * a.tq * a.tk, "attention attention_mask (N, Tq, Tk)");
  return {key ? key->data() : nullptr, query ? query->data() : nullptr, attn ? attn->data() : nullptr};
}

template <typename T>
void def_attention(py::module_& k) {
  k.def("attention_forward", [](Array<T> q, Array<T> kk, Array<T> v, Mask key_mask, Mask query_mask,
                                Mask attention_mask, bool causal, double dropout, uint64_t seed, double scale) {
    const AttentionArgs a = args_of(q, kk, v, causal, dropout, seed, scale);
    const AttentionMasks m = masks_of(a, key_mask, query_mask, attention_mask);
    Array<T> o({a.n, a.tq, a.heads, a.dv}), lse({a.n, a.heads, a.tq});
    {
      py::gil_scoped_release release;
      attention_forward<T>(o.mutable_data(), lse.mutable_data(), q.data(), kk.data(), v.data(), m, a);
    }
    return py::make_tuple(o, lse);
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("key_mask") = py::none(), py::arg("query_mask") = py::none(),
     py::arg("attention_mask") = py::none(), py::arg("causal") = false, py::arg("dropout") = 0.0,
     py::arg("seed") = 0, py::arg("scale") = 0.0);
  k.def("attention_backward", [](Array<T> dout, Array<T> q, Array<T> kk, Array<T> v, Array<T> o, Array<T> lse,
                                 Mask key_mask, Mask query_mask, Mask attention_mask, bool causal, double dropout,
                                 uint64_t seed, double scale) {
    const AttentionArgs a = args_of(q, kk, v, causal, dropout, seed, scale);
    const AttentionMasks m = masks_of(a, key_mask, query_mask, attention_mask);
    require_size(dout, a.n * a.tq * a.heads * a.dv, "attention_backward dout (N, Tq, heads, dv)");
    require_size(o, a.n * a.tq * a.heads * a.dv, "attention_backward o (N, Tq, heads, dv)");
    require_size(lse, a.n * a.heads * a.tq, "attention_backward lse (N, heads, Tq)");
    Array<T> dq({a.n, a.tq, a.heads, a.dk}), dk({a.n, a.tk, a.heads, a.dk}), dv({a.n, a.tk, a.heads, a.dv});
    {
      py::gil_scoped_release release;
      attention_backward<T>(dq.mutable_data(), dk.mutable_data(), dv.mutable_data(), dout.data(), q.data(),
                            kk.data(), v.data(), o.data(), lse.data(), m, a);
    }
    return py::make_tuple(dq, dk, dv);
  }, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("o"), py::arg("lse"),
     py::arg("key_mask") = py::none(), py::arg("query_mask") = py::none(), py::arg("attention_mask") = py::none(),
     py::arg("causal") = false, py::arg("dropout") = 0.0, py::arg("seed") = 0, py::arg("scale") = 0.0);
  // The weights P (N, heads, Tq, Tk) and their backward (dq, dk); v only gives dv's size.
  k.def("attention_scores_forward", [](Array<T> q, Array<T> kk, Mask key_mask, Mask query_mask, Mask attention_mask,
                                       bool causal, double scale) {
    const AttentionArgs a = args_of(q, kk, kk, causal, 0.0, 0, scale);
    const AttentionMasks m = masks_of(a, key_mask, query_mask, attention_mask);
    Array<T> p({a.n, a.heads, a.tq, a.tk});
    {
      py::gil_scoped_release release;
      attention_scores_forward<T>(p.mutable_data(), q.data(), kk.data(), m, a);
    }
    return p;
  }, py::arg("q"), py::arg("k"), py::arg("key_mask") = py::none(), py::arg("query_mask") = py::none(),
     py::arg("attention_mask") = py::none(), py::arg("causal") = false, py::arg("scale") = 0.0);
  k.def("attention_scores_backward", [](Array<T> dp, Array<T> p, Array<T> q, Array<T> kk, Mask key_mask,
                                        Mask query_mask, Mask attention_mask, bool causal, double scale) {
    const AttentionArgs a = args_of(q, kk, kk, causal, 0.0, 0, scale);
    const AttentionMasks m = masks_of(a, key_mask, query_mask, attention_mask);
    require_size(dp, a.n * a.heads * a.tq * a.tk, "attention_scores_backward dp (N, heads, Tq, Tk)");
    require_size(p, a.n * a.heads * a.tq * a.tk, "attention_scores_backward p (N, heads, Tq, Tk)");
    Array<T> dq({a.n, a.tq, a.heads, a.dk}), dk({a.n, a.tk, a.heads, a.dk});
    {
      py::gil_scoped_release release;
      attention_scores_backward<T>(dq.mutable_data(), dk.mutable_data(), dp.data(), p.data(), q.data(), kk.data(), m,
                                   a);
    }
    return py::make_tuple(dq, dk);
  }, py::arg("dp"), py::arg("p"), py::arg("q"), py::arg("k"), py::arg("key_mask") = py::none(),
     py::arg("query_mask") = py::none(), py::arg("attention_mask") = py::none(), py::arg("causal") = false,
     py::arg("scale") = 0.0);
}

}  // namespace

void bind_attention_kernels(py::module_& m) {
  auto k = m.attr("kernels").cast<py::module_>();
  def_attention<float>(k);
  def_attention<double>(k);
}

}  // namespace pydl::bind

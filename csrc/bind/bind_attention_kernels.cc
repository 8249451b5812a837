// Fused attention kernels exposed for tests and benches, float32 and float64: forward returns
// (o, lse), backward (dq, dk, dv). Arrays are (N, T, heads, features), masks uint8 (1 = attend).
// Staged through KernelCall: inside pydl.kernels.on_device("cuda") they run on the GPU.
#include "bind/common.h"
#include "bind/kernel_call.h"
#include "kernels/attention.h"

namespace pydl::bind {
namespace {

using Bytes = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using Mask = std::optional<Bytes>;

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
  a.dropout_seed = seed;
  a.dropout_stream = 0xa77e;
  check_attention_args(a);
  return a;
}

AttentionMasks masks_of(KernelCall& call, const AttentionArgs& a, const Mask& key, const Mask& query,
                        const Mask& attn) {
  if (key) require_size(*key, a.n * a.tk, "attention key_mask (N, Tk)");
  if (query) require_size(*query, a.n * a.tq, "attention query_mask (N, Tq)");
  if (attn) require_size(*attn, a.n * a.tq * a.tk, "attention attention_mask (N, Tq, Tk)");
  return {key ? call.in(*key) : nullptr, query ? call.in(*query) : nullptr, attn ? call.in(*attn) : nullptr};
}

template <typename T>
void def_attention(py::module_& k) {
  k.def("attention_forward", [](Array<T> q, Array<T> kk, Array<T> v, Mask key_mask, Mask query_mask,
                                Mask attention_mask, bool causal, double dropout, uint64_t seed, double scale) {
    const AttentionArgs a = args_of(q, kk, v, causal, dropout, seed, scale);
    Array<T> o({a.n, a.tq, a.heads, a.dv}), lse({a.n, a.heads, a.tq});
    KernelCall call;
    const AttentionMasks m = masks_of(call, a, key_mask, query_mask, attention_mask);
    T *od = call.out(o), *lsed = call.out(lse);
    const T *qd = call.in(q), *kd = call.in(kk), *vd = call.in(v);
    {
      py::gil_scoped_release release;
      attention_forward<T>(od, lsed, qd, kd, vd, m, a);
      call.finish();
    }
    return py::make_tuple(o, lse);
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("key_mask") = py::none(), py::arg("query_mask") = py::none(),
     py::arg("attention_mask") = py::none(), py::arg("causal") = false, py::arg("dropout") = 0.0,
     py::arg("seed") = 0, py::arg("scale") = 0.0);
  k.def("attention_backward", [](Array<T> dout, Array<T> q, Array<T> kk, Array<T> v, Array<T> o, Array<T> lse,
                                 Mask key_mask, Mask query_mask, Mask attention_mask, bool causal, double dropout,
                                 uint64_t seed, double scale) {
    const AttentionArgs a = args_of(q, kk, v, causal, dropout, seed, scale);
    require_size(dout, a.n * a.tq * a.heads * a.dv, "attention_backward dout (N, Tq, heads, dv)");
    require_size(o, a.n * a.tq * a.heads * a.dv, "attention_backward o (N, Tq, heads, dv)");
    require_size(lse, a.n * a.heads * a.tq, "attention_backward lse (N, heads, Tq)");
    Array<T> dq({a.n, a.tq, a.heads, a.dk}), dk({a.n, a.tk, a.heads, a.dk}), dv({a.n, a.tk, a.heads, a.dv});
    KernelCall call;
    const AttentionMasks m = masks_of(call, a, key_mask, query_mask, attention_mask);
    T *dqd = call.out(dq), *dkd = call.out(dk), *dvd = call.out(dv);
    const T *doutd = call.in(dout), *qd = call.in(q), *kd = call.in(kk), *vd = call.in(v), *od = call.in(o),
            *lsed = call.in(lse);
    {
      py::gil_scoped_release release;
      attention_backward<T>(dqd, dkd, dvd, doutd, qd, kd, vd, od, lsed, m, a);
      call.finish();
    }
    return py::make_tuple(dq, dk, dv);
  }, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("o"), py::arg("lse"),
     py::arg("key_mask") = py::none(), py::arg("query_mask") = py::none(), py::arg("attention_mask") = py::none(),
     py::arg("causal") = false, py::arg("dropout") = 0.0, py::arg("seed") = 0, py::arg("scale") = 0.0);
  // The weights P (N, heads, Tq, Tk) and their backward (dq, dk); v only gives dv's size.
  k.def("attention_scores_forward", [](Array<T> q, Array<T> kk, Mask key_mask, Mask query_mask, Mask attention_mask,
                                       bool causal, double scale) {
    const AttentionArgs a = args_of(q, kk, kk, causal, 0.0, 0, scale);
    Array<T> p({a.n, a.heads, a.tq, a.tk});
    KernelCall call;
    const AttentionMasks m = masks_of(call, a, key_mask, query_mask, attention_mask);
    T* pd = call.out(p);
    const T *qd = call.in(q), *kd = call.in(kk);
    {
      py::gil_scoped_release release;
      attention_scores_forward<T>(pd, qd, kd, m, a);
      call.finish();
    }
    return p;
  }, py::arg("q"), py::arg("k"), py::arg("key_mask") = py::none(), py::arg("query_mask") = py::none(),
     py::arg("attention_mask") = py::none(), py::arg("causal") = false, py::arg("scale") = 0.0);
  k.def("attention_scores_backward", [](Array<T> dp, Array<T> p, Array<T> q, Array<T> kk, Mask key_mask,
                                        Mask query_mask, Mask attention_mask, bool causal, double scale) {
    const AttentionArgs a = args_of(q, kk, kk, causal, 0.0, 0, scale);
    require_size(dp, a.n * a.heads * a.tq * a.tk, "attention_scores_backward dp (N, heads, Tq, Tk)");
    require_size(p, a.n * a.heads * a.tq * a.tk, "attention_scores_backward p (N, heads, Tq, Tk)");
    Array<T> dq({a.n, a.tq, a.heads, a.dk}), dk({a.n, a.tk, a.heads, a.dk});
    KernelCall call;
    const AttentionMasks m = masks_of(call, a, key_mask, query_mask, attention_mask);
    T *dqd = call.out(dq), *dkd = call.out(dk);
    const T *dpd = call.in(dp), *pd = call.in(p), *qd = call.in(q), *kd = call.in(kk);
    {
      py::gil_scoped_release release;
      attention_scores_backward<T>(dqd, dkd, dpd, pd, qd, kd, m, a);
      call.finish();
    }
    return py::make_tuple(dq, dk);
  }, py::arg("dp"), py::arg("p"), py::arg("q"), py::arg("k"), py::arg("key_mask") = py::none(),
     py::arg("query_mask") = py::none(), py::arg("attention_mask") = py::none(), py::arg("causal") = false,
     py::arg("scale") = 0.0);
}

// The MultiHeadAttention layer's mask plumbing (test-only names: the CUDA versions are checked
// against these).
template <typename T>
void def_attention_masks(py::module_& k) {
  k.def("_attention_mask_forward", [](Array<T> m) {
    Bytes out(std::vector<py::ssize_t>(m.shape(), m.shape() + m.ndim()));
    KernelCall call;
    attention_mask_forward<T>(call.out(out), call.in(m), int64_t(m.size()));
    call.finish();
    return out;
  }, py::arg("m"));
  k.def("_attention_zero_backward", [](Array<T> dx) {
    Array<T> out(std::vector<py::ssize_t>(dx.shape(), dx.shape() + dx.ndim()));  // dx gives the shape
    KernelCall call;
    attention_zero_backward<T>(call.out(out), int64_t(out.size()));
    call.finish();
    return out;
  }, py::arg("dx"));
}

void def_key_mask(py::module_& k) {
  k.def("_attention_key_mask_forward", [](Bytes a, Bytes b) {
    require_size(b, int64_t(a.size()), "attention_key_mask_forward b");
    Bytes out(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
    KernelCall call;
    attention_key_mask_forward(call.out(out), call.in(a), call.in(b), int64_t(a.size()));
    call.finish();
    return out;
  }, py::arg("a"), py::arg("b"));
}

}  // namespace

void bind_attention_kernels(py::module_& m) {
  auto k = m.attr("kernels").cast<py::module_>();
  def_attention<float>(k);
  def_attention<double>(k);
  def_attention_masks<float>(k);
  def_attention_masks<double>(k);
  def_key_mask(k);
}

}  // namespace pydl::bind

// Fused attention on CPU: one (batch, head) pair per task, query tiles of kBq rows against key
// tiles of kBk keys. The inner loops are dot products (fixed 8-lane partial sums, so the
// compiler vectorises them without reassociating anything) and axpys over the feature axis.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/errors.h"
#include "core/fast_math.h"
#include "core/parallel.h"
#include "core/simd.h"

namespace pydl {
namespace {

constexpr int64_t kBq = 32;  // query rows per tile
constexpr int64_t kBk = 64;  // keys per tile: a 64 x dk tile of K stays in L1 for dk <= 64

template <typename T>
PYDL_ALWAYS_INLINE T dot(const T* a, const T* b, int64_t n) {
  T acc[8] = {};
  int64_t c = 0;
  for (; c + 8 <= n; c += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[c + l] * b[c + l];
  T s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; c < n; ++c) s += a[c] * b[c];
  return s;
}

template <typename T>
PYDL_ALWAYS_INLINE void axpy(T* y, T alpha, const T* x, int64_t n) {
  for (int64_t c = 0; c < n; ++c) y[c] += alpha * x[c];
}

// Where one (batch, head) pair's rows live, and which (query, key) pairs may attend.
template <typename T>
struct Pair {
  const AttentionArgs& a;
  const AttentionMasks& m;
  int64_t b, h;

  int64_t qrow(int64_t i) const { return ((b * a.tq + i) * a.heads + h); }  // row of Q, O, dq
  int64_t krow(int64_t j) const { return ((b * a.tk + j) * a.heads + h); }  // row of K, V, dk, dv
  bool query_live(int64_t i) const { return !m.query || m.query[b * a.tq + i]; }
  bool allowed(int64_t i, int64_t j) const {
    return (!a.causal || j <= i) && (!m.key || m.key[b * a.tk + j]) &&
           (!m.attn || m.attn[(b * a.tq + i) * a.tk + j]);
  }
  // Fills ok[ii][jj] for the tile; false when nothing in it may attend (the tile is skipped).
  bool tile(uint8_t ok[kBq][kBk], int64_t i0, int64_t i1, int64_t j0, int64_t j1) const {
    if (a.causal && j0 > i1 - 1) return false;
    bool any = false;
    for (int64_t i = i0; i < i1; ++i) {
      const bool live = query_live(i);
      for (int64_t j = j0; j < j1; ++j) {
        const bool y = live && allowed(i, j);
        ok[i - i0][j - j0] = y;
        any = any || y;
      }
    }
    return any;
  }
  // The dropout factor of weight (i, j): 0 or 1 / (1 - rate); 1 without dropout.
  T keep(int64_t i, int64_t j, T inv_keep) const {
    if (a.dropout <= 0.0) return T(1);
    const uint64_t flat = uint64_t(((b * a.heads + h) * a.tq + i) * a.tk + j);
    return a.rng.uniform(flat) >= float(a.dropout) ? inv_keep : T(0);
  }
};

template <typename T>
T scale_of(const AttentionArgs& a) {
  return a.scale > 0.0 ? T(a.scale) : T(1.0 / std::sqrt(double(a.dk)));
}

template <typename T>
PYDL_ALWAYS_INLINE void forward_pair_body(T* o, T* lse, const T* q, const T* k, const T* v, const Pair<T>& p) {
  const AttentionArgs& a = p.a;
  const int64_t hd = a.heads;
  const T scale = scale_of<T>(a), inv_keep = T(1.0 / (1.0 - a.dropout));
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < a.tq; ++i) std::fill_n(o + p.qrow(i) * a.dv, a.dv, T(0));
  uint8_t ok[kBq][kBk];
  T s[kBk], mrow[kBq], lrow[kBq];
  for (int64_t i0 = 0; i0 < a.tq; i0 += kBq) {
    const int64_t i1 = std::min(a.tq, i0 + kBq);
    std::fill_n(mrow, kBq, neg_inf);
    std::fill_n(lrow, kBq, T(0));
    for (int64_t j0 = 0; j0 < a.tk; j0 += kBk) {
      const int64_t j1 = std::min(a.tk, j0 + kBk), nj = j1 - j0;
      if (!p.tile(ok, i0, i1, j0, j1)) continue;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t ii = i - i0;
        const T* qi = q + p.qrow(i) * a.dk;
        T rmax = neg_inf;
        for (int64_t jj = 0; jj < nj; ++jj) {
          s[jj] = ok[ii][jj] ? dot(qi, k + p.krow(j0 + jj) * a.dk, a.dk) * scale : neg_inf;
          rmax = std::max(rmax, s[jj]);
        }
        if (rmax == neg_inf) continue;  // no key of this tile for this row
        const T m_new = std::max(mrow[ii], rmax);
        T* oi = o + p.qrow(i) * a.dv;
        if (mrow[ii] != neg_inf && mrow[ii] != m_new) {  // rescale what earlier tiles summed
          const T alpha = fast_exp(mrow[ii] - m_new);
          for (int64_t c = 0; c < a.dv; ++c) oi[c] *= alpha;
          lrow[ii] *= alpha;
        }
        mrow[ii] = m_new;
        for (int64_t jj = 0; jj < nj; ++jj) s[jj] = ok[ii][jj] ? fast_exp(s[jj] - m_new) : T(0);
        for (int64_t jj = 0; jj < nj; ++jj) {
          if (s[jj] == T(0)) continue;
          lrow[ii] += s[jj];
          const T w = s[jj] * p.keep(i, j0 + jj, inv_keep);
          if (w != T(0)) axpy(oi, w, v + p.krow(j0 + jj) * a.dv, a.dv);
        }
      }
    }
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t ii = i - i0;
      T* out_lse = lse + (p.b * hd + p.h) * a.tq + i;
      if (lrow[ii] > T(0)) {
        const T inv = T(1) / lrow[ii];
        T* oi = o + p.qrow(i) * a.dv;
        for (int64_t c = 0; c < a.dv; ++c) oi[c] *= inv;
        *out_lse = mrow[ii] + std::log(lrow[ii]);
      } else {  // may attend to no key: every weight 1 / Tk, as Keras' masked softmax gives
        *out_lse = std::numeric_limits<T>::infinity();
        T* oi = o + p.qrow(i) * a.dv;
        const T w = T(1) / T(a.tk);
        for (int64_t j = 0; j < a.tk; ++j) {
          const T wj = w * p.keep(i, j, inv_keep);
          if (wj != T(0)) axpy(oi, wj, v + p.krow(j) * a.dv, a.dv);
        }
      }
    }
  }
}

template <typename T>
PYDL_ALWAYS_INLINE void backward_pair_body(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                                           const T* o, const T* lse, const Pair<T>& p) {
  const AttentionArgs& a = p.a;
  const T scale = scale_of<T>(a), inv_keep = T(1.0 / (1.0 - a.dropout));
  const T inf = std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < a.tq; ++i) std::fill_n(dq + p.qrow(i) * a.dk, a.dk, T(0));
  for (int64_t j = 0; j < a.tk; ++j) {
    std::fill_n(dk + p.krow(j) * a.dk, a.dk, T(0));
    std::fill_n(dv + p.krow(j) * a.dv, a.dv, T(0));
  }
  uint8_t ok[kBq][kBk];
  T s[kBk], delta[kBq];
  const T* lse_pair = lse + (p.b * a.heads + p.h) * a.tq;
  for (int64_t i = 0; i < a.tq; ++i) {  // uniform rows: constant weights, only dV gets a gradient
    if (lse_pair[i] != inf) continue;
    const T w = T(1) / T(a.tk);
    for (int64_t j = 0; j < a.tk; ++j) {
      const T wj = w * p.keep(i, j, inv_keep);
      if (wj != T(0)) axpy(dv + p.krow(j) * a.dv, wj, dout + p.qrow(i) * a.dv, a.dv);
    }
  }
  for (int64_t i0 = 0; i0 < a.tq; i0 += kBq) {
    const int64_t i1 = std::min(a.tq, i0 + kBq);
    // delta_i = sum_j P_ij dP_ij = dO_i . O_i (with dropout too: O holds the dropped weights)
    for (int64_t i = i0; i < i1; ++i) delta[i - i0] = dot(dout + p.qrow(i) * a.dv, o + p.qrow(i) * a.dv, a.dv);
    for (int64_t j0 = 0; j0 < a.tk; j0 += kBk) {
      const int64_t j1 = std::min(a.tk, j0 + kBk), nj = j1 - j0;
      if (!p.tile(ok, i0, i1, j0, j1)) continue;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t ii = i - i0;
        const T li = lse_pair[i];
        if (li == inf) continue;
        const T* qi = q + p.qrow(i) * a.dk;
        const T* doi = dout + p.qrow(i) * a.dv;
        T* dqi = dq + p.qrow(i) * a.dk;
        for (int64_t jj = 0; jj < nj; ++jj)
          s[jj] = ok[ii][jj] ? dot(qi, k + p.krow(j0 + jj) * a.dk, a.dk) * scale - li : -inf;
        for (int64_t jj = 0; jj < nj; ++jj) s[jj] = ok[ii][jj] ? fast_exp(s[jj]) : T(0);
        for (int64_t jj = 0; jj < nj; ++jj) {
          if (!ok[ii][jj]) continue;
          const int64_t kr = p.krow(j0 + jj);
          const T w = p.keep(i, j0 + jj, inv_keep);
          const T pij = s[jj];
          if (w != T(0)) axpy(dv + kr * a.dv, pij * w, doi, a.dv);
          const T dpij = w != T(0) ? dot(doi, v + kr * a.dv, a.dv) * w : T(0);
          const T ds = pij * (dpij - delta[ii]) * scale;
          axpy(dqi, ds, k + kr * a.dk, a.dk);
          axpy(dk + kr * a.dk, ds, qi, a.dk);
        }
      }
    }
  }
}

// P of one (batch, head) pair, row by row (the whole Tq x Tk matrix is the output anyway).
template <typename T>
void scores_pair(T* p, const T* q, const T* k, const Pair<T>& pr) {
  const AttentionArgs& a = pr.a;
  const T scale = scale_of<T>(a);
  T* base = p + (pr.b * a.heads + pr.h) * a.tq * a.tk;
  for (int64_t i = 0; i < a.tq; ++i) {
    T* row = base + i * a.tk;
    const T* qi = q + pr.qrow(i) * a.dk;
    const bool live = pr.query_live(i);
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < a.tk; ++j) {
      const bool ok = live && pr.allowed(i, j);
      row[j] = ok ? dot(qi, k + pr.krow(j) * a.dk, a.dk) * scale : -std::numeric_limits<T>::infinity();
      mx = std::max(mx, row[j]);
    }
    if (mx == -std::numeric_limits<T>::infinity()) {  // attends to no key: uniform
      std::fill_n(row, a.tk, T(1) / T(a.tk));
      continue;
    }
    T sum = 0;
    for (int64_t j = 0; j < a.tk; ++j) sum += row[j] = std::exp(row[j] - mx);
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < a.tk; ++j) row[j] *= inv;
  }
}

// dS = P * (dP - rowsum(P dP)) * scale; dq_i = sum_j dS_ij k_j, dk_j = sum_i dS_ij q_i. A
// uniform (fully masked) row is constant in q and k: no gradient.
template <typename T>
void scores_backward_pair(T* dq, T* dk, const T* dp, const T* p, const T* q, const T* k, const Pair<T>& pr) {
  const AttentionArgs& a = pr.a;
  const T scale = scale_of<T>(a);
  for (int64_t i = 0; i < a.tq; ++i) std::fill_n(dq + pr.qrow(i) * a.dk, a.dk, T(0));
  for (int64_t j = 0; j < a.tk; ++j) std::fill_n(dk + pr.krow(j) * a.dk, a.dk, T(0));
  const int64_t off = (pr.b * a.heads + pr.h) * a.tq * a.tk;
  for (int64_t i = 0; i < a.tq; ++i) {
    const T* prow = p + off + i * a.tk;
    const T* dprow = dp + off + i * a.tk;
    bool any = pr.query_live(i);
    if (any) {
      any = false;
      for (int64_t j = 0; j < a.tk && !any; ++j) any = pr.allowed(i, j);
    }
    if (!any) continue;
    const T delta = dot(prow, dprow, a.tk);
    const T* qi = q + pr.qrow(i) * a.dk;
    T* dqi = dq + pr.qrow(i) * a.dk;
    for (int64_t j = 0; j < a.tk; ++j) {
      if (prow[j] == T(0)) continue;
      const T ds = prow[j] * (dprow[j] - delta) * scale;
      axpy(dqi, ds, k + pr.krow(j) * a.dk, a.dk);
      axpy(dk + pr.krow(j) * a.dk, ds, qi, a.dk);
    }
  }
}

// One clone per ISA (see core/simd.h); the bodies inline into each.
PYDL_SIMD_CLONES void forward_pair(float* o, float* lse, const float* q, const float* k, const float* v,
                                   const Pair<float>& p) {
  forward_pair_body(o, lse, q, k, v, p);
}
PYDL_SIMD_CLONES void forward_pair(double* o, double* lse, const double* q, const double* k, const double* v,
                                   const Pair<double>& p) {
  forward_pair_body(o, lse, q, k, v, p);
}
PYDL_SIMD_CLONES void backward_pair(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                    const float* k, const float* v, const float* o, const float* lse,
                                    const Pair<float>& p) {
  backward_pair_body(dq, dk, dv, dout, q, k, v, o, lse, p);
}
PYDL_SIMD_CLONES void backward_pair(double* dq, double* dk, double* dv, const double* dout, const double* q,
                                    const double* k, const double* v, const double* o, const double* lse,
                                    const Pair<double>& p) {
  backward_pair_body(dq, dk, dv, dout, q, k, v, o, lse, p);
}

}  // namespace

void check_attention_args(const AttentionArgs& a) {
  if (a.n < 1 || a.tq < 1 || a.tk < 1 || a.heads < 1 || a.dk < 1 || a.dv < 1)
    throw ValueError("attention: expected every size >= 1, got N=" + std::to_string(a.n) + " Tq=" +
                     std::to_string(a.tq) + " Tk=" + std::to_string(a.tk) + " heads=" + std::to_string(a.heads) +
                     " dk=" + std::to_string(a.dk) + " dv=" + std::to_string(a.dv));
  if (!(a.dropout >= 0.0 && a.dropout < 1.0))
    throw ValueError("attention: expected 0 <= dropout < 1, got " + std::to_string(a.dropout));
  if (a.causal && a.tq != a.tk)
    throw ValueError("attention: a causal mask needs as many queries as keys, got Tq=" + std::to_string(a.tq) +
                     " and Tk=" + std::to_string(a.tk));
}

template <typename T>
void attention_forward(T* o, T* lse, const T* q, const T* k, const T* v, const AttentionMasks& m,
                       const AttentionArgs& a) {
  check_attention_args(a);
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) forward_pair(o, lse, q, k, v, Pair<T>{a, m, t / a.heads, t % a.heads});
  });
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* o,
                        const T* lse, const AttentionMasks& m, const AttentionArgs& a) {
  check_attention_args(a);
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t)
      backward_pair(dq, dk, dv, dout, q, k, v, o, lse, Pair<T>{a, m, t / a.heads, t % a.heads});
  });
}

template <typename T>
void attention_scores_forward(T* p, const T* q, const T* k, const AttentionMasks& m, const AttentionArgs& a) {
  check_attention_args(a);
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) scores_pair(p, q, k, Pair<T>{a, m, t / a.heads, t % a.heads});
  });
}

template <typename T>
void attention_scores_backward(T* dq, T* dk, const T* dp, const T* p, const T* q, const T* k, const AttentionMasks& m,
                               const AttentionArgs& a) {
  check_attention_args(a);
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) scores_backward_pair(dq, dk, dp, p, q, k, Pair<T>{a, m, t / a.heads, t % a.heads});
  });
}

template void attention_scores_forward<float>(float*, const float*, const float*, const AttentionMasks&,
                                              const AttentionArgs&);
template void attention_scores_forward<double>(double*, const double*, const double*, const AttentionMasks&,
                                               const AttentionArgs&);
template void attention_scores_backward<float>(float*, float*, const float*, const float*, const float*, const float*,
                                               const AttentionMasks&, const AttentionArgs&);
template void attention_scores_backward<double>(double*, double*, const double*, const double*, const double*,
                                                const double*, const AttentionMasks&, const AttentionArgs&);
template void attention_forward<float>(float*, float*, const float*, const float*, const float*,
                                       const AttentionMasks&, const AttentionArgs&);
template void attention_forward<double>(double*, double*, const double*, const double*, const double*,
                                        const AttentionMasks&, const AttentionArgs&);
template void attention_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                        const float*, const float*, const float*, const AttentionMasks&,
                                        const AttentionArgs&);
template void attention_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                         const double*, const double*, const double*, const AttentionMasks&,
                                         const AttentionArgs&);

}  // namespace pydl

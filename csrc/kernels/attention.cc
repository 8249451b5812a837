// Fused attention on CPU: one (batch, head) pair per task, query tiles of kBq rows against key
// tiles of kBk keys. Every product of a tile (Q K^T, P V, dO V^T, dS K, dS^T Q, P^T dO) is one
// register-blocked loop nest (tile_gemm): kR rows by kW columns of accumulators, the depth
// summed in order, so the compiler vectorises over the columns without reassociating
// anything. The operands read along columns (K^T, V, V^T, K, Q, dO of the pair) are packed once
// per pair into zero-padded workspaces, so every tile reads whole, aligned column blocks.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/errors.h"
#include "core/fast_math.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/reduce.h"

namespace pydl {
namespace {

constexpr int64_t kBq = 32;  // query rows per tile
constexpr int64_t kBk = 64;  // keys per tile
constexpr int64_t kW = 32;   // accumulator columns of tile_gemm (2 AVX-512 registers of floats)
constexpr int64_t kR = 4;    // accumulator rows of tile_gemm

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

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

// Lane-wise max of x[0..n), n a multiple of kLanes: kLanes partial results combined in a
// fixed tree (as lane_sum, kernels/reduce.h), so the compiler vectorises it.
constexpr int64_t kLanes = 16;
static_assert(kBk % kLanes == 0, "tile rows are whole lanes");

template <typename T>
PYDL_ALWAYS_INLINE T lane_max(const T* x, int64_t n) {
  T m[kLanes];
  for (int l = 0; l < kLanes; ++l) m[l] = x[l];
  for (int64_t c = kLanes; c < n; c += kLanes)
    for (int l = 0; l < kLanes; ++l) m[l] = m[l] < x[c + l] ? x[c + l] : m[l];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l) m[l] = m[l] < m[l + w] ? m[l + w] : m[l];
  return m[0];
}

// c[r][0..kW) (=, or += when accumulate) sum_d a(r, d) * b[d][0..kW), for R rows; a(r, d) is
// a[r * lda + d], or a[d * lda + r] when TransA (A stored transposed: dS^T Q, P^T dO read the
// tile as it was computed).
template <typename T, int R, bool TransA>
PYDL_ALWAYS_INLINE void rows_block(T* c, int64_t ldc, const T* a, int64_t lda, const T* b, int64_t ldb, int64_t depth,
                                   bool accumulate) {
  T acc[R][kW];
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < kW; ++w) acc[r][w] = accumulate ? c[r * ldc + w] : T(0);
  for (int64_t d = 0; d < depth; ++d) {
    const T* bd = b + d * ldb;
    for (int r = 0; r < R; ++r) {
      const T av = TransA ? a[d * lda + r] : a[r * lda + d];
      for (int w = 0; w < kW; ++w) acc[r][w] += av * bd[w];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < kW; ++w) c[r * ldc + w] = acc[r][w];
}

// C (rows x width) (=, or +=) A (rows x depth) @ B (depth x width); width a multiple of kW,
// B's columns up to width readable (zero padding beyond the real ones). TransA: A is stored
// (depth x rows), row d at a + d * lda.
template <bool TransA = false, typename T>
PYDL_ALWAYS_INLINE void tile_gemm(T* c, int64_t ldc, const T* a, int64_t lda, const T* b, int64_t ldb, int64_t rows,
                                  int64_t depth, int64_t width, bool accumulate) {
  const auto a_rows = [&](int64_t r) { return TransA ? a + r : a + r * lda; };
  for (int64_t w0 = 0; w0 < width; w0 += kW) {
    int64_t r = 0;
    for (; r + kR <= rows; r += kR)
      rows_block<T, kR, TransA>(c + r * ldc + w0, ldc, a_rows(r), lda, b + w0, ldb, depth, accumulate);
    if (r + 2 <= rows) {
      rows_block<T, 2, TransA>(c + r * ldc + w0, ldc, a_rows(r), lda, b + w0, ldb, depth, accumulate);
      r += 2;
    }
    if (r < rows) rows_block<T, 1, TransA>(c + r * ldc + w0, ldc, a_rows(r), lda, b + w0, ldb, depth, accumulate);
  }
}

// rows x cols of a strided source (row i at src + i * ld) into dst (rows_pad x cols_pad),
// zero-padded; transposed: dst[c][i] = src[i][c] (cols_pad x rows_pad).
template <typename T>
void pack(T* dst, const T* src, int64_t ld, int64_t rows, int64_t cols, int64_t rows_pad, int64_t cols_pad,
          bool transpose) {
  std::fill_n(dst, rows_pad * cols_pad, T(0));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < cols; ++c) {
      if (transpose)
        dst[c * rows_pad + i] = src[i * ld + c];
      else
        dst[i * cols_pad + c] = src[i * ld + c];
    }
}

// Where one (batch, head) pair's rows live, and which (query, key) pairs may attend.
template <typename T>
struct Pair {
  const AttentionArgs& a;
  const AttentionMasks& m;
  int64_t b, h;
  CounterRng rng = attention_dropout_rng(a);

  int64_t qrow(int64_t i) const { return ((b * a.tq + i) * a.heads + h); }  // row of Q, O, dq
  int64_t krow(int64_t j) const { return ((b * a.tk + j) * a.heads + h); }  // row of K, V, dk, dv
  bool query_live(int64_t i) const { return !m.query || m.query[b * a.tq + i]; }
  bool allowed(int64_t i, int64_t j) const {
    return (!a.causal || j <= i) && (!m.key || m.key[b * a.tk + j]) &&
           (!m.attn || m.attn[(b * a.tq + i) * a.tk + j]);
  }
  // What may attend in a tile: nothing (the tile is skipped), everything (no masks, and below
  // the causal diagonal), or some pairs (ok[ii][jj] filled).
  enum Tile { kNone, kSome, kAll };
  Tile tile(uint8_t ok[kBq][kBk], int64_t i0, int64_t i1, int64_t j0, int64_t j1) const {
    if (a.causal && j0 > i1 - 1) return kNone;
    if (!m.key && !m.query && !m.attn && (!a.causal || j1 - 1 <= i0)) return kAll;
    bool any = false;
    for (int64_t i = i0; i < i1; ++i) {
      const bool live = query_live(i);
      for (int64_t j = j0; j < j1; ++j) {
        const bool y = live && allowed(i, j);
        ok[i - i0][j - j0] = y;
        any = any || y;
      }
    }
    return any ? kSome : kNone;
  }
  // The dropout factor of weight (i, j): 0 or 1 / (1 - rate); 1 without dropout.
  T keep(int64_t i, int64_t j, T inv_keep) const {
    if (a.dropout <= 0.0) return T(1);
    const uint64_t flat = uint64_t(((b * a.heads + h) * a.tq + i) * a.tk + j);
    return rng.uniform(flat) >= float(a.dropout) ? inv_keep : T(0);
  }
};

template <typename T>
T scale_of(const AttentionArgs& a) {
  return a.scale > 0.0 ? T(a.scale) : T(1.0 / std::sqrt(double(a.dk)));
}

// Per-pair workspace sizes (floats), forward and backward.
struct PairDims {
  int64_t tq_pad, tk_pad, dk_pad, dv_pad;
  explicit PairDims(const AttentionArgs& a)
      : tq_pad(round_up(a.tq, kBq)), tk_pad(round_up(a.tk, kBk)), dk_pad(round_up(a.dk, kW)),
        dv_pad(round_up(a.dv, kW)) {}
  int64_t forward_floats() const { return dk_pad * tk_pad + tk_pad * dv_pad + 2 * kBq * std::max(kBk, dv_pad); }
  int64_t backward_floats() const {
    return dk_pad * tk_pad + dv_pad * tk_pad + tk_pad * dk_pad + tq_pad * dk_pad + tq_pad * dv_pad +
           tk_pad * dk_pad + tk_pad * dv_pad + kBq * dk_pad + 2 * kBq * kBk;
  }
};

template <typename T>
PYDL_ALWAYS_INLINE void forward_pair_body(T* o, T* lse, const T* q, const T* k, const T* v, const Pair<T>& p,
                                          T* ws) {
  const AttentionArgs& a = p.a;
  const PairDims dims(a);
  const int64_t hd = a.heads, tkp = dims.tk_pad, dvp = dims.dv_pad;
  const T scale = scale_of<T>(a), inv_keep = T(1.0 / (1.0 - a.dropout));
  const T neg_inf = -std::numeric_limits<T>::infinity();
  T* kt = ws;                  // K^T (dk x tk_pad)
  T* vp = kt + dims.dk_pad * tkp;  // V (tk_pad x dv_pad)
  T* s = vp + tkp * dvp;       // scores / weights of a tile (kBq x kBk)
  T* ot = s + kBq * std::max(kBk, dvp);  // the tile's output accumulators (kBq x dv_pad)
  pack(kt, k + p.krow(0) * a.dk, hd * a.dk, a.tk, a.dk, tkp, dims.dk_pad, true);
  pack(vp, v + p.krow(0) * a.dv, hd * a.dv, a.tk, a.dv, tkp, dvp, false);
  uint8_t ok[kBq][kBk];
  T mrow[kBq], lrow[kBq];
  for (int64_t i0 = 0; i0 < a.tq; i0 += kBq) {
    const int64_t i1 = std::min(a.tq, i0 + kBq), nq = i1 - i0;
    std::fill_n(mrow, kBq, neg_inf);
    std::fill_n(lrow, kBq, T(0));
    std::fill_n(ot, kBq * dvp, T(0));
    for (int64_t j0 = 0; j0 < a.tk; j0 += kBk) {
      const int64_t j1 = std::min(a.tk, j0 + kBk), nj = j1 - j0;
      const auto kind = p.tile(ok, i0, i1, j0, j1);
      if (kind == Pair<T>::kNone) continue;
      tile_gemm(s, kBk, q + p.qrow(i0) * a.dk, hd * a.dk, kt + j0, tkp, nq, a.dk, kBk, false);
      for (int64_t ii = 0; ii < nq; ++ii) {
        T* si = s + ii * kBk;
        // Whole rows of kBk (padding and masked keys at -inf, then weight 0): every loop vectorises.
        if (kind == Pair<T>::kAll)
          for (int64_t jj = 0; jj < kBk; ++jj) si[jj] = jj < nj ? si[jj] * scale : neg_inf;
        else
          for (int64_t jj = 0; jj < kBk; ++jj) si[jj] = jj < nj && ok[ii][jj] ? si[jj] * scale : neg_inf;
        const T rmax = lane_max(si, kBk);
        if (rmax == neg_inf) {  // no key of this tile for this row
          std::fill_n(si, kBk, T(0));
          continue;
        }
        const T m_new = std::max(mrow[ii], rmax);
        if (mrow[ii] != neg_inf && mrow[ii] != m_new) {  // rescale what earlier tiles summed
          const T alpha = fast_exp(mrow[ii] - m_new);
          for (int64_t c = 0; c < dvp; ++c) ot[ii * dvp + c] *= alpha;
          lrow[ii] *= alpha;
        }
        mrow[ii] = m_new;
        for (int64_t jj = 0; jj < kBk; ++jj) si[jj] = si[jj] == neg_inf ? T(0) : fast_exp(si[jj] - m_new);
        lrow[ii] += lane_sum<kLanes, T>(kBk, [&](int64_t j) { return si[j]; });
        if (a.dropout > 0.0)
          for (int64_t jj = 0; jj < nj; ++jj) si[jj] *= p.keep(i0 + ii, j0 + jj, inv_keep);
      }
      tile_gemm(ot, dvp, s, kBk, vp + j0 * dvp, dvp, nq, nj, dvp, true);
    }
    for (int64_t ii = 0; ii < nq; ++ii) {
      const int64_t i = i0 + ii;
      T* out_lse = lse + (p.b * hd + p.h) * a.tq + i;
      T* oi = o + p.qrow(i) * a.dv;
      if (lrow[ii] > T(0)) {
        const T inv = T(1) / lrow[ii];
        for (int64_t c = 0; c < a.dv; ++c) oi[c] = ot[ii * dvp + c] * inv;
        *out_lse = mrow[ii] + std::log(lrow[ii]);
      } else {  // may attend to no key: every weight 1 / Tk, as Keras' masked softmax gives
        *out_lse = std::numeric_limits<T>::infinity();
        std::fill_n(oi, a.dv, T(0));
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
                                           const T* o, const T* lse, const Pair<T>& p, T* ws) {
  const AttentionArgs& a = p.a;
  const PairDims dims(a);
  const int64_t hd = a.heads, tkp = dims.tk_pad, tqp = dims.tq_pad, dkp = dims.dk_pad, dvp = dims.dv_pad;
  const T scale = scale_of<T>(a), inv_keep = T(1.0 / (1.0 - a.dropout));
  const T inf = std::numeric_limits<T>::infinity();
  T* kt = ws;                    // K^T (dk x tk_pad): scores
  T* vt = kt + dkp * tkp;        // V^T (dv x tk_pad): dP = dO V^T
  T* kp = vt + dvp * tkp;        // K (tk_pad x dk_pad): dQ = dS K
  T* qp = kp + tkp * dkp;        // Q (tq_pad x dk_pad): dK = dS^T Q
  T* dop = qp + tqp * dkp;       // dO (tq_pad x dv_pad): dV = P^T dO
  T* dk_acc = dop + tqp * dvp;   // (tk_pad x dk_pad)
  T* dv_acc = dk_acc + tkp * dkp;  // (tk_pad x dv_pad)
  T* dq_acc = dv_acc + tkp * dvp;  // one query tile's (kBq x dk_pad)
  T* ds = dq_acc + kBq * dkp;    // dP, then dS of a tile (kBq x kBk)
  T* s = ds + kBq * kBk;         // scores, then P with dropout applied (kBq x kBk)
  pack(kt, k + p.krow(0) * a.dk, hd * a.dk, a.tk, a.dk, tkp, dkp, true);
  pack(vt, v + p.krow(0) * a.dv, hd * a.dv, a.tk, a.dv, tkp, dvp, true);
  pack(kp, k + p.krow(0) * a.dk, hd * a.dk, a.tk, a.dk, tkp, dkp, false);
  pack(qp, q + p.qrow(0) * a.dk, hd * a.dk, a.tq, a.dk, tqp, dkp, false);
  pack(dop, dout + p.qrow(0) * a.dv, hd * a.dv, a.tq, a.dv, tqp, dvp, false);
  std::fill_n(dk_acc, tkp * dkp, T(0));
  std::fill_n(dv_acc, tkp * dvp, T(0));
  uint8_t ok[kBq][kBk];
  T delta[kBq];
  const T* lse_pair = lse + (p.b * a.heads + p.h) * a.tq;
  for (int64_t i = 0; i < a.tq; ++i) {  // uniform rows: constant weights, only dV gets a gradient
    if (lse_pair[i] != inf) continue;
    const T w = T(1) / T(a.tk);
    for (int64_t j = 0; j < a.tk; ++j) {
      const T wj = w * p.keep(i, j, inv_keep);
      if (wj != T(0)) axpy(dv_acc + j * dvp, wj, dout + p.qrow(i) * a.dv, a.dv);
    }
  }
  for (int64_t i0 = 0; i0 < a.tq; i0 += kBq) {
    const int64_t i1 = std::min(a.tq, i0 + kBq), nq = i1 - i0;
    // delta_i = sum_j P_ij dP_ij = dO_i . O_i (with dropout too: O holds the dropped weights)
    for (int64_t i = i0; i < i1; ++i) delta[i - i0] = dot(dout + p.qrow(i) * a.dv, o + p.qrow(i) * a.dv, a.dv);
    std::fill_n(dq_acc, kBq * dkp, T(0));
    for (int64_t j0 = 0; j0 < a.tk; j0 += kBk) {
      const int64_t j1 = std::min(a.tk, j0 + kBk), nj = j1 - j0;
      const auto kind = p.tile(ok, i0, i1, j0, j1);
      if (kind == Pair<T>::kNone) continue;
      tile_gemm(s, kBk, q + p.qrow(i0) * a.dk, hd * a.dk, kt + j0, tkp, nq, a.dk, kBk, false);
      tile_gemm(ds, kBk, dout + p.qrow(i0) * a.dv, hd * a.dv, vt + j0, tkp, nq, a.dv, kBk, false);  // dP
      for (int64_t ii = 0; ii < nq; ++ii) {
        const int64_t i = i0 + ii;
        const T li = lse_pair[i], di = delta[ii];
        T* si = s + ii * kBk;
        T* dsi = ds + ii * kBk;
        if (li == inf) {  // a uniform row: no gradient through the scores
          std::fill_n(si, kBk, T(0));
          std::fill_n(dsi, kBk, T(0));
          continue;
        }
        // s becomes P (dropped), ds becomes dS, both in place: the products below read them
        // as they lie (P^T dO and dS^T Q through TransA).
        if (kind == Pair<T>::kAll && a.dropout <= 0.0) {
          for (int64_t jj = 0; jj < kBk; ++jj) {
            const T pij = jj < nj ? fast_exp(si[jj] * scale - li) : T(0);
            si[jj] = pij;
            dsi[jj] = pij * (dsi[jj] - di) * scale;
          }
          continue;
        }
        for (int64_t jj = 0; jj < kBk; ++jj) {
          const bool live = jj < nj && (kind == Pair<T>::kAll || ok[ii][jj]);
          const T pij = live ? fast_exp(si[jj] * scale - li) : T(0);
          const T w = live ? p.keep(i, j0 + jj, inv_keep) : T(0);
          si[jj] = pij * w;
          dsi[jj] = live ? pij * (dsi[jj] * w - di) * scale : T(0);
        }
      }
      tile_gemm<true>(dv_acc + j0 * dvp, dvp, s, kBk, dop + i0 * dvp, dvp, nj, nq, dvp, true);
      tile_gemm<true>(dk_acc + j0 * dkp, dkp, ds, kBk, qp + i0 * dkp, dkp, nj, nq, dkp, true);
      tile_gemm(dq_acc, dkp, ds, kBk, kp + j0 * dkp, dkp, nq, nj, dkp, true);
    }
    for (int64_t ii = 0; ii < nq; ++ii) std::copy_n(dq_acc + ii * dkp, a.dk, dq + p.qrow(i0 + ii) * a.dk);
  }
  for (int64_t j = 0; j < a.tk; ++j) {
    std::copy_n(dk_acc + j * dkp, a.dk, dk + p.krow(j) * a.dk);
    std::copy_n(dv_acc + j * dvp, a.dv, dv + p.krow(j) * a.dv);
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
                                   const Pair<float>& p, float* ws) {
  forward_pair_body(o, lse, q, k, v, p, ws);
}
PYDL_SIMD_CLONES void forward_pair(double* o, double* lse, const double* q, const double* k, const double* v,
                                   const Pair<double>& p, double* ws) {
  forward_pair_body(o, lse, q, k, v, p, ws);
}
PYDL_SIMD_CLONES void backward_pair(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                    const float* k, const float* v, const float* o, const float* lse,
                                    const Pair<float>& p, float* ws) {
  backward_pair_body(dq, dk, dv, dout, q, k, v, o, lse, p, ws);
}
PYDL_SIMD_CLONES void backward_pair(double* dq, double* dk, double* dv, const double* dout, const double* q,
                                    const double* k, const double* v, const double* o, const double* lse,
                                    const Pair<double>& p, double* ws) {
  backward_pair_body(dq, dk, dv, dout, q, k, v, o, lse, p, ws);
}

}  // namespace

template <typename T>
void attention_forward(T* o, T* lse, const T* q, const T* k, const T* v, const AttentionMasks& m,
                       const AttentionArgs& a) {
  PYDL_DEVICE_DISPATCH(attention_forward, o, lse, q, k, v, m, a);
  check_attention_args(a);
  const int64_t ws_size = PairDims(a).forward_floats();
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> ws(static_cast<size_t>(ws_size));  // one per thread's share, reused by its pairs
    for (int64_t t = lo; t < hi; ++t)
      forward_pair(o, lse, q, k, v, Pair<T>{a, m, t / a.heads, t % a.heads}, ws.data());
  });
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* o,
                        const T* lse, const AttentionMasks& m, const AttentionArgs& a) {
  PYDL_DEVICE_DISPATCH(attention_backward, dq, dk, dv, dout, q, k, v, o, lse, m, a);
  check_attention_args(a);
  const int64_t ws_size = PairDims(a).backward_floats();
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> ws(static_cast<size_t>(ws_size));
    for (int64_t t = lo; t < hi; ++t)
      backward_pair(dq, dk, dv, dout, q, k, v, o, lse, Pair<T>{a, m, t / a.heads, t % a.heads}, ws.data());
  });
}

template <typename T>
void attention_scores_forward(T* p, const T* q, const T* k, const AttentionMasks& m, const AttentionArgs& a) {
  PYDL_DEVICE_DISPATCH(attention_scores_forward, p, q, k, m, a);
  check_attention_args(a);
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) scores_pair(p, q, k, Pair<T>{a, m, t / a.heads, t % a.heads});
  });
}

template <typename T>
void attention_scores_backward(T* dq, T* dk, const T* dp, const T* p, const T* q, const T* k, const AttentionMasks& m,
                               const AttentionArgs& a) {
  PYDL_DEVICE_DISPATCH(attention_scores_backward, dq, dk, dp, p, q, k, m, a);
  check_attention_args(a);
  parallel_range(a.n * a.heads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) scores_backward_pair(dq, dk, dp, p, q, k, Pair<T>{a, m, t / a.heads, t % a.heads});
  });
}

void attention_key_mask_forward(uint8_t* out, const uint8_t* a, const uint8_t* b, int64_t n) {
  PYDL_DEVICE_DISPATCH_PLAIN(attention_key_mask_forward, out, a, b, n);
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] & b[i];
}

template <typename T>
void attention_mask_forward(uint8_t* out, const T* m, int64_t n) {
  PYDL_DEVICE_DISPATCH(attention_mask_forward, out, m, n);
  for (int64_t i = 0; i < n; ++i) out[i] = m[i] > T(0.5);
}

template <typename T>
void attention_zero_backward(T* dx, int64_t n) {
  PYDL_DEVICE_DISPATCH(attention_zero_backward, dx, n);
  std::fill_n(dx, n, T(0));
}

template void attention_mask_forward<float>(uint8_t*, const float*, int64_t);
template void attention_mask_forward<double>(uint8_t*, const double*, int64_t);
template void attention_zero_backward<float>(float*, int64_t);
template void attention_zero_backward<double>(double*, int64_t);
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

#include "kernels/rnn.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/fast_math.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/dense.h"
#include "kernels/gemm.h"

namespace pydl {
namespace {

template <typename T>
inline T sigm(T v) { return fast_sigmoid(v); }
template <typename T>
inline T tanh_(T v) { return fast_tanh(v); }

// One step's cell update for one row: branch-free loops over units, cloned per ISA.
template <typename T>
PYDL_ALWAYS_INLINE void lstm_row_impl(T* __restrict g, T* __restrict h, T* __restrict c, const T* __restrict xr,
                                      const T* __restrict hrr, const T* __restrict cpr, int64_t u) {
  for (int64_t j = 0; j < u; ++j) {
    const T ig = sigm(xr[j] + hrr[j]), fg = sigm(xr[u + j] + hrr[u + j]);
    const T gg = tanh_(xr[2 * u + j] + hrr[2 * u + j]), og = sigm(xr[3 * u + j] + hrr[3 * u + j]);
    g[j] = ig; g[u + j] = fg; g[2 * u + j] = gg; g[3 * u + j] = og;
    const T cj = fg * cpr[j] + ig * gg;
    c[j] = cj;
    h[j] = og * tanh_(cj);
  }
}
template <typename T>
PYDL_ALWAYS_INLINE void gru_row_impl(T* __restrict g, T* __restrict h, T* __restrict hn, const T* __restrict xr,
                                     const T* __restrict hrr, const T* __restrict hpr, int64_t u) {
  for (int64_t j = 0; j < u; ++j) {
    const T rg = sigm(xr[j] + hrr[j]), zg = sigm(xr[u + j] + hrr[u + j]);
    hn[j] = hrr[2 * u + j];
    const T ng = tanh_(xr[2 * u + j] + rg * hrr[2 * u + j]);
    g[j] = rg; g[u + j] = zg; g[2 * u + j] = ng;
    h[j] = (T(1) - zg) * ng + zg * hpr[j];
  }
}
// Backward of one row's step. dn / dcn: in, the state gradients after the step; out, the
// direct parts before it (the recurrent GEMM adds the rest).
template <typename T>
PYDL_ALWAYS_INLINE void lstm_row_back_impl(T* __restrict dxr, T* __restrict dn, T* __restrict dcn,
                                           const T* __restrict dyr, const T* __restrict g, const T* __restrict c,
                                           const T* __restrict cp, int64_t u) {
  for (int64_t j = 0; j < u; ++j) {
    const T dh = dyr[j] + dn[j];
    const T ig = g[j], fg = g[u + j], gg = g[2 * u + j], og = g[3 * u + j];
    const T tc = tanh_(c[j]);
    const T dc = dcn[j] + dh * og * (T(1) - tc * tc);
    dxr[j] = dc * gg * ig * (T(1) - ig);
    dxr[u + j] = dc * cp[j] * fg * (T(1) - fg);
    dxr[2 * u + j] = dc * ig * (T(1) - gg * gg);
    dxr[3 * u + j] = dh * tc * og * (T(1) - og);
    dcn[j] = dc * fg;
    dn[j] = T(0);
  }
}
template <typename T>
PYDL_ALWAYS_INLINE void gru_row_back_impl(T* __restrict dxr, T* __restrict dhrr, T* __restrict dn,
                                          const T* __restrict dyr, const T* __restrict g, const T* __restrict hn,
                                          const T* __restrict hp, int64_t u) {
  for (int64_t j = 0; j < u; ++j) {
    const T dh = dyr[j] + dn[j];
    const T rg = g[j], zg = g[u + j], ng = g[2 * u + j];
    const T dan = dh * (T(1) - zg) * (T(1) - ng * ng);
    const T dar = dan * hn[j] * rg * (T(1) - rg);
    const T daz = dh * (hp[j] - ng) * zg * (T(1) - zg);
    dxr[j] = dar; dxr[u + j] = daz; dxr[2 * u + j] = dan;
    dhrr[j] = dar; dhrr[u + j] = daz; dhrr[2 * u + j] = dan * rg;
    dn[j] = dh * zg;
  }
}
PYDL_SIMD_CLONES void lstm_row_back(float* dxr, float* dn, float* dcn, const float* dyr, const float* g,
                                    const float* c, const float* cp, int64_t u) {
  lstm_row_back_impl(dxr, dn, dcn, dyr, g, c, cp, u);
}
PYDL_SIMD_CLONES void lstm_row_back(double* dxr, double* dn, double* dcn, const double* dyr, const double* g,
                                    const double* c, const double* cp, int64_t u) {
  lstm_row_back_impl(dxr, dn, dcn, dyr, g, c, cp, u);
}
PYDL_SIMD_CLONES void gru_row_back(float* dxr, float* dhrr, float* dn, const float* dyr, const float* g,
                                   const float* hn, const float* hp, int64_t u) {
  gru_row_back_impl(dxr, dhrr, dn, dyr, g, hn, hp, u);
}
PYDL_SIMD_CLONES void gru_row_back(double* dxr, double* dhrr, double* dn, const double* dyr, const double* g,
                                   const double* hn, const double* hp, int64_t u) {
  gru_row_back_impl(dxr, dhrr, dn, dyr, g, hn, hp, u);
}

PYDL_SIMD_CLONES void lstm_row(float* g, float* h, float* c, const float* xr, const float* hrr, const float* cpr,
                               int64_t u) { lstm_row_impl(g, h, c, xr, hrr, cpr, u); }
PYDL_SIMD_CLONES void lstm_row(double* g, double* h, double* c, const double* xr, const double* hrr,
                               const double* cpr, int64_t u) { lstm_row_impl(g, h, c, xr, hrr, cpr, u); }
PYDL_SIMD_CLONES void gru_row(float* g, float* h, float* hn, const float* xr, const float* hrr, const float* hpr,
                              int64_t u) { gru_row_impl(g, h, hn, xr, hrr, hpr, u); }
PYDL_SIMD_CLONES void gru_row(double* g, double* h, double* hn, const double* xr, const double* hrr,
                              const double* hpr, int64_t u) { gru_row_impl(g, h, hn, xr, hrr, hpr, u); }

// Views of the workspace, all time-major: row (t, n) is at t * N + n.
template <typename T>
struct Buffers {
  // hd: the states entering the recurrent product after recurrent dropout (used with it only).
  T *xt, *xw, *gates, *hn, *h, *c, *hprev, *cprev, *hr, *dh, *dxw, *dhr, *dnext, *dcnext, *dxt, *hd;
  Buffers(T* ws, const RnnArgs& a) {
    const int64_t tn = a.t * a.n, gu = a.gu();
    T* p = ws;
    auto take = [&p](int64_t count) { T* q = p; p += count; return q; };
    xt = take(tn * a.f); xw = take(tn * gu); gates = take(tn * gu); hn = take(tn * a.u);
    h = take(tn * a.u); c = take(tn * a.u); hprev = take(tn * a.u); cprev = take(tn * a.u);
    hr = take(a.n * gu); dh = take(tn * a.u); dxw = take(tn * gu); dhr = take(tn * gu);
    dnext = take(a.n * a.u); dcnext = take(a.n * a.u); dxt = take(tn * a.f); hd = take(tn * a.u);
  }
  static int64_t size(const RnnArgs& a) {
    const int64_t tn = a.t * a.n, gu = a.gu();
    return tn * a.f * 2 + tn * gu * 4 + tn * a.u * 7 + a.n * gu + 2 * a.n * a.u;
  }
};

// (N, T, D) batch-major <-> (T, N, D) time-major.
template <typename T>
void to_time_major(T* dst, const T* src, int64_t n, int64_t t, int64_t d) {
  parallel_range(t, std::max<int64_t>(1, 16384 / std::max<int64_t>(n * d, 1)), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t i = 0; i < n; ++i) std::copy(src + (i * t + s) * d, src + (i * t + s + 1) * d, dst + (s * n + i) * d);
  });
}
template <typename T>
void to_batch_major(T* dst, const T* src, int64_t n, int64_t t, int64_t d) {
  parallel_range(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(t * d, 1)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t s = 0; s < t; ++s) std::copy(src + (s * n + i) * d, src + (s * n + i + 1) * d, dst + (i * t + s) * d);
  });
}

// v[(s, i, j)] *= scale[(i, j)] for every step s of a (T, N, D) time-major array, or of a
// (N, T, D) batch-major one when batch_major: one mask per sequence, reused at every step.
template <typename T>
void scale_per_sequence(T* v, const T* scale, int64_t n, int64_t t, int64_t d, bool batch_major) {
  parallel_range(n * t, std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* sc = scale + (batch_major ? r / t : r % n) * d;
      T* row = v + r * d;
      for (int64_t j = 0; j < d; ++j) row[j] *= sc[j];
    }
  });
}

inline int64_t step_time(const RnnArgs& a, int64_t s) { return a.reverse ? a.t - 1 - s : s; }
inline int64_t last_time(const RnnArgs& a) { return a.reverse ? 0 : a.t - 1; }

}  // namespace

int64_t rnn_workspace(const RnnArgs& a) { return Buffers<float>::size(a); }

template <typename T>
void rnn_dropout_scales(T* scale, int64_t n, double rate, const CounterRng& rng, uint64_t counter) {
  const T keep_scale = T(1.0 / (1.0 - rate));
  const float threshold = static_cast<float>(rate);
  parallel_range(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) scale[i] = rng.uniform(counter + uint64_t(i)) >= threshold ? keep_scale : T(0);
  });
}
template void rnn_dropout_scales<float>(float*, int64_t, double, const CounterRng&, uint64_t);
template void rnn_dropout_scales<double>(double*, int64_t, double, const CounterRng&, uint64_t);

RnnCell parse_rnn_cell(const std::string& name) {
  if (name == "simple_rnn" || name == "simple") return RnnCell::Simple;
  if (name == "lstm") return RnnCell::LSTM;
  if (name == "gru") return RnnCell::GRU;
  throw ValueError("unknown recurrent cell '" + name + "': expected simple_rnn, lstm or gru");
}

template <typename T>
void rnn_forward(T* y, const T* x, const RnnWeights<T>& w, const uint8_t* mask, const T* h0,
                 const T* c0, const RnnArgs& a, T* ws, const RnnDropout<T>& drop) {
  Buffers<T> b(ws, a);
  const int64_t n = a.n, u = a.u, gu = a.gu(), tn = a.t * a.n;
  const bool gru = a.cell == RnnCell::GRU, lstm = a.cell == RnnCell::LSTM;
  to_time_major(b.xt, x, n, a.t, a.f);
  // Dropped inputs are what the kernel sees, in forward and in its gradient (dk reads xt).
  if (drop.input) scale_per_sequence(b.xt, drop.input, n, a.t, a.f, false);
  // The input projection of every step at once; GRU's recurrent bias joins per step below.
  gemm<T>(Matrix<T>(b.xw, tn, gu), Matrix<const T>(b.xt, tn, a.f), false, Matrix<const T>(w.kernel, a.f, gu),
          false, T(1), T(0), w.bias);
  const T* bias_h = gru && w.bias ? w.bias + gu : nullptr;
  for (int64_t s = 0; s < a.t; ++s) {
    const int64_t t = step_time(a, s), tp = s == 0 ? -1 : step_time(a, s - 1);
    T* hp = b.hprev + t * n * u;
    T* cp = b.cprev + t * n * u;
    for (int64_t i = 0; i < n * u; ++i) {  // the state entering this step
      hp[i] = tp < 0 ? (h0 ? h0[i] : T(0)) : b.h[tp * n * u + i];
      cp[i] = tp < 0 ? (c0 ? c0[i] : T(0)) : b.c[tp * n * u + i];
    }
    const T* hin = hp;  // what the recurrent kernel reads
    if (drop.recurrent) {
      T* hd = b.hd + t * n * u;
      for (int64_t i = 0; i < n * u; ++i) hd[i] = hp[i] * drop.recurrent[i];
      hin = hd;
    }
    gemm<T>(Matrix<T>(b.hr, n, gu), Matrix<const T>(hin, n, u), false, Matrix<const T>(w.recurrent, u, gu), false,
            T(1), T(0), bias_h);
    parallel_range(n, std::max<int64_t>(1, 4096 / gu), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = b.xw + (t * n + r) * gu;
        const T* hrr = b.hr + r * gu;
        T* g = b.gates + (t * n + r) * gu;
        T* h = b.h + (t * n + r) * u;
        T* c = b.c + (t * n + r) * u;
        const T* hpr = hp + r * u;
        const T* cpr = cp + r * u;
        if (mask && !mask[r * a.t + t]) {  // padded step: the state passes through
          std::copy(hpr, hpr + u, h);
          std::copy(cpr, cpr + u, c);
          continue;
        }
        if (lstm) {
          lstm_row(g, h, c, xr, hrr, cpr, u);
        } else if (gru) {
          gru_row(g, h, b.hn + (t * n + r) * u, xr, hrr, hpr, u);
          std::fill(c, c + u, T(0));
        } else {
          for (int64_t j = 0; j < u; ++j) { h[j] = xr[j] + hrr[j]; c[j] = T(0); }
          activation_inplace_span(h, u, a.act);
        }
      }
    });
  }
  if (a.return_sequences) to_batch_major(y, b.h, n, a.t, u);
  else std::copy(b.h + last_time(a) * n * u, b.h + (last_time(a) + 1) * n * u, y);
}

template <typename T>
void rnn_backward(T* dx, T* dk, T* dr, T* db, T* dh0, T* dc0, const T* dy, const T* x,
                  const RnnWeights<T>& w, const uint8_t* mask, const T* h0, const T* c0,
                  const RnnArgs& a, T* ws, const RnnDropout<T>& drop) {
  (void)x; (void)h0; (void)c0;  // forward kept what backward needs in the workspace
  Buffers<T> b(ws, a);
  const int64_t n = a.n, u = a.u, gu = a.gu(), tn = a.t * a.n;
  const bool gru = a.cell == RnnCell::GRU, lstm = a.cell == RnnCell::LSTM;
  if (a.return_sequences) {
    to_time_major(b.dh, dy, n, a.t, u);
  } else {
    std::fill(b.dh, b.dh + tn * u, T(0));
    std::copy(dy, dy + n * u, b.dh + last_time(a) * n * u);
  }
  std::fill(b.dnext, b.dnext + n * u, T(0));
  std::fill(b.dcnext, b.dcnext + n * u, T(0));
  T* dhr_all = gru ? b.dhr : b.dxw;  // SimpleRNN/LSTM: one pre-activation per gate
  for (int64_t s = a.t - 1; s >= 0; --s) {
    const int64_t t = step_time(a, s);
    parallel_range(n, std::max<int64_t>(1, 4096 / gu), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t row = t * n + r;
        T* dxr = b.dxw + row * gu;
        T* dhrr = dhr_all + row * gu;
        T* dn = b.dnext + r * u;   // in: d state after this step; out: d state before it
        T* dcn = b.dcnext + r * u;
        const T* dyr = b.dh + row * u;
        if (mask && !mask[r * a.t + t]) {  // the state passed through unchanged
          for (int64_t j = 0; j < u; ++j) dn[j] += dyr[j];
          std::fill(dxr, dxr + gu, T(0));
          if (gru) std::fill(dhrr, dhrr + gu, T(0));
          continue;
        }
        const T* g = b.gates + row * gu;
        const T* h = b.h + row * u;
        if (lstm) {
          lstm_row_back(dxr, dn, dcn, dyr, g, b.c + row * u, b.cprev + row * u, u);
          continue;
        }
        if (gru) {
          gru_row_back(dxr, dhrr, dn, dyr, g, b.hn + row * u, b.hprev + row * u, u);
          continue;
        }
        for (int64_t j = 0; j < u; ++j) {
          const T dh = dyr[j] + dn[j];
          {
            T d = dh;
            switch (a.act) {  // derivative from the output h
              case Activation::Tanh: d *= T(1) - h[j] * h[j]; break;
              case Activation::ReLU: d = h[j] > T(0) ? d : T(0); break;
              case Activation::Sigmoid: d *= h[j] * (T(1) - h[j]); break;
              default: break;
            }
            dxr[j] = d;
            dn[j] = T(0);
          }
        }
      }
    });
    // d state before this step += d(recurrent pre-activation) @ recurrent^T (through the
    // recurrent dropout scale when there is one; hr is free scratch in backward).
    if (!drop.recurrent) {
      gemm<T>(Matrix<T>(b.dnext, n, u), Matrix<const T>(dhr_all + t * n * gu, n, gu), false,
              Matrix<const T>(w.recurrent, u, gu), true, T(1), T(1));
    } else {
      gemm<T>(Matrix<T>(b.hr, n, u), Matrix<const T>(dhr_all + t * n * gu, n, gu), false,
              Matrix<const T>(w.recurrent, u, gu), true, T(1), T(0));
      for (int64_t i = 0; i < n * u; ++i) b.dnext[i] += b.hr[i] * drop.recurrent[i];
    }
  }
  if (dh0) std::copy(b.dnext, b.dnext + n * u, dh0);
  if (dc0) std::copy(b.dcnext, b.dcnext + n * u, dc0);
  // Whole-sequence weight gradients: one GEMM each, summed over (t, n) rows by BLAS.
  gemm<T>(Matrix<T>(dk, a.f, gu), Matrix<const T>(b.xt, tn, a.f), true, Matrix<const T>(b.dxw, tn, gu), false,
          T(1), T(1));
  gemm<T>(Matrix<T>(dr, u, gu), Matrix<const T>(drop.recurrent ? b.hd : b.hprev, tn, u), true,
          Matrix<const T>(dhr_all, tn, gu), false, T(1), T(1));
  if (db) {
    bias_backward<T>(db, Matrix<const T>(b.dxw, tn, gu));
    if (gru) bias_backward<T>(db + gu, Matrix<const T>(b.dhr, tn, gu));
  }
  if (dx) {
    gemm<T>(Matrix<T>(b.dxt, tn, a.f), Matrix<const T>(b.dxw, tn, gu), false, Matrix<const T>(w.kernel, a.f, gu),
            true);
    to_batch_major(dx, b.dxt, n, a.t, a.f);
    if (drop.input) scale_per_sequence(dx, drop.input, n, a.t, a.f, true);
  }
}

#define PYDL_INSTANTIATE(T)                                                                        \
  template void rnn_forward<T>(T*, const T*, const RnnWeights<T>&, const uint8_t*, const T*,       \
                               const T*, const RnnArgs&, T*, const RnnDropout<T>&);                \
  template void rnn_backward<T>(T*, T*, T*, T*, T*, T*, const T*, const T*, const RnnWeights<T>&,  \
                                const uint8_t*, const T*, const T*, const RnnArgs&, T*,            \
                                const RnnDropout<T>&);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl

// The recurrent cells' per-unit formulas, forward and backward, shared by the CPU row loops
// (kernels/rnn.cc) and the CUDA cell kernels (cuda/rnn.cu): one definition, so both backends
// compute the same gates. Gate layout (columns of a step's G*U pre-activations): LSTM i, f, g,
// o; GRU r, z, n. And the workspace layout both backends carve rnn_workspace floats into.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/fast_math.h"
#include "core/host_device.h"
#include "kernels/activation.h"
#include "kernels/rnn.h"

namespace pydl {

// LSTM unit j of one row: xr / hr the input / recurrent pre-activations (stride u per gate),
// cp the cell state entering the step. Writes the gates g (i, f, g, o), and the new c and h.
template <typename T>
PYDL_HOST_DEVICE inline void lstm_cell(T* g, T* h, T* c, const T* xr, const T* hr, const T* cp, int64_t u,
                                       int64_t j) {
  const T ig = fast_sigmoid(xr[j] + hr[j]), fg = fast_sigmoid(xr[u + j] + hr[u + j]);
  const T gg = fast_tanh(xr[2 * u + j] + hr[2 * u + j]), og = fast_sigmoid(xr[3 * u + j] + hr[3 * u + j]);
  g[j] = ig; g[u + j] = fg; g[2 * u + j] = gg; g[3 * u + j] = og;
  const T cj = fg * cp[j] + ig * gg;
  c[j] = cj;
  h[j] = og * fast_tanh(cj);
}

// GRU unit j: n = tanh(xn + r * hn) with hn = U_n h + b_hn kept for backward; hp the state
// entering the step.
template <typename T>
PYDL_HOST_DEVICE inline void gru_cell(T* g, T* h, T* hn, const T* xr, const T* hr, const T* hp, int64_t u,
                                      int64_t j) {
  const T rg = fast_sigmoid(xr[j] + hr[j]), zg = fast_sigmoid(xr[u + j] + hr[u + j]);
  hn[j] = hr[2 * u + j];
  const T ng = fast_tanh(xr[2 * u + j] + rg * hr[2 * u + j]);
  g[j] = rg; g[u + j] = zg; g[2 * u + j] = ng;
  h[j] = (T(1) - zg) * ng + zg * hp[j];
}

// Backward of LSTM unit j. dn / dcn: in, the gradients of h and c after the step; out, the
// direct parts before it (the recurrent GEMM adds the rest). dx the four gate pre-activations.
template <typename T>
PYDL_HOST_DEVICE inline void lstm_cell_back(T* dx, T* dn, T* dcn, const T* dy, const T* g, const T* c, const T* cp,
                                            int64_t u, int64_t j) {
  const T dh = dy[j] + dn[j];
  const T ig = g[j], fg = g[u + j], gg = g[2 * u + j], og = g[3 * u + j];
  const T tc = fast_tanh(c[j]);
  const T dc = dcn[j] + dh * og * (T(1) - tc * tc);
  dx[j] = dc * gg * ig * (T(1) - ig);
  dx[u + j] = dc * cp[j] * fg * (T(1) - fg);
  dx[2 * u + j] = dc * ig * (T(1) - gg * gg);
  dx[3 * u + j] = dh * tc * og * (T(1) - og);
  dcn[j] = dc * fg;
  dn[j] = T(0);
}

// Backward of GRU unit j: dx the input pre-activations, dhr the recurrent ones (r * dn for n).
template <typename T>
PYDL_HOST_DEVICE inline void gru_cell_back(T* dx, T* dhr, T* dn, const T* dy, const T* g, const T* hn, const T* hp,
                                           int64_t u, int64_t j) {
  const T dh = dy[j] + dn[j];
  const T rg = g[j], zg = g[u + j], ng = g[2 * u + j];
  const T dan = dh * (T(1) - zg) * (T(1) - ng * ng);
  const T dar = dan * hn[j] * rg * (T(1) - rg);
  const T daz = dh * (hp[j] - ng) * zg * (T(1) - zg);
  dx[j] = dar; dx[u + j] = daz; dx[2 * u + j] = dan;
  dhr[j] = dar; dhr[u + j] = daz; dhr[2 * u + j] = dan * rg;
  dn[j] = dh * zg;
}

// SimpleRNN's activation, the formulas of activation_inplace_span (kernels/activation.cc).
template <typename T>
PYDL_HOST_DEVICE inline T simple_rnn_activate(T v, Activation a) {
  switch (a) {
    case Activation::ReLU: return v > T(0) ? v : T(0);
    case Activation::LeakyReLU: return v > T(0) ? v : T(kLeakyReluSlope) * v;
    case Activation::Sigmoid: {  // two branches keep exp from overflowing
      if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
      const T e = std::exp(v);
      return e / (T(1) + e);
    }
    case Activation::Tanh: return std::tanh(v);
    case Activation::GELU: return T(0.5) * v * (T(1) + std::erf(v * T(0.70710678118654752440)));
    default: return v;
  }
}

// dh * act'(.) from the output h. Only activations whose derivative the output determines
// (simple_rnn_supports in rnn.h); check_rnn_args refuses the others.
template <typename T>
PYDL_HOST_DEVICE inline T simple_rnn_grad(T dh, T h, Activation a) {
  switch (a) {
    case Activation::Tanh: return dh * (T(1) - h * h);
    case Activation::ReLU: return h > T(0) ? dh : T(0);
    case Activation::LeakyReLU: return h > T(0) ? dh : T(kLeakyReluSlope) * dh;  // slope > 0: sign kept
    case Activation::Sigmoid: return dh * (h * (T(1) - h));
    default: return dh;  // linear
  }
}

// Views of the workspace, all time-major: row (t, n) is at t * N + n.
template <typename T>
struct RnnBuffers {
  // hd: the states entering the recurrent product after recurrent dropout (used with it only).
  // rt: the recurrent weight transposed, (G*U, U), written by the CPU backward.
  T *xt, *xw, *gates, *hn, *h, *c, *hprev, *cprev, *hr, *dh, *dxw, *dhr, *dnext, *dcnext, *dxt, *hd, *rt;
  RnnBuffers(T* ws, const RnnArgs& a) {
    const int64_t tn = a.t * a.n, gu = a.gu();
    T* p = ws;
    auto take = [&p](int64_t count) { T* q = p; p += count; return q; };
    xt = take(tn * a.f); xw = take(tn * gu); gates = take(tn * gu); hn = take(tn * a.u);
    h = take(tn * a.u); c = take(tn * a.u); hprev = take(tn * a.u); cprev = take(tn * a.u);
    hr = take(a.n * gu); dh = take(tn * a.u); dxw = take(tn * gu); dhr = take(tn * gu);
    dnext = take(a.n * a.u); dcnext = take(a.n * a.u); dxt = take(tn * a.f); hd = take(tn * a.u);
    rt = take(gu * a.u);
  }
  static int64_t size(const RnnArgs& a) {
    const int64_t tn = a.t * a.n, gu = a.gu();
    return tn * a.f * 2 + tn * gu * 4 + tn * a.u * 7 + a.n * gu + 2 * a.n * a.u + gu * a.u;
  }
};

inline int64_t rnn_step_time(const RnnArgs& a, int64_t s) { return a.reverse ? a.t - 1 - s : s; }
inline int64_t rnn_last_time(const RnnArgs& a) { return a.reverse ? 0 : a.t - 1; }

}  // namespace pydl

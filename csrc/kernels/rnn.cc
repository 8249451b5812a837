#include "kernels/rnn.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/errors.h"
#include "core/fast_math.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/dense.h"
#include "kernels/gemm.h"
#include "kernels/rnn_cell.h"

namespace pydl {
namespace {

// One step's cell update for one row: branch-free loops over units (the formulas of
// kernels/rnn_cell.h, which the CUDA cells share), cloned per ISA.
template <typename T>
PYDL_ALWAYS_INLINE void lstm_row_impl(T* __restrict g, T* __restrict h, T* __restrict c, const T* __restrict xr,
                                      const T* __restrict hrr, const T* __restrict cpr, int64_t u) {
  for (int64_t j = 0; j < u; ++j) lstm_cell(g, h, c, xr, hrr, cpr, u, j);
}
template <typename T>
PYDL_ALWAYS_INLINE void gru_row_impl(T* __restrict g, T* __restrict h, T* __restrict hn, const T* __restrict xr,
                                     const T* __restrict hrr, const T* __restrict hpr, int64_t u) {
  for (int64_t j = 0; j < u; ++j) gru_cell(g, h, hn, xr, hrr, hpr, u, j);
}
// Backward of one row's step. dn / dcn: in, the state gradients after the step; out, the
// direct parts before it (the recurrent GEMM adds the rest).
template <typename T>
PYDL_ALWAYS_INLINE void lstm_row_back_impl(T* __restrict dxr, T* __restrict dn, T* __restrict dcn,
                                           const T* __restrict dyr, const T* __restrict g, const T* __restrict c,
                                           const T* __restrict cp, int64_t u) {
  for (int64_t j = 0; j < u; ++j) lstm_cell_back(dxr, dn, dcn, dyr, g, c, cp, u, j);
}
template <typename T>
PYDL_ALWAYS_INLINE void gru_row_back_impl(T* __restrict dxr, T* __restrict dhrr, T* __restrict dn,
                                          const T* __restrict dyr, const T* __restrict g, const T* __restrict hn,
                                          const T* __restrict hp, int64_t u) {
  for (int64_t j = 0; j < u; ++j) gru_cell_back(dxr, dhrr, dn, dyr, g, hn, hp, u, j);
}
PYDL_SIMD_CLONES void lstm_row_back(float* __restrict dxr, float* __restrict dn, float* __restrict dcn,
                                    const float* __restrict dyr, const float* __restrict g,
                                    const float* __restrict c, const float* __restrict cp, int64_t u) {
  lstm_row_back_impl(dxr, dn, dcn, dyr, g, c, cp, u);
}
PYDL_SIMD_CLONES void lstm_row_back(double* __restrict dxr, double* __restrict dn, double* __restrict dcn,
                                    const double* __restrict dyr, const double* __restrict g,
                                    const double* __restrict c, const double* __restrict cp, int64_t u) {
  lstm_row_back_impl(dxr, dn, dcn, dyr, g, c, cp, u);
}
PYDL_SIMD_CLONES void gru_row_back(float* __restrict dxr, float* __restrict dhrr, float* __restrict dn,
                                   const float* __restrict dyr, const float* __restrict g,
                                   const float* __restrict hn, const float* __restrict hp, int64_t u) {
  gru_row_back_impl(dxr, dhrr, dn, dyr, g, hn, hp, u);
}
PYDL_SIMD_CLONES void gru_row_back(double* __restrict dxr, double* __restrict dhrr, double* __restrict dn,
                                   const double* __restrict dyr, const double* __restrict g,
                                   const double* __restrict hn, const double* __restrict hp, int64_t u) {
  gru_row_back_impl(dxr, dhrr, dn, dyr, g, hn, hp, u);
}

PYDL_SIMD_CLONES void lstm_row(float* __restrict g, float* __restrict h, float* __restrict c,
                               const float* __restrict xr, const float* __restrict hrr,
                               const float* __restrict cpr, int64_t u) {
  lstm_row_impl(g, h, c, xr, hrr, cpr, u);
}
PYDL_SIMD_CLONES void lstm_row(double* __restrict g, double* __restrict h, double* __restrict c,
                               const double* __restrict xr, const double* __restrict hrr,
                               const double* __restrict cpr, int64_t u) {
  lstm_row_impl(g, h, c, xr, hrr, cpr, u);
}
PYDL_SIMD_CLONES void gru_row(float* __restrict g, float* __restrict h, float* __restrict hn,
                              const float* __restrict xr, const float* __restrict hrr,
                              const float* __restrict hpr, int64_t u) {
  gru_row_impl(g, h, hn, xr, hrr, hpr, u);
}
PYDL_SIMD_CLONES void gru_row(double* __restrict g, double* __restrict h, double* __restrict hn,
                              const double* __restrict xr, const double* __restrict hrr,
                              const double* __restrict hpr, int64_t u) {
  gru_row_impl(g, h, hn, xr, hrr, hpr, u);
}

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

// f(r0, r1) over slices of the batch's n rows, one per thread (the sequence's own loop over
// steps inside): in parallel when the whole sequence is worth a fork (work: its flops per row).
template <typename F>
void over_sequence_rows(int64_t n, int64_t work_per_row, F&& f) {
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t min_rows = std::max<int64_t>(1, int64_t(kForkFlops) / std::max<int64_t>(1, 2 * work_per_row));
  parallel_range(n, std::max(min_rows, (n + threads - 1) / threads), f);
}

// dst (cols, rows) = src (rows, cols)^T.
template <typename T>
void transpose_into(T* dst, const T* src, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
}

}  // namespace

int64_t rnn_workspace(const RnnArgs& a) { return RnnBuffers<float>::size(a); }

template <typename T>
void rnn_dropout_scales(T* scale, int64_t n, double rate, const CounterRng& rng, StepClock clock, uint64_t offset) {
  PYDL_DEVICE_DISPATCH(rnn_dropout_scales, scale, n, rate, rng, clock, offset);
  const uint64_t counter = (clock.now() << 32) + offset;
  const T keep_scale = T(1.0 / (1.0 - rate));
  const float threshold = static_cast<float>(rate);
  parallel_range(n, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) scale[i] = rng.uniform(counter + uint64_t(i)) >= threshold ? keep_scale : T(0);
  });
}
template void rnn_dropout_scales<float>(float*, int64_t, double, const CounterRng&, StepClock, uint64_t);
template void rnn_dropout_scales<double>(double*, int64_t, double, const CounterRng&, StepClock, uint64_t);

RnnCell parse_rnn_cell(const std::string& name) {
  if (name == "simple_rnn" || name == "simple") return RnnCell::Simple;
  if (name == "lstm") return RnnCell::LSTM;
  if (name == "gru") return RnnCell::GRU;
  throw ValueError("unknown recurrent cell '" + name + "': expected simple_rnn, lstm or gru");
}

template <typename T>
void rnn_forward(T* y, const T* x, const RnnWeights<T>& w, const uint8_t* mask, const T* h0,
                 const T* c0, const RnnArgs& a, T* ws, const RnnDropout<T>& drop) {
  PYDL_DEVICE_DISPATCH(rnn_forward, y, x, w, mask, h0, c0, a, ws, drop);
  check_rnn_args(a);
  RnnBuffers<T> b(ws, a);
  const int64_t n = a.n, u = a.u, gu = a.gu(), tn = a.t * a.n;
  const bool gru = a.cell == RnnCell::GRU, lstm = a.cell == RnnCell::LSTM;
  to_time_major(b.xt, x, n, a.t, a.f);
  // Dropped inputs are what the kernel sees, in forward and in its gradient (dk reads xt).
  if (drop.input) scale_per_sequence(b.xt, drop.input, n, a.t, a.f, false);
  // The input projection of every step at once; GRU's recurrent bias joins per step below.
  gemm<T>(Matrix<T>(b.xw, tn, gu), Matrix<const T>(b.xt, tn, a.f), false, Matrix<const T>(w.kernel, a.f, gu),
          false, T(1), T(0), w.bias);
  const T* bias_h = gru && w.bias ? w.bias + gu : nullptr;
  // Rows of the batch are independent sequences: each thread takes whole rows through every
  // step (its own slice of each recurrent GEMM, then the cells of those rows), so the sequence
  // costs one fork and join instead of two per step. A row's arithmetic is the same in any
  // slice (gemm.h), so results do not depend on the thread count.
  over_sequence_rows(n, u * gu * a.t, [&](int64_t r0, int64_t r1) {
    const int64_t rows = r1 - r0;
    for (int64_t s = 0; s < a.t; ++s) {
      const int64_t t = rnn_step_time(a, s), tp = s == 0 ? -1 : rnn_step_time(a, s - 1);
      T* hp = b.hprev + t * n * u;
      T* cp = b.cprev + t * n * u;
      // The state entering this step (kept: the recurrent kernel's gradient reads it).
      const T* h_in = tp < 0 ? h0 : b.h + tp * n * u;
      const T* c_in = tp < 0 ? c0 : b.c + tp * n * u;
      if (h_in) std::copy(h_in + r0 * u, h_in + r1 * u, hp + r0 * u);
      else std::fill(hp + r0 * u, hp + r1 * u, T(0));
      if (c_in) std::copy(c_in + r0 * u, c_in + r1 * u, cp + r0 * u);
      else std::fill(cp + r0 * u, cp + r1 * u, T(0));
      const T* hin = hp;  // what the recurrent kernel reads
      if (drop.recurrent) {
        T* hd = b.hd + t * n * u;
        for (int64_t i = r0 * u; i < r1 * u; ++i) hd[i] = hp[i] * drop.recurrent[i];
        hin = hd;
      }
      gemm<T>(Matrix<T>(b.hr + r0 * gu, rows, gu), Matrix<const T>(hin + r0 * u, rows, u), false,
              Matrix<const T>(w.recurrent, u, gu), false, T(1), T(0), bias_h);
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
          for (int64_t j = 0; j < u; ++j) {
            h[j] = simple_rnn_activate(xr[j] + hrr[j], a.act);
            c[j] = T(0);
          }
        }
      }
    }
  });
  if (a.return_sequences) to_batch_major(y, b.h, n, a.t, u);
  else std::copy(b.h + rnn_last_time(a) * n * u, b.h + (rnn_last_time(a) + 1) * n * u, y);
}

template <typename T>
void rnn_backward(T* dx, T* dk, T* dr, T* db, T* dh0, T* dc0, const T* dy, const T* x,
                  const RnnWeights<T>& w, const uint8_t* mask, const T* h0, const T* c0,
                  const RnnArgs& a, T* ws, const RnnDropout<T>& drop) {
  PYDL_DEVICE_DISPATCH(rnn_backward, dx, dk, dr, db, dh0, dc0, dy, x, w, mask, h0, c0, a, ws, drop);
  (void)x; (void)h0; (void)c0;  // forward kept what backward needs in the workspace
  RnnBuffers<T> b(ws, a);
  const int64_t n = a.n, u = a.u, gu = a.gu(), tn = a.t * a.n;
  const bool gru = a.cell == RnnCell::GRU, lstm = a.cell == RnnCell::LSTM;
  if (a.return_sequences) {
    to_time_major(b.dh, dy, n, a.t, u);
  } else {
    std::fill(b.dh, b.dh + tn * u, T(0));
    std::copy(dy, dy + n * u, b.dh + rnn_last_time(a) * n * u);
  }
  std::fill(b.dnext, b.dnext + n * u, T(0));
  std::fill(b.dcnext, b.dcnext + n * u, T(0));
  T* dhr_all = gru ? b.dhr : b.dxw;  // SimpleRNN/LSTM: one pre-activation per gate
  // The recurrent weight transposed once per sequence: every step's product below reads it in
  // place instead of packing the transpose again (the same products, bit for bit).
  transpose_into(b.rt, w.recurrent, u, gu);
  over_sequence_rows(n, u * gu * a.t, [&](int64_t r0, int64_t r1) {  // as forward: whole rows per thread
    const int64_t rows = r1 - r0;
    for (int64_t s = a.t - 1; s >= 0; --s) {
      const int64_t t = rnn_step_time(a, s);
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
        for (int64_t j = 0; j < u; ++j) {  // derivative from the output h
          dxr[j] = simple_rnn_grad(dyr[j] + dn[j], h[j], a.act);
          dn[j] = T(0);
        }
      }
      // d state before this step += d(recurrent pre-activation) @ recurrent^T (through the
      // recurrent dropout scale when there is one; hr is free scratch in backward).
      const Matrix<const T> dhr_rows(dhr_all + (t * n + r0) * gu, rows, gu), rt(b.rt, gu, u);
      if (!drop.recurrent) {
        gemm<T>(Matrix<T>(b.dnext + r0 * u, rows, u), dhr_rows, false, rt, false, T(1), T(1));
      } else {
        gemm<T>(Matrix<T>(b.hr + r0 * u, rows, u), dhr_rows, false, rt, false, T(1), T(0));
        for (int64_t i = r0 * u; i < r1 * u; ++i) b.dnext[i] += b.hr[i] * drop.recurrent[i];
      }
    }
  });
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

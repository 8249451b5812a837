// Internal to the GEMM (kernels/gemm*.cc): the register micro-kernel each instruction set
// provides, and how the driver (gemm.cc) hands it one tile of C.
//
// Every kernel computes each element of C the same way: one fused multiply-add chain over k
// in order, then alpha * sum + beta * C + bias. Kernels for fewer rows (edge tiles) do the
// exact same per-element operations, so where a tile falls never changes a result.
#pragma once
#include <cstdint>

#include "core/view.h"

namespace pydl::gemm_detail {

// One tile: C[0:rows, 0:NR] = alpha * A @ B + beta * C (+ bias), over kc steps of k.
template <typename T>
struct Tile {
  int64_t kc;
  const T* a;        // A: a[k * a_k_step + r * a_row_step], a packed micro-panel (MR, 1) or A in place
  int64_t a_k_step, a_row_step;
  const T* b;        // B micro-panel: b[k * ldb + c], packed (ldb = NR) or B's own rows
  int64_t ldb;
  T* c;
  int64_t ldc;
  T alpha, beta;     // beta == 0: C is not read (it may hold anything)
  const T* bias;     // NR entries, or null
  bool relu;         // then max(x, 0) (act::relu's NaN and -0), on the last K step; every TileFn
};

template <typename T>
using TileFn = void (*)(const Tile<T>&);

// One tile of a windowed product (convolution without columns, "indirect GEMM"): for rows
// r < rows and NV * W columns, C[r][:] = sum over taps t, then channels ch, of
// a[t * kMaxMr + r][ch] * b[(t * chans + ch) * ldb + :], then + bias, then ReLU when relu (the
// sums before it also to pre, when given). Each row reads its taps in place through a pointer
// (an image pixel's channels, or a run of zeros for a tap off the image). The same per-element
// arithmetic as Tile (one FMA chain in k order, k = t * chans + ch), whatever rows is.
template <typename T>
struct WindowTile {
  int64_t taps, chans;
  const T* const* a;  // a[t * kMaxMr + r]
  const T* b;
  int64_t ldb;
  T* c;
  int64_t ldc;
  const T* bias;      // NV * W entries, or null
  T* pre;             // rows of ldc, or null
  bool relu;
};
template <typename T>
using WindowFn = void (*)(const WindowTile<T>&);
// Packs rows [i0, i0 + rows) x steps [p0, p0 + kc) of op(A) into one micro-panel (rows <= mr).
template <typename T>
using PackAFn = void (*)(T* dst, const T* a, int64_t lda, bool trans, int64_t i0, int64_t rows, int64_t p0,
                         int64_t kc);
// Packs steps [p0, p0 + kc) x columns [j0, j0 + cols) of op(B) into one micro-panel (cols <= nr).
template <typename T>
using PackBFn = void (*)(T* dst, const T* b, int64_t ldb, bool trans, int64_t p0, int64_t kc, int64_t j0,
                         int64_t cols);

constexpr int kMaxMr = 8;
constexpr int kWideRow = 4;  // micro-panels of the one-row kernel

template <typename T>
struct MicroKernel {
  const char* isa;
  int mr, nr;                 // the register tile
  TileFn<T> rows[kMaxMr];     // rows[r - 1]: the tile of r rows (r = 1..mr)
  TileFn<T> rows_narrow[kMaxMr];  // r rows by the first W (lanes) columns of the same B panel
  TileFn<T> row_wide;         // one row, kWideRow * nr columns of B read in place
  PackAFn<T> pack_a;
  PackBFn<T> pack_b;
  int lanes;                        // W: window tiles are W (narrow) or nr (wide) columns
  WindowFn<T> window[kMaxMr];       // window[r - 1]: r rows by nr columns
  WindowFn<T> window_narrow[kMaxMr];  // r rows by W columns
};

// The kernels gemm uses now (set_gemm_isa), for the convolutions that call them directly.
template <typename T>
const MicroKernel<T>& current_kernel();

// Packs steps [p0, p0 + kc) x columns [j0, j0 + cols) of a B that exists only implicitly (a
// convolution's columns, read from its images) into one micro-panel: dst[k * nr + c], columns
// past `cols` zero. ctx: the caller's own data.
template <typename T>
using ImplicitPackB = void (*)(const void* ctx, T* dst, int64_t p0, int64_t kc, int64_t j0, int cols, int nr);

// C = alpha * op(A) @ B + beta * C for a B (k x n) that pack_b forms panel by panel: gemm's
// blocking, threads, tiles and determinism, without B in memory.
template <typename T>
void gemm_implicit_b(Matrix<T> c, Matrix<const T> a, bool trans_a, ImplicitPackB<T> pack_b, const void* ctx,
                     T alpha, T beta);

// Null when this build or this CPU lacks the instruction set.
template <typename T> const MicroKernel<T>* avx512_kernel();
template <typename T> const MicroKernel<T>* avx2_kernel();
template <typename T> const MicroKernel<T>* portable_kernel();

}  // namespace pydl::gemm_detail

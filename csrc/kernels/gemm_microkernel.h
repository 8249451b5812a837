// The register micro-kernel body, written once over a SIMD register type V (V::T the scalar,
// V::R the register, V::W its lanes) and included by each instruction set's file inside its
// own target region (gemm_avx512.cc, gemm_avx2.cc, gemm_portable.cc), so each copy compiles
// for that instruction set alone. ROWS <= MR rows of C, NV registers across (NR = NV * W).
// Include this once per file, after defining V types in an unnamed namespace.
#pragma once
#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/gemm_pack.h"
#include "kernels/gemm_tile.h"

namespace pydl::gemm_detail {
namespace {

template <class V, int ROWS, int MR, int NV>
void micro_tile(const Tile<typename V::T>& t) {
  using R = typename V::R;
  constexpr int W = V::W;
  R acc[ROWS][NV];
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  const typename V::T* a = t.a;
  const typename V::T* b = t.b;
  const int64_t ldb = t.ldb, ars = t.a_row_step, aks = t.a_k_step;
#pragma GCC unroll 2
  for (int64_t k = 0; k < t.kc; ++k, a += aks, b += ldb) {
    R bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      const R ar = V::set1(a[r * ars]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bv[v], acc[r][v]);
    }
  }
  const R alpha = V::set1(t.alpha), beta = V::set1(t.beta);
  const bool load_c = t.beta != typename V::T(0);
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r) {
    typename V::T* c = t.c + r * t.ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      R x = V::mul(acc[r][v], alpha);
      if (load_c) x = V::fma(beta, V::load(c + v * W), x);
      if (t.bias) x = V::add(x, V::load(t.bias + v * W));
      if (t.relu) x = V::relu(x);
      V::store(c + v * W, x);
    }
  }
}

// SIMD packers (V::transpose: W x W registers in place; V::load_n / store_n: the first n
// lanes, never touching memory past them). The transposes are what make packing op(B) = B^T,
// a backward GEMM of every dense layer, as cheap as a copy.
template <class V, int MR>
void pack_a_simd(typename V::T* dst, const typename V::T* a, int64_t lda, bool trans, int64_t i0, int64_t rows,
                 int64_t p0, int64_t kc) {
  constexpr int W = V::W;
  if (trans) {
    if (rows == MR) {  // a whole panel: MR values straight from each row of A (no masks)
      for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * MR, a + (p0 + k) * lda + i0, MR * sizeof(typename V::T));
      return;
    }
    for (int64_t k = 0; k < kc; ++k) {
      const typename V::T* s = a + (p0 + k) * lda + i0;
      for (int64_t r0 = 0; r0 < rows; r0 += W) {
        const int n = int(std::min<int64_t>(W, rows - r0));
        V::store_n(dst + k * MR + r0, V::load_n(s + r0, n), n);
      }
    }
    return;
  }
  pack_a_scalar(dst, a, lda, false, i0, rows, p0, kc, MR);  // the driver reads op(A) = A in place
}

template <class V, int NR>
void pack_b_simd(typename V::T* dst, const typename V::T* b, int64_t ldb, bool trans, int64_t p0, int64_t kc,
                 int64_t j0, int64_t cols) {
  using R = typename V::R;
  constexpr int W = V::W;
  if (!trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const typename V::T* s = b + (p0 + k) * ldb + j0;
      for (int c0 = 0; c0 < NR; c0 += W) {
        const int n = int(std::clamp<int64_t>(cols - c0, 0, W));
        V::store(dst + k * NR + c0, n == W ? V::load(s + c0) : V::load_n(s + c0, n));
      }
    }
    return;
  }
  const int64_t kw = kc / W * W;
  for (int64_t k0 = 0; k0 < kw; k0 += W)
    for (int c0 = 0; c0 < NR; c0 += W) {
      const int n = int(std::clamp<int64_t>(cols - c0, 0, W));
      R x[W];
      for (int i = 0; i < W; ++i) x[i] = i < n ? V::load(b + (j0 + c0 + i) * ldb + p0 + k0) : V::zero();
      V::transpose(x);
      for (int i = 0; i < W; ++i) V::store(dst + (k0 + i) * NR + c0, x[i]);
    }
  if (kw < kc) pack_b_scalar(dst + kw * NR, b, ldb, true, p0 + kw, kc - kw, j0, cols, NR);
}

template <class V, int MR>
void pack_a_plain(typename V::T* dst, const typename V::T* a, int64_t lda, bool trans, int64_t i0, int64_t rows,
                  int64_t p0, int64_t kc) {
  pack_a_scalar(dst, a, lda, trans, i0, rows, p0, kc, MR);
}

template <class V, int NR>
void pack_b_plain(typename V::T* dst, const typename V::T* b, int64_t ldb, bool trans, int64_t p0, int64_t kc,
                  int64_t j0, int64_t cols) {
  pack_b_scalar(dst, b, ldb, trans, p0, kc, j0, cols, NR);
}

// One row of C across kWideRow micro-panels read in place (b[k * ldb + c], c < kWideRow * NR):
// the same per-element arithmetic as micro_tile, with enough independent sums to hide the
// FMA latency that a one-row tile of NV sums cannot (batch-1 inference).
template <class V, int MR, int NV>
void micro_row_wide(const Tile<typename V::T>& t) {
  using R = typename V::R;
  constexpr int W = V::W, NW = NV * kWideRow;
  R acc[NW];
#pragma GCC unroll 16
  for (int v = 0; v < NW; ++v) acc[v] = V::zero();
  const typename V::T* a = t.a;
  const typename V::T* b = t.b;
  for (int64_t k = 0; k < t.kc; ++k, a += t.a_k_step, b += t.ldb) {
    const R ar = V::set1(a[0]);
#pragma GCC unroll 16
    for (int v = 0; v < NW; ++v) acc[v] = V::fma(ar, V::load(b + v * W), acc[v]);
  }
  const R alpha = V::set1(t.alpha), beta = V::set1(t.beta);
  const bool load_c = t.beta != typename V::T(0);
#pragma GCC unroll 16
  for (int v = 0; v < NW; ++v) {
    R x = V::mul(acc[v], alpha);
    if (load_c) x = V::fma(beta, V::load(t.c + v * W), x);
    if (t.bias) x = V::add(x, V::load(t.bias + v * W));
    if (t.relu) x = V::relu(x);
    V::store(t.c + v * W, x);
  }
}

template <class V, int ROWS, int NV>
void window_tile(const WindowTile<typename V::T>& t) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr int W = V::W;
  R acc[ROWS][NV];
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  const T* b = t.b;
  for (int64_t tap = 0; tap < t.taps; ++tap) {
    const T* a[ROWS];
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) a[r] = t.a[tap * kMaxMr + r];
#pragma GCC unroll 2
    for (int64_t ch = 0; ch < t.chans; ++ch, b += t.ldb) {
      R bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < ROWS; ++r) {
        const R ar = V::set1(a[r][ch]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(ar, bv[v], acc[r][v]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      R x = acc[r][v];
      if (t.bias) x = V::add(x, V::load(t.bias + v * W));
      if (t.pre) V::store(t.pre + r * t.ldc + v * W, x);
      if (t.relu) x = V::relu(x);
      V::store(t.c + r * t.ldc + v * W, x);
    }
}

// The kernel table of one register type: rows[r - 1] computes r rows. V::kSimdPack: V has
// the transposes and masked loads of the SIMD packers.
template <class V, int MR, int NV, int... I>
constexpr MicroKernel<typename V::T> make_kernel(const char* isa, std::integer_sequence<int, I...>) {
  constexpr int NR = NV * V::W;
  if constexpr (V::kSimdPack)
    return MicroKernel<typename V::T>{isa, MR, NR, {&micro_tile<V, I + 1, MR, NV>...},
                                      {&micro_tile<V, I + 1, MR, 1>...}, &micro_row_wide<V, MR, NV>,
                                      &pack_a_simd<V, MR>, &pack_b_simd<V, NR>,
                                      V::W, {&window_tile<V, I + 1, NV>...}, {&window_tile<V, I + 1, 1>...}};
  else
    return MicroKernel<typename V::T>{isa, MR, NR, {&micro_tile<V, I + 1, MR, NV>...},
                                      {&micro_tile<V, I + 1, MR, 1>...}, &micro_row_wide<V, MR, NV>,
                                      &pack_a_plain<V, MR>, &pack_b_plain<V, NR>,
                                      V::W, {&window_tile<V, I + 1, NV>...}, {&window_tile<V, I + 1, 1>...}};
}

}  // namespace
}  // namespace pydl::gemm_detail

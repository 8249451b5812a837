// AVX-512 micro-kernels: float 8 x 32, double 8 x 16 (16 of the 32 zmm registers hold C,
// A is broadcast from memory into each FMA). Compiled for AVX-512 by target attribute, not
// by a file-wide -m flag, so nothing else in the binary can pick up AVX-512 code; the driver
// calls these only after checking the CPU.
#include "kernels/gemm_tile.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

// Every header the kernels use is included before the target region: a standard-library
// template first seen inside it would be compiled for AVX-512 under its usual (shared) name.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,fma")
// GCC 12's own _mm512_undefined_* (x = x) trips this warning once inlined; nothing of ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pydl::gemm_detail {
namespace {

struct F32x16 {
  using T = float;
  using R = __m512;
  static constexpr int W = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R set1(T x) { return _mm512_set1_ps(x); }
  static R load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, R x) { _mm512_storeu_ps(p, x); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R relu(R x) { return _mm512_max_ps(_mm512_setzero_ps(), x); }  // (x < 0) ? 0 : x, NaN kept
  static constexpr bool kSimdPack = true;
  static __mmask16 mask(int n) { return __mmask16((1u << n) - 1); }
  static R load_n(const T* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_n(T* p, R x, int n) { _mm512_mask_storeu_ps(p, mask(n), x); }
  static void transpose(R* r) {  // 16 x 16: pairs, then quads, then 128-bit lanes twice
    R t[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
      r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
      r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int h = 0; h < 16; h += 8)
      for (int i = 0; i < 4; ++i) {
        t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
        t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
      }
    for (int i = 0; i < 8; ++i) {
      r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
      r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
  }
};

struct F64x8 {
  using T = double;
  using R = __m512d;
  static constexpr int W = 8;
  static R zero() { return _mm512_setzero_pd(); }
  static R set1(T x) { return _mm512_set1_pd(x); }
  static R load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, R x) { _mm512_storeu_pd(p, x); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R relu(R x) { return _mm512_max_pd(_mm512_setzero_pd(), x); }
  static constexpr bool kSimdPack = true;
  static __mmask8 mask(int n) { return __mmask8((1u << n) - 1); }
  static R load_n(const T* p, int n) { return _mm512_maskz_loadu_pd(mask(n), p); }
  static void store_n(T* p, R x, int n) { _mm512_mask_storeu_pd(p, mask(n), x); }
  static void transpose(R* r) {  // 8 x 8: pairs, then 128-bit lanes twice
    R t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int h = 0; h < 8; h += 4)
      for (int i = 0; i < 2; ++i) {
        u[h + 2 * i] = _mm512_shuffle_f64x2(t[h + i], t[h + i + 2], 0x88);
        u[h + 2 * i + 1] = _mm512_shuffle_f64x2(t[h + i], t[h + i + 2], 0xDD);
      }
    // u[0] holds columns 0|4, u[1] 2|6, u[2] 1|5, u[3] 3|7 of rows 0-3; u[4..7] of rows 4-7.
    constexpr int col[4] = {0, 2, 1, 3};
    for (int i = 0; i < 4; ++i) {
      r[col[i]] = _mm512_shuffle_f64x2(u[i], u[i + 4], 0x88);
      r[col[i] + 4] = _mm512_shuffle_f64x2(u[i], u[i + 4], 0xDD);
    }
  }
};

}  // namespace
}  // namespace pydl::gemm_detail

#include "kernels/gemm_microkernel.h"

namespace pydl::gemm_detail {
namespace {
constexpr auto kF32 = make_kernel<F32x16, 8, 2>("avx512", std::make_integer_sequence<int, 8>());
constexpr auto kF64 = make_kernel<F64x8, 8, 2>("avx512", std::make_integer_sequence<int, 8>());
}  // namespace
}  // namespace pydl::gemm_detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

namespace pydl::gemm_detail {
namespace {
bool has_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"); }
}  // namespace
template <> const MicroKernel<float>* avx512_kernel<float>() { return has_avx512() ? &kF32 : nullptr; }
template <> const MicroKernel<double>* avx512_kernel<double>() { return has_avx512() ? &kF64 : nullptr; }
}  // namespace pydl::gemm_detail

#else  // not x86-64

namespace pydl::gemm_detail {
template <> const MicroKernel<float>* avx512_kernel<float>() { return nullptr; }
template <> const MicroKernel<double>* avx512_kernel<double>() { return nullptr; }
}  // namespace pydl::gemm_detail

#endif

// AVX2 micro-kernels: float 6 x 16, double 6 x 8 (12 of the 16 ymm registers hold C, two
// hold B, one the broadcast of A). Compiled for AVX2 + FMA by target attribute, not by a
// file-wide -m flag, so nothing else in the binary can pick up AVX2 code; the driver calls
// these only after checking the CPU.
#include "kernels/gemm_tile.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

// Every header the kernels use is included before the target region: a standard-library
// template first seen inside it would be compiled for AVX2 under its usual (shared) name.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace pydl::gemm_detail {
namespace {

struct F32x8 {
  using T = float;
  using R = __m256;
  static constexpr int W = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R set1(T x) { return _mm256_set1_ps(x); }
  static R load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, R x) { _mm256_storeu_ps(p, x); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R relu(R x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }  // (x < 0) ? 0 : x, NaN kept
  static constexpr bool kSimdPack = true;
  static __m256i mask(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static R load_n(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_n(T* p, R x, int n) { _mm256_maskstore_ps(p, mask(n), x); }
  static void transpose(R* r) {  // 8 x 8: pairs, quads, then 128-bit halves
    R t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
      r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
      r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
  }
};

struct F64x4 {
  using T = double;
  using R = __m256d;
  static constexpr int W = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R set1(T x) { return _mm256_set1_pd(x); }
  static R load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, R x) { _mm256_storeu_pd(p, x); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R relu(R x) { return _mm256_max_pd(_mm256_setzero_pd(), x); }
  static constexpr bool kSimdPack = true;
  static __m256i mask(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static R load_n(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store_n(T* p, R x, int n) { _mm256_maskstore_pd(p, mask(n), x); }
  static void transpose(R* r) {  // 4 x 4: pairs, then 128-bit halves
    const R t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const R t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
};

}  // namespace
}  // namespace pydl::gemm_detail

#include "kernels/gemm_microkernel.h"

namespace pydl::gemm_detail {
namespace {
constexpr auto kF32 = make_kernel<F32x8, 6, 2>("avx2", std::make_integer_sequence<int, 6>());
constexpr auto kF64 = make_kernel<F64x4, 6, 2>("avx2", std::make_integer_sequence<int, 6>());
}  // namespace
}  // namespace pydl::gemm_detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace pydl::gemm_detail {
namespace {
bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
}  // namespace
template <> const MicroKernel<float>* avx2_kernel<float>() { return has_avx2() ? &kF32 : nullptr; }
template <> const MicroKernel<double>* avx2_kernel<double>() { return has_avx2() ? &kF64 : nullptr; }
}  // namespace pydl::gemm_detail

#else  // not x86-64

namespace pydl::gemm_detail {
template <> const MicroKernel<float>* avx2_kernel<float>() { return nullptr; }
template <> const MicroKernel<double>* avx2_kernel<double>() { return nullptr; }
}  // namespace pydl::gemm_detail

#endif

// Portable micro-kernels in plain C++ (GCC/Clang vector extensions, 16-byte registers):
// float 4 x 8, double 4 x 4. What any CPU without AVX2 runs, built for the baseline target.
// Without a hardware FMA the "fma" is a multiply then an add (two roundings), the same for
// every element, so results are still fixed by the shape alone.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/gemm_tile.h"

namespace pydl::gemm_detail {
namespace {

template <typename S>
struct Vec16 {
  using T = S;
  typedef S R __attribute__((vector_size(16)));
  static constexpr int W = 16 / sizeof(S);
  static R zero() { return R{}; }
  static R set1(T x) { return R{} + x; }
  static R load(const T* p) { R r; std::memcpy(&r, p, sizeof r); return r; }
  static void store(T* p, R x) { std::memcpy(p, &x, sizeof x); }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R mul(R a, R b) { return a * b; }
  static R add(R a, R b) { return a + b; }
  static R relu(R x) { return x < R{} ? R{} : x; }  // lane by lane, as act::relu
  static constexpr bool kSimdPack = false;  // scalar packing (gemm_pack.h)
};

}  // namespace
}  // namespace pydl::gemm_detail

#include "kernels/gemm_microkernel.h"

namespace pydl::gemm_detail {
namespace {
constexpr auto kF32 = make_kernel<Vec16<float>, 4, 2>("portable", std::make_integer_sequence<int, 4>());
constexpr auto kF64 = make_kernel<Vec16<double>, 4, 2>("portable", std::make_integer_sequence<int, 4>());
}  // namespace
template <> const MicroKernel<float>* portable_kernel<float>() { return &kF32; }
template <> const MicroKernel<double>* portable_kernel<double>() { return &kF64; }
}  // namespace pydl::gemm_detail

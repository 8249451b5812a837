// The one matrix-multiply entry point, with a fused bias + activation epilogue:
//   C = act(alpha * op(A) @ op(B) + beta * C + bias)
// Row-major; op(X) is X or its transpose. op(A) is M x K, op(B) is K x N, C is M x N,
// bias has N entries (one per column of C). beta == 0: C is only written (it may hold NaN).
//
// CPU: pydl's own packed, cache-blocked GEMM (gemm.cc) over a register micro-kernel picked
// at run time: AVX-512, AVX2 or portable C++ (gemm_avx512.cc, gemm_avx2.cc,
// gemm_portable.cc). Determinism: every element of C is one FMA chain over k in order,
// blocked at a K step fixed by the shape alone; how tiles are shared among threads never
// changes a result, so results are bitwise identical whatever the thread count.
#pragma once
#include <string>

#include "core/view.h"
#include "kernels/activation.h"

namespace pydl {

template <typename T>
void gemm(Matrix<T> c, Matrix<const T> a, bool trans_a, Matrix<const T> b, bool trans_b,
          T alpha = T(1), T beta = T(0), const T* bias = nullptr,
          Activation act = Activation::Linear);

// The micro-kernel family in use: "avx512", "avx2" or "portable" (the CPU's best by default).
std::string gemm_isa();
// Forces a family ("avx512", "avx2", "portable") or "auto" (the CPU's best), for both float
// and double: tests check every path on one machine. ValueError when the CPU lacks it.
void set_gemm_isa(const std::string& name);

}  // namespace pydl

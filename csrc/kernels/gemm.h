// The one matrix-multiply entry point, with a fused bias + activation epilogue:
//   C = act(alpha * op(A) @ op(B) + beta * C + bias)
// Row-major; op(X) is X or its transpose. op(A) is M x K, op(B) is K x N, C is M x N,
// bias has N entries (one per column of C). CPU: OpenBLAS kernels, split by pydl over its
// OpenMP threads in a partition that depends on the shape alone, so results are bitwise
// identical whatever the thread count.
#pragma once
#include "core/view.h"
#include "kernels/activation.h"

namespace pydl {

template <typename T>
void gemm(Matrix<T> c, Matrix<const T> a, bool trans_a, Matrix<const T> b, bool trans_b,
          T alpha = T(1), T beta = T(0), const T* bias = nullptr,
          Activation act = Activation::Linear);

}  // namespace pydl

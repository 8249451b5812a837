// Internal to the GEMM: copies of op(A) and op(B) blocks into the micro-kernel's panel
// layouts (gemm_tile.h), so the kernel reads both operands contiguously whatever the
// transposes. Copies only: packing never changes a value. Scalar code, for the portable
// kernels and the ragged edges of the SIMD packers (gemm_microkernel.h). Included once per
// instruction set's file, inside its target region: hence the unnamed namespace (each file
// keeps its own copy, compiled for its own instructions).
#pragma once
#include <algorithm>
#include <cstdint>

namespace pydl::gemm_detail {
namespace {

// A micro-panel: dst[k * mr + r] = op(A)(i0 + r, p0 + k) for r < rows (rows <= mr; the
// slots of missing rows are never read: edge tiles run a kernel with fewer rows).
template <typename T>
void pack_a_scalar(T* dst, const T* a, int64_t lda, bool trans, int64_t i0, int64_t rows, int64_t p0,
                   int64_t kc, int mr) {
  if (trans) {  // op(A)(i, k) = a[k * lda + i]: rows of a are already the panel's rows
    for (int64_t k = 0; k < kc; ++k) std::copy(a + (p0 + k) * lda + i0, a + (p0 + k) * lda + i0 + rows, dst + k * mr);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = a + (i0 + r) * lda + p0;
    for (int64_t k = 0; k < kc; ++k) dst[k * mr + r] = s[k];
  }
}

// B micro-panel: dst[k * nr + c] = op(B)(p0 + k, j0 + c) for c < cols, zero for cols <= c < nr
// (the kernel always computes nr columns; the padded ones are dropped).
template <typename T>
void pack_b_scalar(T* dst, const T* b, int64_t ldb, bool trans, int64_t p0, int64_t kc, int64_t j0,
                   int64_t cols, int nr) {
  for (int64_t k = 0; k < kc; ++k) {
    T* d = dst + k * nr;
    if (trans)  // op(B)(k, j) = b[j * ldb + k]
      for (int64_t c = 0; c < cols; ++c) d[c] = b[(j0 + c) * ldb + p0 + k];
    else  // op(B)(k, j) = b[k * ldb + j]
      std::copy(b + (p0 + k) * ldb + j0, b + (p0 + k) * ldb + j0 + cols, d);
    std::fill(d + cols, d + nr, T(0));
  }
}

}  // namespace
}  // namespace pydl::gemm_detail

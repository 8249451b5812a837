#include "kernels/gemm.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "core/parallel.h"

extern "C" {
// From scipy-openblas32 (symbol prefix scipy_); declared here to keep cblas.h's macros out.
enum PydlCblasOrder { PydlRowMajor = 101 };
enum PydlCblasTranspose { PydlNoTrans = 111, PydlTrans = 112 };
void scipy_cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha,
                       const float* a, int lda, const float* b, int ldb, float beta, float* c,
                       int ldc);
void scipy_cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha,
                       const double* a, int lda, const double* b, int ldb, double beta,
                       double* c, int ldc);
}

namespace pydl {
namespace {

void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  scipy_cblas_sgemm(PydlRowMajor, ta ? PydlTrans : PydlNoTrans, tb ? PydlTrans : PydlNoTrans,
                    int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  scipy_cblas_dgemm(PydlRowMajor, ta ? PydlTrans : PydlNoTrans, tb ? PydlTrans : PydlNoTrans,
                    int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// Work below this many flops runs as one call: a thread hand-off costs more. Except when
// op(B) is large (batch-1 inference is a matrix-vector product bound by reading B): then
// each thread reads its share of B from its own core's cache.
constexpr double kSerialFlops = 4.0e6;
constexpr double kSerialBElements = 1 << 17;
// Each part of a split keeps at least this many rows/columns (a multiple of the micro-tiles).
constexpr int64_t kMinPart = 64;
// At most this many parts: each part packs its own copy of the shared operand, and more
// parts cost more packing than the extra cores return (measured on 2 cores, benches/).
// The count must not depend on the thread count: OpenBLAS's rounding depends on the shape
// of each call, so a thread-dependent split would break bitwise reproducibility.
constexpr int64_t kMaxParts = 4;

std::string shape_str(int64_t r, int64_t c) {
  return "(" + std::to_string(r) + ", " + std::to_string(c) + ")";
}

}  // namespace

template <typename T>
void gemm(Matrix<T> c, Matrix<const T> a, bool trans_a, Matrix<const T> b, bool trans_b, T alpha,
          T beta, const T* bias, Activation act) {
  const int64_t m = trans_a ? a.cols : a.rows;
  const int64_t k = trans_a ? a.rows : a.cols;
  const int64_t kb = trans_b ? b.cols : b.rows;
  const int64_t n = trans_b ? b.rows : b.cols;
  if (k != kb || c.rows != m || c.cols != n)
    throw ValueError("gemm: op(A) " + shape_str(m, k) + " @ op(B) " + shape_str(kb, n) +
                     " does not fit C " + shape_str(c.rows, c.cols));
  if (m == 0 || n == 0) return;
  // BLAS takes int sizes and leading dimensions.
  constexpr int64_t kIntMax = 2147483647;
  if (m > kIntMax || n > kIntMax || k > kIntMax || a.cols > kIntMax || b.cols > kIntMax || c.cols > kIntMax)
    throw ValueError("gemm: sizes beyond 2^31 - 1 are not supported, got op(A) " + shape_str(m, k) + " @ op(B) " +
                     shape_str(kb, n));

  // Partition over the larger output dimension into parts fixed by the shape alone.
  const bool split_rows = m >= n;
  const int64_t dim = split_rows ? m : n;
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const bool small = flops < kSerialFlops && double(k) * double(n) < kSerialBElements;
  // Mid-size products get fewer parts: every part packs its own copy of the shared operand.
  // (Matrix-vector-like products are bound by reading op(B): those keep the most parts.)
  const int64_t by_work = flops < kSerialFlops ? kMaxParts : std::max<int64_t>(1, int64_t(flops / kSerialFlops));
  int64_t parts = small ? 1 : std::min({kMaxParts, by_work, std::max<int64_t>(1, dim / kMinPart)});
  const int64_t step = ((dim + parts - 1) / parts + 15) / 16 * 16;  // 16-aligned parts
  parts = (dim + step - 1) / step;
  const bool row_softmax = act == Activation::Softmax;

  parallel_range(parts, 1, [&](int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t lo = p * step, len = std::min(step, dim - lo);
    const int64_t pm = split_rows ? len : m, pn = split_rows ? n : len;
    const int64_t r0 = split_rows ? lo : 0, c0 = split_rows ? 0 : lo;
    const T* pa = split_rows ? (trans_a ? a.data + lo : a.data + lo * a.cols) : a.data;
    const T* pb = split_rows ? b.data : (trans_b ? b.data + lo * b.cols : b.data + lo);
    T* pc = c.data + r0 * c.cols + c0;
    T part_beta = beta;
    if (bias && beta == T(0)) {
      // Bias rides in through beta = 1: one pass over C fewer.
      for (int64_t i = 0; i < pm; ++i) std::copy(bias + c0, bias + c0 + pn, pc + i * c.cols);
      part_beta = T(1);
    }
    if (k == 0) {
      for (int64_t i = 0; i < pm; ++i)
        for (int64_t j = 0; j < pn; ++j) pc[i * c.cols + j] *= part_beta;
    } else {
      blas_gemm(trans_a, trans_b, pm, pn, k, alpha, pa, a.cols, pb, b.cols, part_beta, pc, c.cols);
    }
    for (int64_t i = 0; i < pm; ++i) {
      T* row = pc + i * c.cols;
      if (bias && beta != T(0))
        for (int64_t j = 0; j < pn; ++j) row[j] += bias[c0 + j];
      if (!row_softmax) activation_inplace_span(row, pn, act);
    }
  }
  });
  if (row_softmax) activation_forward<T>(c, c, Activation::Softmax);
}

template void gemm<float>(Matrix<float>, Matrix<const float>, bool, Matrix<const float>, bool,
                          float, float, const float*, Activation);
template void gemm<double>(Matrix<double>, Matrix<const double>, bool, Matrix<const double>, bool,
                           double, double, const double*, Activation);

}  // namespace pydl

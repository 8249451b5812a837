#include "kernels/dense.h"

#include <algorithm>

#include "core/device.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/gemm.h"
#include "kernels/reduce.h"

namespace pydl {

template <typename T>
void dense_forward(Matrix<T> y, Matrix<T> z, Matrix<const T> x, Matrix<const T> w, const T* b,
                   Activation act) {
  PYDL_DEVICE_DISPATCH(dense_forward, y, z, x, w, b, act);
  if (z.data) {
    gemm<T>(z, x, false, w, false, T(1), T(0), b, Activation::Linear);
    activation_forward<T>(y, z, act);
  } else {
    gemm<T>(y, x, false, w, false, T(1), T(0), b, act);
  }
}

namespace {

// out[j] += the sum of rows [0, rows) of column j of x (row stride ld), in row order, with the
// running sums of kBlock columns held in registers: the same additions as out[j] += x[i][j]
// row after row, without a load and store of out per row (those chains were the time).
constexpr int64_t kBlock = 64;
template <int64_t B, typename A, typename T>
PYDL_ALWAYS_INLINE void add_column_block(A* __restrict out, const T* __restrict x, int64_t ld, int64_t rows) {
  A acc[B];
  for (int64_t j = 0; j < B; ++j) acc[j] = out[j];
  for (int64_t i = 0; i < rows; ++i) {
    const T* r = x + i * ld;
    for (int64_t j = 0; j < B; ++j) acc[j] += A(r[j]);
  }
  for (int64_t j = 0; j < B; ++j) out[j] = acc[j];
}
template <typename A, typename T>
PYDL_ALWAYS_INLINE void add_column_sums_impl(A* __restrict out, const T* __restrict x, int64_t ld, int64_t rows,
                                             int64_t cols) {
  int64_t j = 0;
  for (; j + kBlock <= cols; j += kBlock) add_column_block<kBlock>(out + j, x + j, ld, rows);
  for (; j + 8 <= cols; j += 8) add_column_block<8>(out + j, x + j, ld, rows);
  for (; j < cols; ++j) add_column_block<1>(out + j, x + j, ld, rows);
}
PYDL_SIMD_CLONES void add_column_sums(float* out, const float* x, int64_t ld, int64_t rows, int64_t cols) {
  add_column_sums_impl(out, x, ld, rows, cols);
}
PYDL_SIMD_CLONES void add_column_sums(double* out, const double* x, int64_t ld, int64_t rows, int64_t cols) {
  add_column_sums_impl(out, x, ld, rows, cols);
}
PYDL_SIMD_CLONES void add_column_sums(double* out, const float* x, int64_t ld, int64_t rows, int64_t cols) {
  add_column_sums_impl(out, x, ld, rows, cols);
}

}  // namespace

template <typename T>
void bias_backward(T* db, Matrix<const T> dz, double* ws) {
  PYDL_DEVICE_DISPATCH(bias_backward, db, dz, ws);
  const int64_t rows = dz.rows, cols = dz.cols;
  if (ws && rows >= 2 * kReduceRowChunk) {
    // Each fixed chunk of rows into its own partial (from 0), the partials added in chunk order.
    const int64_t chunks = reduce_row_chunks(rows);
    double* sums = ws + column_sums_workspace(rows, cols);
    parallel_range(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        double* part = ws + ch * cols;
        std::fill(part, part + cols, 0.0);
        const int64_t r0 = ch * kReduceRowChunk, r1 = std::min(rows, r0 + kReduceRowChunk);
        add_column_sums(part, dz.row(r0), cols, r1 - r0, cols);
      }
    });
    std::fill(sums, sums + cols, 0.0);
    for (int64_t ch = 0; ch < chunks; ++ch)
      for (int64_t j = 0; j < cols; ++j) sums[j] += ws[ch * cols + j];
    for (int64_t j = 0; j < cols; ++j) db[j] += T(sums[j]);
    return;
  }
  // Split over columns (outputs), never over rows (the reduction): order fixed per column.
  const int64_t grain = rows * cols >= (1 << 15) ? kBlock : cols;
  parallel_range(cols, grain, [&](int64_t c0, int64_t c1) { add_column_sums(db + c0, dz.row(0) + c0, cols, rows, c1 - c0); });
}

template <typename T>
void dense_backward(Matrix<T> dx, Matrix<T> dw, T* db, Matrix<T> dy, Matrix<const T> x,
                    Matrix<const T> y, Matrix<const T> z, Matrix<const T> w, Activation act) {
  PYDL_DEVICE_DISPATCH(dense_backward, dx, dw, db, dy, x, y, z, w, act);
  activation_backward<T>(dy, dy, z, y, act);
  Matrix<const T> dz = dy;
  gemm<T>(dw, x, true, dz, false, T(1), T(1));  // dw += x^T dz
  if (db) bias_backward<T>(db, dz);
  if (dx.data) gemm<T>(dx, dz, false, w, true);  // dx = dz w^T
}

#define PYDL_INSTANTIATE(T)                                                                  \
  template void dense_forward<T>(Matrix<T>, Matrix<T>, Matrix<const T>, Matrix<const T>,     \
                                 const T*, Activation);                                      \
  template void dense_backward<T>(Matrix<T>, Matrix<T>, T*, Matrix<T>, Matrix<const T>,      \
                                  Matrix<const T>, Matrix<const T>, Matrix<const T>,         \
                                  Activation);                                               \
  template void bias_backward<T>(T*, Matrix<const T>, double*);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl

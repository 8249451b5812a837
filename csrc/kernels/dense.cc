#include "kernels/dense.h"

#include <algorithm>

#include "core/device.h"
#include "core/errors.h"
#include "core/parallel.h"
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

template <typename T>
void bias_backward(T* db, Matrix<const T> dz, double* ws) {
  PYDL_DEVICE_DISPATCH(bias_backward, db, dz, ws);
  const int64_t rows = dz.rows;
  if (ws && rows >= 2 * kReduceRowChunk) {
    double* sums = ws + column_sums_workspace(rows, dz.cols);
    column_sums<1>(sums, rows, dz.cols, ws, [&](int64_t r, double* part) {
      const T* row = dz.row(r);
      for (int64_t j = 0; j < dz.cols; ++j) part[j] += double(row[j]);
    });
    for (int64_t j = 0; j < dz.cols; ++j) db[j] += T(sums[j]);
    return;
  }
  // Split over columns (outputs), never over rows (the reduction): order fixed per column.
  const int64_t grain = rows * dz.cols >= (1 << 15) ? 64 : dz.cols;
  parallel_range(dz.cols, grain, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < rows; ++i) {
      const T* r = dz.row(i);
      for (int64_t j = c0; j < c1; ++j) db[j] += r[j];
    }
  });
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

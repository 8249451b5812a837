// Fully connected layer: y = act(x @ w + b), x (batch, in), w (in, units), b (units).
// Parameter gradients accumulate (+=); activation gradients overwrite (=).
#pragma once
#include "core/view.h"
#include "kernels/activation.h"

namespace pydl {

// z receives the pre-activation when its data is non-null (needed for GELU's backward);
// otherwise bias and activation are fused into the GEMM.
template <typename T>
void dense_forward(Matrix<T> y, Matrix<T> z, Matrix<const T> x, Matrix<const T> w, const T* b,
                   Activation act);

// dy is overwritten with the gradient before the activation. dw and db accumulate;
// dx is overwritten and skipped when dx.data is null (the first layer); db when null.
template <typename T>
void dense_backward(Matrix<T> dx, Matrix<T> dw, T* db, Matrix<T> dy, Matrix<const T> x,
                    Matrix<const T> y, Matrix<const T> z, Matrix<const T> w, Activation act);

// db += column sums of dz. With a workspace (column_sums_workspace(rows, cols) doubles) the
// rows are summed in parallel fixed chunks; without, split over columns only. Either way the
// sum order never depends on the thread count.
template <typename T>
void bias_backward(T* db, Matrix<const T> dz, double* workspace = nullptr);

}  // namespace pydl

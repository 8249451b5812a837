// Merges of k same-shaped tensors (Add, Subtract, Multiply, Average, Maximum, Minimum) and
// Concatenate along one axis. Inputs are arrays of k pointers over n values (merges) or over
// outer x width_i x inner values (concatenate, row-major). dxs entries may be null (no
// gradient wanted); every non-null dx is overwritten (=).
#pragma once
#include <cstdint>

namespace pydl {

enum class MergeOp { Add, Subtract, Multiply, Average, Maximum, Minimum };

template <typename T>
void merge_forward(MergeOp op, T* y, const T* const* xs, int k, int64_t n);
// dy is d loss / d y; Maximum/Minimum route dy to the first input holding the extreme.
template <typename T>
void merge_backward(MergeOp op, T* const* dxs, const T* dy, const T* const* xs, int k, int64_t n);

// y (outer, sum(widths), inner) from xs[i] (outer, widths[i], inner).
template <typename T>
void concat_forward(T* y, const T* const* xs, const int64_t* widths, int k, int64_t outer, int64_t inner);
template <typename T>
void concat_backward(T* const* dxs, const T* dy, const int64_t* widths, int k, int64_t outer, int64_t inner);

}  // namespace pydl

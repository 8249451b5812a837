// Merges of k same-shaped tensors (Add, Subtract, Multiply, Average, Maximum, Minimum),
// Concatenate along one axis, and Bidirectional's merge of its two directions. Inputs are
// arrays of k pointers over n values (merges) or over outer x width_i x inner values
// (concatenate, row-major). dxs entries may be null (no gradient wanted); every non-null dx
// is overwritten (=).
#pragma once
#include <cstdint>
#include <string>

#include "core/host_device.h"

namespace pydl {

enum class MergeOp { Add, Subtract, Multiply, Average, Maximum, Minimum };

// One step of merge_forward's left-to-right fold, v = v (op) x, shared by the CPU and CUDA
// kernels (Average sums here; the caller divides by k at the end).
template <typename T>
PYDL_HOST_DEVICE inline T merge_fold(MergeOp op, T v, T x) {
  switch (op) {
    case MergeOp::Add:
    case MergeOp::Average: return v + x;
    case MergeOp::Subtract: return v - x;
    case MergeOp::Multiply: return v * x;
    case MergeOp::Maximum: return x > v ? x : v;
    case MergeOp::Minimum: return x < v ? x : v;
  }
  return v;
}

// Elementwise, so y may be one of the xs (an in-place sum).
template <typename T>
void merge_forward(MergeOp op, T* y, const T* const* xs, int k, int64_t n);
// dy is d loss / d y; Maximum/Minimum route dy to the first input holding the extreme.
template <typename T>
void merge_backward(MergeOp op, T* const* dxs, const T* dy, const T* const* xs, int k, int64_t n);

// y[i] += x[i], i < n: a gradient accumulated into a sum (merge_forward's Add of {y, x}, with
// no host array of pointers for a graph capture to keep alive).
template <typename T>
void add_into(T* y, const T* x, int64_t n);

// y (outer, sum(widths), inner) from xs[i] (outer, widths[i], inner).
template <typename T>
void concat_forward(T* y, const T* const* xs, const int64_t* widths, int k, int64_t outer, int64_t inner);
template <typename T>
void concat_backward(T* const* dxs, const T* dy, const int64_t* widths, int k, int64_t outer, int64_t inner);

// Bidirectional: the forward and backward outputs a, b (rows, units) become y, (rows,
// 2 * units) for Concat ([a, b] per row), else (rows, units): a + b, (a + b) / 2 or a * b.
enum class BidirectionalMerge { Concat, Sum, Ave, Mul };
// "concat", "sum", "ave" or "mul"; ValueError otherwise.
BidirectionalMerge parse_bidirectional_merge(const std::string& mode);

template <typename T>
void bidirectional_merge_forward(BidirectionalMerge mode, T* y, const T* a, const T* b, int64_t rows,
                                 int64_t units);
// da, db (rows, units) are overwritten with d loss / d a and d loss / d b.
template <typename T>
void bidirectional_merge_backward(BidirectionalMerge mode, T* da, T* db, const T* dy, const T* a, const T* b,
                                  int64_t rows, int64_t units);

}  // namespace pydl

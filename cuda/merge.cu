// Merge layers on CUDA: elementwise merges of k tensors, Concatenate, Bidirectional's merge.
// The k input pointers (and widths) arrive as host arrays of device pointers; they travel to
// the kernel by value, in the launch's parameters (no copy, capturable in a CUDA graph), so a
// merge takes at most kMaxInputs inputs. Formulas and tie rules are the CPU's (merge.cc).
#include <string>

#include "context.h"
#include "core/errors.h"
#include "kernels/merge.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr int kMaxInputs = 64;

struct Inputs {
  const float* p[kMaxInputs];
};
struct Outputs {
  float* p[kMaxInputs];
};
struct Widths {
  int64_t w[kMaxInputs];
};

void check_inputs(int k, const char* what) {
  if (k < 1 || k > kMaxInputs)
    throw ValueError(std::string(what) + ": expected 1 to " + std::to_string(kMaxInputs) + " inputs on CUDA, got " +
                     std::to_string(k));
}

#define PYDL_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void add_into_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = y[i] + x[i];
}

__global__ void merge_forward_kernel(MergeOp op, float* y, Inputs xs, int k, int64_t n) {
  PYDL_GRID_STRIDE(e, n) {
    float v = xs.p[0][e];
    for (int i = 1; i < k; ++i) v = merge_fold(op, v, xs.p[i][e]);
    y[e] = op == MergeOp::Average ? v / float(k) : v;
  }
}

__global__ void merge_backward_kernel(MergeOp op, Outputs dxs, const float* dy, Inputs xs, int k, int64_t n) {
  PYDL_GRID_STRIDE(e, n) {
    const float g = dy[e];
    if (op == MergeOp::Maximum || op == MergeOp::Minimum) {
      int best = 0;  // the first input holding the extreme, as forward picked it
      for (int i = 1; i < k; ++i)
        if (op == MergeOp::Maximum ? xs.p[i][e] > xs.p[best][e] : xs.p[i][e] < xs.p[best][e]) best = i;
      for (int i = 0; i < k; ++i)
        if (dxs.p[i]) dxs.p[i][e] = i == best ? g : 0.f;
      continue;
    }
    for (int i = 0; i < k; ++i) {
      if (!dxs.p[i]) continue;
      float d = g;
      if (op == MergeOp::Subtract && i == 1) d = -g;
      if (op == MergeOp::Average) d = g / float(k);
      if (op == MergeOp::Multiply)
        for (int j = 0; j < k; ++j)
          if (j != i) d *= xs.p[j][e];
      dxs.p[i][e] = d;
    }
  }
}

// One thread per element of y (outer, total * inner); `forward` copies into y, else out of dy.
__global__ void concat_kernel(float* y, Inputs xs, Outputs dxs, Widths widths, int k, int64_t outer, int64_t inner,
                              int64_t total, bool forward) {
  const int64_t row = total * inner;
  PYDL_GRID_STRIDE(t, outer * row) {
    const int64_t o = t / row;
    int64_t rem = t % row;
    int i = 0;
    while (rem >= widths.w[i] * inner) rem -= widths.w[i++] * inner;
    const int64_t at = o * widths.w[i] * inner + rem;
    if (forward) y[t] = xs.p[i][at];
    else if (dxs.p[i]) dxs.p[i][at] = y[t];
  }
}

__global__ void bidirectional_forward_kernel(BidirectionalMerge mode, float* y, const float* a, const float* b,
                                             int64_t rows, int64_t u) {
  PYDL_GRID_STRIDE(t, rows * u) {
    const int64_t r = t / u, j = t % u;
    switch (mode) {
      case BidirectionalMerge::Concat: y[r * 2 * u + j] = a[t]; y[r * 2 * u + u + j] = b[t]; break;
      case BidirectionalMerge::Sum: y[t] = a[t] + b[t]; break;
      case BidirectionalMerge::Ave: y[t] = 0.5f * (a[t] + b[t]); break;
      case BidirectionalMerge::Mul: y[t] = a[t] * b[t]; break;
    }
  }
}

__global__ void bidirectional_backward_kernel(BidirectionalMerge mode, float* da, float* db, const float* dy,
                                              const float* a, const float* b, int64_t rows, int64_t u) {
  PYDL_GRID_STRIDE(t, rows * u) {
    const int64_t r = t / u, j = t % u;
    switch (mode) {
      case BidirectionalMerge::Concat: da[t] = dy[r * 2 * u + j]; db[t] = dy[r * 2 * u + u + j]; break;
      case BidirectionalMerge::Sum: da[t] = dy[t]; db[t] = dy[t]; break;
      case BidirectionalMerge::Ave: da[t] = db[t] = 0.5f * dy[t]; break;
      case BidirectionalMerge::Mul: {
        const float g = dy[t];
        da[t] = g * b[t];
        db[t] = g * a[t];
        break;
      }
    }
  }
}

Inputs gather_inputs(const float* const* xs, int k) {
  Inputs in{};
  for (int i = 0; i < k; ++i) in.p[i] = xs[i];
  return in;
}

}  // namespace

void merge_forward_cuda(MergeOp op, float* y, const float* const* xs, int k, int64_t n) {
  check_inputs(k, "merge_forward");
  if (n == 0) return;
  merge_forward_kernel<<<blocks_for(n), 256, 0, stream()>>>(op, y, gather_inputs(xs, k), k, n);
  PYDL_CUDA_LAUNCHED("merge_forward");
}

void add_into_cuda(float* y, const float* x, int64_t n) {
  if (n == 0) return;
  add_into_kernel<<<blocks_for(n), 256, 0, stream()>>>(y, x, n);
  PYDL_CUDA_LAUNCHED("add_into");
}

void merge_backward_cuda(MergeOp op, float* const* dxs, const float* dy, const float* const* xs, int k, int64_t n) {
  check_inputs(k, "merge_backward");
  if (n == 0) return;
  Outputs out{};
  for (int i = 0; i < k; ++i) out.p[i] = dxs[i];
  merge_backward_kernel<<<blocks_for(n), 256, 0, stream()>>>(op, out, dy, gather_inputs(xs, k), k, n);
  PYDL_CUDA_LAUNCHED("merge_backward");
}

void concat_forward_cuda(float* y, const float* const* xs, const int64_t* widths, int k, int64_t outer, int64_t inner) {
  check_inputs(k, "concat_forward");
  Widths w{};
  int64_t total = 0;
  for (int i = 0; i < k; ++i) total += (w.w[i] = widths[i]);
  if (outer * total * inner == 0) return;
  concat_kernel<<<blocks_for(outer * total * inner), 256, 0, stream()>>>(y, gather_inputs(xs, k), Outputs{}, w, k,
                                                                          outer, inner, total, true);
  PYDL_CUDA_LAUNCHED("concat_forward");
}

void concat_backward_cuda(float* const* dxs, const float* dy, const int64_t* widths, int k, int64_t outer,
                          int64_t inner) {
  check_inputs(k, "concat_backward");
  Widths w{};
  Outputs out{};
  int64_t total = 0;
  for (int i = 0; i < k; ++i) total += (w.w[i] = widths[i]), out.p[i] = dxs[i];
  if (outer * total * inner == 0) return;
  // The kernel reads dy through its `y` argument in this direction.
  concat_kernel<<<blocks_for(outer * total * inner), 256, 0, stream()>>>(const_cast<float*>(dy), Inputs{}, out, w, k,
                                                                          outer, inner, total, false);
  PYDL_CUDA_LAUNCHED("concat_backward");
}

void bidirectional_merge_forward_cuda(BidirectionalMerge mode, float* y, const float* a, const float* b, int64_t rows,
                                      int64_t u) {
  if (rows * u == 0) return;
  bidirectional_forward_kernel<<<blocks_for(rows * u), 256, 0, stream()>>>(mode, y, a, b, rows, u);
  PYDL_CUDA_LAUNCHED("bidirectional_merge_forward");
}

void bidirectional_merge_backward_cuda(BidirectionalMerge mode, float* da, float* db, const float* dy, const float* a,
                                       const float* b, int64_t rows, int64_t u) {
  if (rows * u == 0) return;
  bidirectional_backward_kernel<<<blocks_for(rows * u), 256, 0, stream()>>>(mode, da, db, dy, a, b, rows, u);
  PYDL_CUDA_LAUNCHED("bidirectional_merge_backward");
}

PYDL_CUDA_KERNEL(merge_forward, merge_forward_cuda);
PYDL_CUDA_KERNEL(add_into, add_into_cuda);
PYDL_CUDA_KERNEL(merge_backward, merge_backward_cuda);
PYDL_CUDA_KERNEL(concat_forward, concat_forward_cuda);
PYDL_CUDA_KERNEL(concat_backward, concat_backward_cuda);
PYDL_CUDA_KERNEL(bidirectional_merge_forward, bidirectional_merge_forward_cuda);
PYDL_CUDA_KERNEL(bidirectional_merge_backward, bidirectional_merge_backward_cuda);

}  // namespace pydl::cuda

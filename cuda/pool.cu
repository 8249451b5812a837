// Pooling on the GPU, the CPU kernels' contract (kernels/pool.h): max and average windows
// over channels-last images (MaxPool1D / AvgPool1D are (1, T) images), global average / max.
// One thread per output element, or, for the backward passes, per input element: dx is a
// gather (each dx element visits the windows that cover it, in ascending (oy, ox) order, the
// order in which the CPU's scatter adds them), so there are no atomics and the sums are
// bitwise reproducible. The forward passes visit each window in the CPU's order with the same
// strict > (the first maximum wins), so y and argmax equal the CPU's exactly.
// Max backward reads argmax as max_pool2d_forward wrote it: an entry outside its own window
// (which no forward produces) receives nothing here, where the CPU's scatter would add it.
#include "context.h"
#include "registry.h"
#include "kernels/pool.h"

namespace pydl::cuda {
namespace {

constexpr unsigned kThreads = 256;

#define PYDL_GRID_STRIDE(e, total) \
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

// The in-bounds window of output (oy, ox): rows [y0, y1), columns [x0, x1).
struct Window {
  int64_t y0, y1, x0, x1;
};
__device__ inline Window window_of(const Conv2dArgs& a, int64_t oy, int64_t ox) {
  const int64_t ys = oy * a.sh - a.pad_top, xs = ox * a.sw - a.pad_left;
  return {ys > 0 ? ys : 0, ys + a.kh < a.h ? ys + a.kh : a.h, xs > 0 ? xs : 0, xs + a.kw < a.w ? xs + a.kw : a.w};
}

// Outputs o whose window [o*s - pad, o*s - pad + k) covers input i: [lo, hi] (empty if lo > hi).
__device__ inline void covering(int64_t i, int64_t s, int64_t pad, int64_t k, int64_t outs, int64_t& lo,
                                int64_t& hi) {
  const int64_t first = i + pad - k + 1;
  lo = first <= 0 ? 0 : (first + s - 1) / s;
  hi = (i + pad) / s;
  if (hi > outs - 1) hi = outs - 1;
}

__global__ void max_pool_forward_kernel(float* __restrict__ y, int32_t* __restrict__ argmax,
                                        const float* __restrict__ x, Conv2dArgs a) {
  const int64_t c = a.c, in_img = a.h * a.w * c;
  PYDL_GRID_STRIDE(e, a.n * a.oh * a.ow * c) {
    const int64_t ch = e % c, ox = (e / c) % a.ow, oy = (e / (c * a.ow)) % a.oh, n = e / (c * a.ow * a.oh);
    const float* img = x + n * in_img;
    const Window win = window_of(a, oy, ox);
    int64_t best = (win.y0 * a.w + win.x0) * c + ch;  // windows always hold an input pixel
    float m = img[best];
    for (int64_t iy = win.y0; iy < win.y1; ++iy)
      for (int64_t ix = win.x0; ix < win.x1; ++ix) {
        const int64_t off = (iy * a.w + ix) * c + ch;
        const float v = img[off];
        if (v > m) {
          m = v;
          best = off;
        }
      }
    y[e] = m;
    if (argmax) argmax[e] = int32_t(best);  // null: inference, no backward
  }
}

__global__ void max_pool_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                         const int32_t* __restrict__ argmax, Conv2dArgs a) {
  const int64_t c = a.c, out_img = a.oh * a.ow * c;
  PYDL_GRID_STRIDE(e, a.n * a.h * a.w * c) {
    const int64_t ch = e % c, ix = (e / c) % a.w, iy = (e / (c * a.w)) % a.h, n = e / (c * a.w * a.h);
    const int32_t own = int32_t((iy * a.w + ix) * c + ch);
    int64_t oy0, oy1, ox0, ox1;
    covering(iy, a.sh, a.pad_top, a.kh, a.oh, oy0, oy1);
    covering(ix, a.sw, a.pad_left, a.kw, a.ow, ox0, ox1);
    float sum = 0.0f;
    for (int64_t oy = oy0; oy <= oy1; ++oy)
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const int64_t o = n * out_img + (oy * a.ow + ox) * c + ch;
        if (argmax[o] == own) sum += dy[o];
      }
    dx[e] = sum;
  }
}

__global__ void avg_pool_forward_kernel(float* __restrict__ y, const float* __restrict__ x, Conv2dArgs a) {
  const int64_t c = a.c, in_img = a.h * a.w * c;
  PYDL_GRID_STRIDE(e, a.n * a.oh * a.ow * c) {
    const int64_t ch = e % c, ox = (e / c) % a.ow, oy = (e / (c * a.ow)) % a.oh, n = e / (c * a.ow * a.oh);
    const float* img = x + n * in_img;
    const Window win = window_of(a, oy, ox);
    float s = 0.0f;
    for (int64_t iy = win.y0; iy < win.y1; ++iy)
      for (int64_t ix = win.x0; ix < win.x1; ++ix) s += img[(iy * a.w + ix) * c + ch];
    y[e] = s * (1.0f / float((win.y1 - win.y0) * (win.x1 - win.x0)));  // padding left out of the count
  }
}

__global__ void avg_pool_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy, Conv2dArgs a) {
  const int64_t c = a.c, out_img = a.oh * a.ow * c;
  PYDL_GRID_STRIDE(e, a.n * a.h * a.w * c) {
    const int64_t ch = e % c, ix = (e / c) % a.w, iy = (e / (c * a.w)) % a.h, n = e / (c * a.w * a.h);
    int64_t oy0, oy1, ox0, ox1;
    covering(iy, a.sh, a.pad_top, a.kh, a.oh, oy0, oy1);
    covering(ix, a.sw, a.pad_left, a.kw, a.ow, ox0, ox1);
    float sum = 0.0f;
    for (int64_t oy = oy0; oy <= oy1; ++oy)
      for (int64_t ox = ox0; ox <= ox1; ++ox) {
        const Window win = window_of(a, oy, ox);
        const float inv = 1.0f / float((win.y1 - win.y0) * (win.x1 - win.x0));
        sum += dy[n * out_img + (oy * a.ow + ox) * c + ch] * inv;
      }
    dx[e] = sum;
  }
}

// Global pools: one thread per (image, channel), positions in order (coalesced over channels).
__global__ void global_avg_forward_kernel(float* __restrict__ y, const float* __restrict__ x, int64_t n, int64_t p,
                                          int64_t c) {
  PYDL_GRID_STRIDE(e, n * c) {
    const int64_t i = e / c, ch = e % c;
    float s = 0.0f;
    for (int64_t q = 0; q < p; ++q) s += x[(i * p + q) * c + ch];
    y[e] = s / float(p);
  }
}

__global__ void global_avg_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy, int64_t n,
                                           int64_t p, int64_t c) {
  PYDL_GRID_STRIDE(e, n * p * c) dx[e] = dy[(e / (p * c)) * c + e % c] / float(p);
}

__global__ void global_max_forward_kernel(float* __restrict__ y, int32_t* __restrict__ argmax,
                                          const float* __restrict__ x, int64_t n, int64_t p, int64_t c) {
  PYDL_GRID_STRIDE(e, n * c) {
    const int64_t i = e / c, ch = e % c;
    int64_t best = 0;
    float m = x[i * p * c + ch];
    for (int64_t q = 1; q < p; ++q) {
      const float v = x[(i * p + q) * c + ch];
      if (v > m) {
        m = v;
        best = q;
      }
    }
    y[e] = m;
    argmax[e] = int32_t(best);
  }
}

__global__ void global_max_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                           const int32_t* __restrict__ argmax, int64_t n, int64_t p, int64_t c) {
  PYDL_GRID_STRIDE(e, n * p * c) {
    const int64_t i = e / (p * c), q = (e / c) % p, o = i * c + e % c;
    dx[e] = argmax[o] == q ? dy[o] : 0.0f;
  }
}

#undef PYDL_GRID_STRIDE

void max_pool2d_forward_cuda(float* y, int32_t* argmax, const float* x, const Conv2dArgs& a) {
  max_pool_forward_kernel<<<blocks_for(a.n * a.oh * a.ow * a.c), kThreads, 0, stream()>>>(y, argmax, x, a);
  PYDL_CUDA_LAUNCHED("max_pool2d_forward");
}
void max_pool2d_backward_cuda(float* dx, const float* dy, const int32_t* argmax, const Conv2dArgs& a) {
  max_pool_backward_kernel<<<blocks_for(a.n * a.h * a.w * a.c), kThreads, 0, stream()>>>(dx, dy, argmax, a);
  PYDL_CUDA_LAUNCHED("max_pool2d_backward");
}
void avg_pool2d_forward_cuda(float* y, const float* x, const Conv2dArgs& a) {
  avg_pool_forward_kernel<<<blocks_for(a.n * a.oh * a.ow * a.c), kThreads, 0, stream()>>>(y, x, a);
  PYDL_CUDA_LAUNCHED("avg_pool2d_forward");
}
void avg_pool2d_backward_cuda(float* dx, const float* dy, const Conv2dArgs& a) {
  avg_pool_backward_kernel<<<blocks_for(a.n * a.h * a.w * a.c), kThreads, 0, stream()>>>(dx, dy, a);
  PYDL_CUDA_LAUNCHED("avg_pool2d_backward");
}
void global_avg_pool_forward_cuda(float* y, const float* x, int64_t n, int64_t p, int64_t c) {
  global_avg_forward_kernel<<<blocks_for(n * c), kThreads, 0, stream()>>>(y, x, n, p, c);
  PYDL_CUDA_LAUNCHED("global_avg_pool_forward");
}
void global_avg_pool_backward_cuda(float* dx, const float* dy, int64_t n, int64_t p, int64_t c) {
  global_avg_backward_kernel<<<blocks_for(n * p * c), kThreads, 0, stream()>>>(dx, dy, n, p, c);
  PYDL_CUDA_LAUNCHED("global_avg_pool_backward");
}
void global_max_pool_forward_cuda(float* y, int32_t* argmax, const float* x, int64_t n, int64_t p, int64_t c) {
  global_max_forward_kernel<<<blocks_for(n * c), kThreads, 0, stream()>>>(y, argmax, x, n, p, c);
  PYDL_CUDA_LAUNCHED("global_max_pool_forward");
}
void global_max_pool_backward_cuda(float* dx, const float* dy, const int32_t* argmax, int64_t n, int64_t p,
                                   int64_t c) {
  global_max_backward_kernel<<<blocks_for(n * p * c), kThreads, 0, stream()>>>(dx, dy, argmax, n, p, c);
  PYDL_CUDA_LAUNCHED("global_max_pool_backward");
}

}  // namespace

PYDL_CUDA_KERNEL(max_pool2d_forward, max_pool2d_forward_cuda);
PYDL_CUDA_KERNEL(max_pool2d_backward, max_pool2d_backward_cuda);
PYDL_CUDA_KERNEL(avg_pool2d_forward, avg_pool2d_forward_cuda);
PYDL_CUDA_KERNEL(avg_pool2d_backward, avg_pool2d_backward_cuda);
PYDL_CUDA_KERNEL(global_avg_pool_forward, global_avg_pool_forward_cuda);
PYDL_CUDA_KERNEL(global_avg_pool_backward, global_avg_pool_backward_cuda);
PYDL_CUDA_KERNEL(global_max_pool_forward, global_max_pool_forward_cuda);
PYDL_CUDA_KERNEL(global_max_pool_backward, global_max_pool_backward_cuda);

}  // namespace pydl::cuda

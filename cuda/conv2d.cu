// Conv2D on the GPU (Conv1D too: the layer runs it as a (1, T) image), channels-last, the
// CPU kernel's contract (kernels/conv2d.h): dk and db accumulate (+=), dx is overwritten (=),
// dy is overwritten with the gradient before the activation.
//
// Method: im2col into the caller's column workspace (the same groups of images as the CPU,
// Conv2dArgs::workspace_size() floats, so the layer's plan needs nothing new), then one cuBLAS
// SGEMM per group; dx gathers the column gradient back (each dx element sums the taps that
// read it in a fixed order, so no atomics); bias and activation run as an epilogue pass.
// An implicit GEMM (the column tile in shared memory, no workspace traffic) is the next step
// for speed; cuDNN is not used: the issue admits it only where measured faster than our own
// kernel, and nothing here has been measured on a GPU yet.
// Determinism: cuBLAS runs with atomics disallowed (cuda/context.h); dk sums the groups in
// order; db is a fixed two-pass column sum in double. Two runs give bitwise the same results.
#include <climits>
#include <stdexcept>
#include <string>

#include "context.h"
#include "reduce.cuh"
#include "registry.h"
#include "kernels/conv2d.h"

namespace pydl::cuda {
namespace {

constexpr unsigned kThreads = 256;

int as_int(int64_t v, const char* what) {
  if (v > INT_MAX) throw std::runtime_error(std::string("conv2d (CUDA): ") + what + " exceeds cuBLAS's int range");
  return int(v);
}

// Row-major C (m x n) = op(A) op(B) + beta C: cuBLAS is column-major, so it computes
// C^T = op(B)^T op(A)^T, reading each row-major matrix as its column-major transpose.
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
             int64_t ldb, float beta, float* c, int64_t ldc) {
  const float one = 1.0f;
  PYDL_CUDA_CHECK(cublasSgemm(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              as_int(n, "n"), as_int(m, "m"), as_int(k, "k"), &one, b, as_int(ldb, "ldb"), a,
                              as_int(lda, "lda"), &beta, c, as_int(ldc, "ldc")));
}

// Images per GEMM group: the backward's rule on the CPU (the workspace holds that many
// images' columns); pointwise convolutions need no columns but keep cuBLAS's sizes in int.
int64_t group_of(const Conv2dArgs& a) {
  if (a.pointwise())
    return std::max<int64_t>(1, std::min<int64_t>(a.n, (int64_t(1) << 30) / std::max<int64_t>(a.out_pixels(), 1)));
  return a.column_group();
}

// cols[r, (i, j, ch)] = x[n, oy*sh - pt + i*dh, ox*sw - pl + j*dw, ch] (0 outside), rows r of
// the group starting at image n0.
__global__ void im2col_kernel(float* __restrict__ cols, const float* __restrict__ x, Conv2dArgs a, int64_t n0,
                              int64_t rows) {
  const int64_t patch = a.kh * a.kw * a.c, pix = a.oh * a.ow, total = rows * patch;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / patch, q = e % patch;
    const int64_t ch = q % a.c, j = (q / a.c) % a.kw, i = q / (a.c * a.kw);
    const int64_t n = n0 + r / pix, p = r % pix, oy = p / a.ow, ox = p % a.ow;
    const int64_t iy = oy * a.sh - a.pad_top + i * a.dh, ix = ox * a.sw - a.pad_left + j * a.dw;
    cols[e] = iy < 0 || iy >= a.h || ix < 0 || ix >= a.w ? 0.0f : x[((n * a.h + iy) * a.w + ix) * a.c + ch];
  }
}

// dx of images [n0, n0 + images) from the columns' gradient: each element gathers the taps
// (i, j) whose window covers it, in ascending (i, j) order.
__global__ void col2im_kernel(float* __restrict__ dx, const float* __restrict__ dcols, Conv2dArgs a, int64_t n0,
                              int64_t images) {
  const int64_t patch = a.kh * a.kw * a.c, pix = a.oh * a.ow, total = images * a.h * a.w * a.c;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = e % a.c, px = (e / a.c) % a.w, py = (e / (a.c * a.w)) % a.h, li = e / (a.c * a.w * a.h);
    float sum = 0.0f;
    for (int64_t i = 0; i < a.kh; ++i) {
      const int64_t ty = py + a.pad_top - i * a.dh;
      if (ty < 0) break;  // grows more negative with i
      if (ty % a.sh) continue;
      const int64_t oy = ty / a.sh;
      if (oy >= a.oh) continue;
      for (int64_t j = 0; j < a.kw; ++j) {
        const int64_t tx = px + a.pad_left - j * a.dw;
        if (tx < 0) break;
        if (tx % a.sw) continue;
        const int64_t ox = tx / a.sw;
        if (ox >= a.ow) continue;
        sum += dcols[(li * pix + oy * a.ow + ox) * patch + (i * a.kw + j) * a.c + ch];
      }
    }
    dx[n0 * a.h * a.w * a.c + e] = sum;
  }
}

// The CPU's activation formulas (kernels/activation.cc), elementwise ones.
__device__ inline float activate(float v, Activation act) {
  switch (act) {
    case Activation::ReLU: return fmaxf(v, 0.0f);
    case Activation::LeakyReLU: return v > 0.0f ? v : float(kLeakyReluSlope) * v;
    case Activation::Sigmoid: {
      if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
      const float e = expf(v);
      return e / (1.0f + e);
    }
    case Activation::Tanh: return tanhf(v);
    case Activation::GELU: return 0.5f * v * (1.0f + erff(v * float(M_SQRT1_2)));
    default: return v;  // Linear (Softmax runs row-wise)
  }
}

// y = act(src + b); z = src + b when z is non-null (src may be z or y).
__global__ void epilogue_kernel(float* y, float* z, const float* src, const float* __restrict__ b, int64_t total,
                                int64_t f, Activation act) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const float pre = b ? src[e] + b[e % f] : src[e];
    if (z) z[e] = pre;
    y[e] = activate(pre, act);
  }
}

// Softmax over each row of f values, one warp per row (warp_max / warp_sum: a fixed order).
__global__ void softmax_rows_kernel(float* y, const float* x, int64_t rows, int64_t f) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; r < rows; r += warps) {
    const float* xr = x + r * f;
    float* yr = y + r * f;
    float m = -INFINITY;
    for (int64_t j = lane; j < f; j += 32) m = fmaxf(m, xr[j]);
    m = __shfl_sync(0xffffffffu, warp_max(m), 0);
    float s = 0.0f;
    for (int64_t j = lane; j < f; j += 32) s += expf(xr[j] - m);
    s = __shfl_sync(0xffffffffu, warp_sum(s), 0);
    const float inv = 1.0f / s;
    for (int64_t j = lane; j < f; j += 32) yr[j] = expf(xr[j] - m) * inv;
  }
}

// dy = dy * act'(.), in place (from y, or z for GELU).
__global__ void act_backward_kernel(float* dy, const float* __restrict__ y, const float* __restrict__ z,
                                    int64_t total, Activation act) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const float g = dy[e];
    switch (act) {
      case Activation::ReLU: dy[e] = y[e] > 0.0f ? g : 0.0f; break;
      case Activation::LeakyReLU: dy[e] = y[e] > 0.0f ? g : float(kLeakyReluSlope) * g; break;
      case Activation::Sigmoid: dy[e] = g * y[e] * (1.0f - y[e]); break;
      case Activation::Tanh: dy[e] = g * (1.0f - y[e] * y[e]); break;
      case Activation::GELU: {
        const float v = z[e], cdf = 0.5f * (1.0f + erff(v * float(M_SQRT1_2)));
        dy[e] = g * (cdf + v * 0.3989422804014327f * expf(-0.5f * v * v));
        break;
      }
      default: break;
    }
  }
}

__global__ void softmax_backward_kernel(float* dy, const float* __restrict__ y, int64_t rows, int64_t f) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; r < rows; r += warps) {
    float* dr = dy + r * f;
    const float* yr = y + r * f;
    float dot = 0.0f;
    for (int64_t j = lane; j < f; j += 32) dot += dr[j] * yr[j];
    dot = __shfl_sync(0xffffffffu, warp_sum(dot), 0);
    __syncwarp();  // every lane has read its dr[j] before any overwrites
    for (int64_t j = lane; j < f; j += 32) dr[j] = yr[j] * (dr[j] - dot);
  }
}

// Column sums of dz (rows x f) in two fixed passes: block (x: 32 columns, y: 8 row lanes)
// sums one chunk of kChunkRows rows into part[chunk, col]; the second pass adds the chunks
// in order into db (+=).
constexpr int64_t kChunkRows = 1024;
__global__ void column_partials_kernel(double* part, const float* __restrict__ dz, int64_t rows, int64_t f) {
  __shared__ double lanes[8][33];
  const int64_t col = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * kChunkRows;
  const int64_t r1 = r0 + kChunkRows < rows ? r0 + kChunkRows : rows;
  double s = 0.0;
  if (col < f)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += double(dz[r * f + col]);
  lanes[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < f) {
    for (int k = 1; k < 8; ++k) s += lanes[k][threadIdx.x];
    part[blockIdx.y * f + col] = s;
  }
}
__global__ void column_finish_kernel(float* db, const double* __restrict__ part, int64_t chunks, int64_t f) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < f; j += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += part[k * f + j];
    db[j] += float(s);
  }
}

void bias_backward(float* db, const float* dz, int64_t rows, int64_t f) {
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  if (chunks == 0) return;  // an empty batch adds nothing
  if (chunks > 65535) throw std::runtime_error("conv2d (CUDA): too many rows for the bias gradient");
  double* part = static_cast<double*>(scratch(sizeof(double) * size_t(chunks * f)));
  column_partials_kernel<<<dim3(unsigned((f + 31) / 32), unsigned(chunks)), dim3(32, 8), 0, stream()>>>(part, dz,
                                                                                                        rows, f);
  PYDL_CUDA_LAUNCHED("conv2d bias gradient");
  column_finish_kernel<<<blocks_for(f), kThreads, 0, stream()>>>(db, part, chunks, f);
  PYDL_CUDA_LAUNCHED("conv2d bias gradient");
}

void conv2d_forward_cuda(float* y, float* z, const float* x, const float* k, const float* b, Activation act,
                         const Conv2dArgs& a, float* ws) {
  const int64_t pix = a.oh * a.ow, patch = a.kh * a.kw * a.c, group = group_of(a), total = a.n * pix * a.f;
  float* pre = z ? z : y;  // the GEMM's output; the epilogue makes y (and keeps z)
  for (int64_t n0 = 0; n0 < a.n; n0 += group) {
    const int64_t images = std::min(group, a.n - n0), rows = images * pix;
    const float* cols = x + n0 * a.h * a.w * a.c;
    if (!a.pointwise()) {
      im2col_kernel<<<blocks_for(rows * patch), kThreads, 0, stream()>>>(ws, x, a, n0, rows);
      PYDL_CUDA_LAUNCHED("conv2d im2col");
      cols = ws;
    }
    gemm_rm(false, false, rows, a.f, patch, cols, patch, k, a.f, 0.0f, pre + n0 * pix * a.f, a.f);
  }
  if (act == Activation::Softmax) {
    if (b || z) {
      epilogue_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(pre, nullptr, pre, b, total, a.f,
                                                                   Activation::Linear);
      PYDL_CUDA_LAUNCHED("conv2d bias");
    }
    softmax_rows_kernel<<<blocks_for(a.n * pix * 32), kThreads, 0, stream()>>>(y, pre, a.n * pix, a.f);
    PYDL_CUDA_LAUNCHED("conv2d softmax");
  } else if (b || z || act != Activation::Linear) {
    epilogue_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(y, z, pre, b, total, a.f, act);
    PYDL_CUDA_LAUNCHED("conv2d epilogue");
  }
}

void conv2d_backward_cuda(float* dx, float* dk, float* db, float* dy, const float* x, const float* y,
                          const float* z, const float* k, Activation act, const Conv2dArgs& a, float* ws,
                          double* /*reduce_ws: the CUDA column sums use scratch()*/) {
  const int64_t pix = a.oh * a.ow, patch = a.kh * a.kw * a.c, group = group_of(a), total = a.n * pix;
  if (act == Activation::Softmax) {
    softmax_backward_kernel<<<blocks_for(total * 32), kThreads, 0, stream()>>>(dy, y, total, a.f);
    PYDL_CUDA_LAUNCHED("conv2d softmax backward");
  } else if (act != Activation::Linear) {
    act_backward_kernel<<<blocks_for(total * a.f), kThreads, 0, stream()>>>(dy, y, z, total * a.f, act);
    PYDL_CUDA_LAUNCHED("conv2d activation backward");
  }
  if (db) bias_backward(db, dy, total, a.f);
  for (int64_t n0 = 0; n0 < a.n; n0 += group) {
    const int64_t images = std::min(group, a.n - n0), rows = images * pix;
    const float* dz = dy + n0 * pix * a.f;
    const float* cols = x + n0 * a.h * a.w * a.c;
    if (!a.pointwise()) {
      im2col_kernel<<<blocks_for(rows * patch), kThreads, 0, stream()>>>(ws, x, a, n0, rows);
      PYDL_CUDA_LAUNCHED("conv2d im2col");
      cols = ws;
    }
    gemm_rm(true, false, patch, a.f, rows, cols, patch, dz, a.f, 1.0f, dk, a.f);  // dk += cols^T dz
    if (!dx) continue;
    if (a.pointwise()) {
      gemm_rm(false, true, rows, patch, a.f, dz, a.f, k, a.f, 0.0f, dx + n0 * a.h * a.w * a.c, patch);
    } else {  // the columns' gradient overwrites the columns (dk has been queued before it)
      gemm_rm(false, true, rows, patch, a.f, dz, a.f, k, a.f, 0.0f, ws, patch);
      col2im_kernel<<<blocks_for(images * a.h * a.w * a.c), kThreads, 0, stream()>>>(dx, ws, a, n0, images);
      PYDL_CUDA_LAUNCHED("conv2d col2im");
    }
  }
}

}  // namespace

PYDL_CUDA_KERNEL(conv2d_forward, conv2d_forward_cuda);
PYDL_CUDA_KERNEL(conv2d_backward, conv2d_backward_cuda);

}  // namespace pydl::cuda

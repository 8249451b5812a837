// The rest of kernels/attention.h on the GPU: the explicit attention weights
// P = softmax(scale * Q K^T + mask) (N, H, Tq, Tk) with their backward, for
// return_attention_scores, and the MultiHeadAttention layer's mask plumbing (padding masks
// ANDed, attention_mask values to bytes, zero gradients of inputs without one). The fused
// kernels are in cuda/attention.cu.
// Scores: one block per (batch, head, query row); the row's max and sum are block reductions
// in a fixed tree (cuda/reduce.cuh). Backward: one block per query row computes dq and the
// row's delta = P . dP (kept in scratch), then one block per key computes dk summing the
// query rows in order: no atomics, bitwise reproducible.
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/device.h"
#include "kernels/attention.h"
#include "context.h"
#include "reduce.cuh"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr int kThreads = 128;

struct Rows {
  AttentionArgs a;
  AttentionMasks m;
  float scale;
};

__device__ inline bool allowed(const Rows& r, int64_t b, int64_t i, int64_t j) {
  const AttentionArgs& a = r.a;
  return (!r.m.query || r.m.query[b * a.tq + i]) && (!a.causal || j <= i) && (!r.m.key || r.m.key[b * a.tk + j]) &&
         (!r.m.attn || r.m.attn[(b * a.tq + i) * a.tk + j]);
}
__device__ inline float row_dot(const float* x, const float* y, int64_t n) {
  float s = 0.0f;
  for (int64_t d = 0; d < n; ++d) s += x[d] * y[d];
  return s;
}

// Block x: the flat (batch, head, query) row; p row-major (N, H, Tq, Tk).
__global__ void scores_forward_kernel(float* __restrict__ p, const float* __restrict__ q, const float* __restrict__ k,
                                      Rows r) {
  __shared__ float red[32];
  const AttentionArgs& a = r.a;
  const int64_t row = blockIdx.x, i = row % a.tq, pair = row / a.tq, b = pair / a.heads, h = pair % a.heads;
  const float* qi = q + ((b * a.tq + i) * a.heads + h) * a.dk;
  float* pr = p + row * a.tk;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) {  // each thread keeps its own columns
    const float s = allowed(r, b, i, j) ? row_dot(qi, k + ((b * a.tk + j) * a.heads + h) * a.dk, a.dk) * r.scale
                                        : -INFINITY;
    pr[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = block_max(mx, red, -INFINITY);
  if (mx == -INFINITY) {  // attends to no key: uniform
    for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) pr[j] = 1.0f / float(a.tk);
    return;
  }
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) sum += pr[j] = expf(pr[j] - mx);
  const float inv = 1.0f / block_sum(sum, red);
  for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) pr[j] *= inv;
}

// dq of one query row, and its delta (live[row] = 0 for a row attending to no key: P is
// constant there, so neither q nor k gets a gradient through it).
__global__ void scores_dq_kernel(float* __restrict__ dq, float* __restrict__ delta, float* __restrict__ live,
                                 const float* __restrict__ dp, const float* __restrict__ p, const float* __restrict__ k,
                                 Rows r) {
  __shared__ float red[32];
  const AttentionArgs& a = r.a;
  const int64_t row = blockIdx.x, i = row % a.tq, pair = row / a.tq, b = pair / a.heads, h = pair % a.heads;
  const float* pr = p + row * a.tk;
  const float* dpr = dp + row * a.tk;
  float any = 0.0f, part = 0.0f;
  for (int64_t j = threadIdx.x; j < a.tk; j += blockDim.x) {
    if (allowed(r, b, i, j)) any = 1.0f;
    part += pr[j] * dpr[j];
  }
  any = block_max(any, red, 0.0f);
  const float dl = block_sum(part, red);
  if (threadIdx.x == 0) {
    delta[row] = dl;
    live[row] = any;
  }
  float* dqi = dq + ((b * a.tq + i) * a.heads + h) * a.dk;
  for (int64_t c = threadIdx.x; c < a.dk; c += blockDim.x) {
    float acc = 0.0f;
    if (any != 0.0f)
      for (int64_t j = 0; j < a.tk; ++j)
        acc += pr[j] * (dpr[j] - dl) * r.scale * k[((b * a.tk + j) * a.heads + h) * a.dk + c];
    dqi[c] = acc;
  }
}

// dk of one key, summing the live query rows in order.
__global__ void scores_dk_kernel(float* __restrict__ dk, const float* __restrict__ delta,
                                 const float* __restrict__ live, const float* __restrict__ dp,
                                 const float* __restrict__ p, const float* __restrict__ q, Rows r) {
  const AttentionArgs& a = r.a;
  const int64_t col = blockIdx.x, j = col % a.tk, pair = col / a.tk, b = pair / a.heads, h = pair % a.heads;
  const int64_t base = pair * a.tq;  // the pair's first row of p, delta and live
  float* dkj = dk + ((b * a.tk + j) * a.heads + h) * a.dk;
  for (int64_t c = threadIdx.x; c < a.dk; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t i = 0; i < a.tq; ++i) {
      if (live[base + i] == 0.0f) continue;
      const int64_t at = (base + i) * a.tk + j;
      acc += p[at] * (dp[at] - delta[base + i]) * r.scale * q[((b * a.tq + i) * a.heads + h) * a.dk + c];
    }
    dkj[c] = acc;
  }
}

__global__ void key_mask_kernel(uint8_t* __restrict__ out, const uint8_t* __restrict__ x, const uint8_t* __restrict__ y,
                                int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x)
    out[e] = x[e] & y[e];
}
__global__ void mask_kernel(uint8_t* __restrict__ out, const float* __restrict__ m, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x)
    out[e] = m[e] > 0.5f;
}

Rows rows_of(const AttentionArgs& a, const AttentionMasks& m) {
  return {a, m, a.scale > 0.0 ? float(a.scale) : float(1.0 / std::sqrt(double(a.dk)))};
}
unsigned blocks_of(int64_t n, const char* what) {
  if (n > 0x7fffffff) throw std::invalid_argument(std::string(what) + ": too many rows");
  return unsigned(n);
}

void attention_scores_forward_cuda(float* p, const float* q, const float* k, const AttentionMasks& m,
                                   const AttentionArgs& a) {
  check_attention_args(a);
  scores_forward_kernel<<<blocks_of(a.n * a.heads * a.tq, "attention_scores_forward"), kThreads, 0, stream()>>>(
      p, q, k, rows_of(a, m));
  PYDL_CUDA_LAUNCHED("attention_scores_forward");
}

void attention_scores_backward_cuda(float* dq, float* dk, const float* dp, const float* p, const float* q,
                                    const float* k, const AttentionMasks& m, const AttentionArgs& a) {
  check_attention_args(a);
  const int64_t rows = a.n * a.heads * a.tq;
  float* delta = static_cast<float*>(scratch(sizeof(float) * size_t(2 * rows)));
  float* live = delta + rows;
  const Rows r = rows_of(a, m);
  scores_dq_kernel<<<blocks_of(rows, "attention_scores_backward"), kThreads, 0, stream()>>>(dq, delta, live, dp, p, k,
                                                                                            r);
  PYDL_CUDA_LAUNCHED("attention_scores_backward dq");
  scores_dk_kernel<<<blocks_of(a.n * a.heads * a.tk, "attention_scores_backward"), kThreads, 0, stream()>>>(
      dk, delta, live, dp, p, q, r);
  PYDL_CUDA_LAUNCHED("attention_scores_backward dk");
}

void attention_key_mask_forward_cuda(uint8_t* out, const uint8_t* a, const uint8_t* b, int64_t n) {
  if (n == 0) return;
  key_mask_kernel<<<blocks_for(n), 256, 0, stream()>>>(out, a, b, n);
  PYDL_CUDA_LAUNCHED("attention_key_mask_forward");
}

void attention_mask_forward_cuda(uint8_t* out, const float* m, int64_t n) {
  if (n == 0) return;
  mask_kernel<<<blocks_for(n), 256, 0, stream()>>>(out, m, n);
  PYDL_CUDA_LAUNCHED("attention_mask_forward");
}

void attention_zero_backward_cuda(float* dx, int64_t n) {
  if (n > 0) PYDL_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * size_t(n), stream()));  // 0.0f is all-zero bytes
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(attention_scores_forward, pydl::cuda::attention_scores_forward_cuda);
PYDL_CUDA_KERNEL(attention_scores_backward, pydl::cuda::attention_scores_backward_cuda);
PYDL_CUDA_KERNEL_PLAIN(attention_key_mask_forward, pydl::cuda::attention_key_mask_forward_cuda);
PYDL_CUDA_KERNEL(attention_mask_forward, pydl::cuda::attention_mask_forward_cuda);
PYDL_CUDA_KERNEL(attention_zero_backward, pydl::cuda::attention_zero_backward_cuda);

// Fused scaled dot-product attention on the GPU (kernels/attention.h), FlashAttention-style:
// one block per (batch, head, tile of B queries) meets tiles of B keys in shared memory with
// an online softmax; only the row-wise log-sum-exp is stored for backward, which recomputes
// the scores tile by tile. Backward needs no float atomics: one kernel computes dQ per query
// tile (looping over key tiles), another dK and dV per key tile (looping over query tiles),
// each output element summed by one thread in a fixed order, so results are bitwise
// reproducible run to run. Masks, the uniform rows of queries that may attend to no key, and
// dropout (the same counter-based keep bits, core/rng.h) follow the CPU kernel exactly; the
// exp is the CPU's fast_exp (core/fast_math.h). Tiles: B = 64 when shared memory allows,
// smaller for wide heads. The explicit-scores pair (attention_scores_*) is in
// cuda/attention_scores.cu.
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/device.h"
#include "core/fast_math.h"
#include "kernels/attention.h"
#include "context.h"
#include "reduce.cuh"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr int kThreads = 128;  // 4 warps per block
constexpr int kWarps = kThreads / 32;

// What every attention kernel reads besides its tensors.
struct Attn {
  AttentionArgs a;
  AttentionMasks m;
  float scale, inv_keep, threshold;
  bool dropout;
  int64_t tiles;  // query (forward, dQ) or key (dK/dV) tiles per (batch, head)
  CounterRng rng{0, 0};  // set by each kernel from a.s clock (attention_dropout_rng)
};

Attn attn_of(const AttentionArgs& a, const AttentionMasks& m, int64_t extent, int b) {
  Attn t;
  t.a = a;
  t.m = m;
  t.scale = a.scale > 0.0 ? float(a.scale) : float(1.0 / std::sqrt(double(a.dk)));
  t.inv_keep = float(1.0 / (1.0 - a.dropout));
  t.threshold = float(a.dropout);
  t.dropout = a.dropout > 0.0;
  t.tiles = (extent + b - 1) / b;
  return t;
}

__device__ inline int64_t qrow(const AttentionArgs& a, int64_t b, int64_t h, int64_t i) {
  return (b * a.tq + i) * a.heads + h;
}
__device__ inline int64_t krow(const AttentionArgs& a, int64_t b, int64_t h, int64_t j) {
  return (b * a.tk + j) * a.heads + h;
}
__device__ inline bool allowed(const Attn& t, int64_t b, int64_t i, int64_t j) {
  const AttentionArgs& a = t.a;
  return (!t.m.query || t.m.query[b * a.tq + i]) && (!a.causal || j <= i) && (!t.m.key || t.m.key[b * a.tk + j]) &&
         (!t.m.attn || t.m.attn[(b * a.tq + i) * a.tk + j]);
}
// The dropout factor of weight (i, j): 0 or 1 / (1 - rate), drawn as the CPU draws it.
__device__ inline float keep(const Attn& t, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (!t.dropout) return 1.0f;
  const AttentionArgs& a = t.a;
  const uint64_t flat = uint64_t(((b * a.heads + h) * a.tq + i) * a.tk + j);
  return t.rng.uniform(flat) >= t.threshold ? t.inv_keep : 0.0f;
}
__device__ inline float dot(const float* x, const float* y, int64_t n) {
  float s = 0.0f;
  for (int64_t d = 0; d < n; ++d) s += x[d] * y[d];
  return s;
}
// rows x cols of a strided global source (row r at src + r * ld) into shared dst (row stride
// sld); rows beyond `rows` are left as they are.
__device__ inline void load_tile(float* dst, int64_t sld, const float* src, int64_t ld, int64_t rows, int64_t cols) {
  for (int64_t e = threadIdx.x; e < rows * cols; e += blockDim.x) {
    const int64_t r = e / cols, c = e % cols;
    dst[r * sld + c] = src[r * ld + c];
  }
}

// Shared floats of each kernel for tile size b.
int64_t forward_floats(int64_t b, int64_t dk, int64_t dv) {
  return b * dk + b * (dk + 1) + b * dv + b * (b + 1) + b * dv + 3 * b;
}
int64_t dq_floats(int64_t b, int64_t dk, int64_t dv) {
  return b * dk + b * dv + b * (dk + 1) + b * (dv + 1) + b * (b + 1) + b * dk + 2 * b;
}
int64_t dkv_floats(int64_t b, int64_t dk, int64_t dv) {
  return b * (dk + 1) + b * (dv + 1) + b * dk + b * dv + b * (dk + 1) + b * (dv + 1) + 2 * b * (b + 1) + 3 * b;
}

__global__ void forward_kernel(float* __restrict__ o, float* __restrict__ lse, const float* __restrict__ q,
                               const float* __restrict__ k, const float* __restrict__ v, Attn t, int B) {
  extern __shared__ float smem[];
  t.rng = attention_dropout_rng(t.a);
  const AttentionArgs& a = t.a;
  const int64_t dk = a.dk, dv = a.dv, hd = a.heads;
  const int64_t pair = blockIdx.x / t.tiles, i0 = (blockIdx.x % t.tiles) * B, b = pair / hd, h = pair % hd;
  const int64_t nq = min(int64_t(B), a.tq - i0);
  float* qs = smem;                 // B x dk
  float* ks = qs + B * dk;          // B x (dk + 1): column reads across a warp hit distinct banks
  float* vs = ks + B * (dk + 1);    // B x dv
  float* s = vs + B * dv;           // B x (B + 1): scores, then weights
  float* acc = s + B * (B + 1);     // B x dv: the tile's output accumulators
  float* mrow = acc + B * dv;
  float* lrow = mrow + B;
  float* alpha = lrow + B;
  const float neg_inf = -INFINITY;
  load_tile(qs, dk, q + qrow(a, b, h, i0) * dk, hd * dk, nq, dk);
  for (int64_t e = threadIdx.x; e < B * dv; e += blockDim.x) acc[e] = 0.0f;
  for (int e = threadIdx.x; e < B; e += blockDim.x) {
    mrow[e] = neg_inf;
    lrow[e] = 0.0f;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int64_t j0 = 0; j0 < a.tk; j0 += B) {
    if (a.causal && j0 > i0 + nq - 1) break;  // every later key is in the future too
    const int64_t nj = min(int64_t(B), a.tk - j0);
    __syncthreads();  // the previous tile's readers are done
    load_tile(ks, dk + 1, k + krow(a, b, h, j0) * dk, hd * dk, nj, dk);
    load_tile(vs, dv, v + krow(a, b, h, j0) * dv, hd * dv, nj, dv);
    __syncthreads();
    for (int64_t e = threadIdx.x; e < int64_t(B) * B; e += blockDim.x) {
      const int64_t ii = e / B, jj = e % B;
      float sc = neg_inf;
      if (ii < nq && jj < nj && allowed(t, b, i0 + ii, j0 + jj)) sc = dot(qs + ii * dk, ks + jj * (dk + 1), dk) * t.scale;
      s[ii * (B + 1) + jj] = sc;
    }
    __syncthreads();
    for (int64_t ii = warp; ii < nq; ii += kWarps) {  // one warp per row: the online softmax
      float* si = s + ii * (B + 1);
      float rmax = neg_inf;
      for (int64_t jj = lane; jj < nj; jj += 32) rmax = fmaxf(rmax, si[jj]);
      rmax = __shfl_sync(0xffffffffu, warp_max(rmax), 0);
      if (rmax == neg_inf) {  // no key of this tile for this row
        for (int64_t jj = lane; jj < B; jj += 32) si[jj] = 0.0f;
        if (lane == 0) alpha[ii] = 1.0f;
        continue;
      }
      const float m_old = mrow[ii], m_new = fmaxf(m_old, rmax);
      float sum = 0.0f;
      for (int64_t jj = lane; jj < B; jj += 32) {
        float p = 0.0f;
        if (jj < nj && si[jj] != neg_inf) {
          p = fast_exp(si[jj] - m_new);
          sum += p;
          p *= keep(t, b, h, i0 + ii, j0 + jj);  // dropout after the sum, as the CPU
        }
        si[jj] = p;
      }
      sum = warp_sum(sum);
      __syncwarp();
      if (lane == 0) {
        const float al = (m_old != neg_inf && m_old != m_new) ? fast_exp(m_old - m_new) : 1.0f;
        alpha[ii] = al;
        lrow[ii] = lrow[ii] * al + sum;
        mrow[ii] = m_new;
      }
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < nq * dv; e += blockDim.x) {
      const int64_t ii = e / dv, c = e % dv;
      const float* pi = s + ii * (B + 1);
      float r = acc[ii * dv + c] * alpha[ii];
      for (int64_t jj = 0; jj < nj; ++jj) r += pi[jj] * vs[jj * dv + c];
      acc[ii * dv + c] = r;
    }
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < nq * dv; e += blockDim.x) {
    const int64_t ii = e / dv, c = e % dv, i = i0 + ii;
    float* oi = o + qrow(a, b, h, i) * dv;
    if (lrow[ii] > 0.0f) {
      oi[c] = acc[ii * dv + c] * (1.0f / lrow[ii]);
    } else {  // may attend to no key: every weight 1 / Tk, as Keras' masked softmax gives
      const float w = 1.0f / float(a.tk);
      float r = 0.0f;
      for (int64_t j = 0; j < a.tk; ++j) {
        const float wj = w * keep(t, b, h, i, j);
        if (wj != 0.0f) r += wj * v[krow(a, b, h, j) * dv + c];
      }
      oi[c] = r;
    }
  }
  for (int64_t ii = threadIdx.x; ii < nq; ii += blockDim.x)
    lse[(b * hd + h) * a.tq + i0 + ii] = lrow[ii] > 0.0f ? mrow[ii] + logf(lrow[ii]) : INFINITY;
}

// delta_i = dO_i . O_i for the tile's rows, one warp per row (a fixed shuffle tree).
__device__ inline void tile_delta(float* delta, const float* dout, const float* o, const Attn& t, int64_t b,
                                  int64_t h, int64_t i0, int64_t nq) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t dv = t.a.dv;
  for (int64_t ii = warp; ii < nq; ii += kWarps) {
    const float* g = dout + qrow(t.a, b, h, i0 + ii) * dv;
    const float* oi = o + qrow(t.a, b, h, i0 + ii) * dv;
    float sum = 0.0f;
    for (int64_t c = lane; c < dv; c += 32) sum += g[c] * oi[c];
    sum = warp_sum(sum);
    if (lane == 0) delta[ii] = sum;
  }
}

__global__ void dq_kernel(float* __restrict__ dq, const float* __restrict__ dout, const float* __restrict__ q,
                          const float* __restrict__ k, const float* __restrict__ v, const float* __restrict__ o,
                          const float* __restrict__ lse, Attn t, int B) {
  extern __shared__ float smem[];
  t.rng = attention_dropout_rng(t.a);
  const AttentionArgs& a = t.a;
  const int64_t dk = a.dk, dv = a.dv, hd = a.heads;
  const int64_t pair = blockIdx.x / t.tiles, i0 = (blockIdx.x % t.tiles) * B, b = pair / hd, h = pair % hd;
  const int64_t nq = min(int64_t(B), a.tq - i0);
  float* qs = smem;                  // B x dk
  float* dos = qs + B * dk;          // B x dv
  float* ks = dos + B * dv;          // B x (dk + 1)
  float* vs = ks + B * (dk + 1);     // B x (dv + 1)
  float* ds = vs + B * (dv + 1);     // B x (B + 1)
  float* acc = ds + B * (B + 1);     // B x dk
  float* li = acc + B * dk;
  float* delta = li + B;
  load_tile(qs, dk, q + qrow(a, b, h, i0) * dk, hd * dk, nq, dk);
  load_tile(dos, dv, dout + qrow(a, b, h, i0) * dv, hd * dv, nq, dv);
  for (int64_t e = threadIdx.x; e < B * dk; e += blockDim.x) acc[e] = 0.0f;
  for (int64_t ii = threadIdx.x; ii < nq; ii += blockDim.x) li[ii] = lse[(b * hd + h) * a.tq + i0 + ii];
  tile_delta(delta, dout, o, t, b, h, i0, nq);
  for (int64_t j0 = 0; j0 < a.tk; j0 += B) {
    if (a.causal && j0 > i0 + nq - 1) break;
    const int64_t nj = min(int64_t(B), a.tk - j0);
    __syncthreads();
    load_tile(ks, dk + 1, k + krow(a, b, h, j0) * dk, hd * dk, nj, dk);
    load_tile(vs, dv + 1, v + krow(a, b, h, j0) * dv, hd * dv, nj, dv);
    __syncthreads();
    for (int64_t e = threadIdx.x; e < int64_t(B) * B; e += blockDim.x) {
      const int64_t ii = e / B, jj = e % B;
      float d = 0.0f;
      if (ii < nq && jj < nj && li[ii] != INFINITY && allowed(t, b, i0 + ii, j0 + jj)) {
        const float p = fast_exp(dot(qs + ii * dk, ks + jj * (dk + 1), dk) * t.scale - li[ii]);
        const float dp = dot(dos + ii * dv, vs + jj * (dv + 1), dv);
        d = p * (dp * keep(t, b, h, i0 + ii, j0 + jj) - delta[ii]) * t.scale;
      }
      ds[ii * (B + 1) + jj] = d;
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < nq * dk; e += blockDim.x) {
      const int64_t ii = e / dk, c = e % dk;
      float r = acc[e];
      for (int64_t jj = 0; jj < nj; ++jj) r += ds[ii * (B + 1) + jj] * ks[jj * (dk + 1) + c];
      acc[e] = r;
    }
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < nq * dk; e += blockDim.x)
    dq[qrow(a, b, h, i0 + e / dk) * dk + e % dk] = acc[e];
}

__global__ void dkv_kernel(float* __restrict__ dk_out, float* __restrict__ dv_out, const float* __restrict__ dout,
                           const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                           const float* __restrict__ o, const float* __restrict__ lse, Attn t, int B) {
  extern __shared__ float smem[];
  t.rng = attention_dropout_rng(t.a);
  const AttentionArgs& a = t.a;
  const int64_t dk = a.dk, dv = a.dv, hd = a.heads;
  const int64_t pair = blockIdx.x / t.tiles, j0 = (blockIdx.x % t.tiles) * B, b = pair / hd, h = pair % hd;
  const int64_t nj = min(int64_t(B), a.tk - j0);
  float* ks = smem;                  // B x (dk + 1)
  float* vs = ks + B * (dk + 1);     // B x (dv + 1)
  float* dka = vs + B * (dv + 1);    // B x dk
  float* dva = dka + B * dk;         // B x dv
  float* qs = dva + B * dv;          // B x (dk + 1)
  float* dos = qs + B * (dk + 1);    // B x (dv + 1)
  float* pw = dos + B * (dv + 1);    // B x (B + 1): dropped weights
  float* ds = pw + B * (B + 1);      // B x (B + 1)
  float* li = ds + B * (B + 1);
  float* delta = li + B;
  float* flag = delta + B;           // [0]: the query tile holds a uniform row
  load_tile(ks, dk + 1, k + krow(a, b, h, j0) * dk, hd * dk, nj, dk);
  load_tile(vs, dv + 1, v + krow(a, b, h, j0) * dv, hd * dv, nj, dv);
  for (int64_t e = threadIdx.x; e < B * dk; e += blockDim.x) dka[e] = 0.0f;
  for (int64_t e = threadIdx.x; e < B * dv; e += blockDim.x) dva[e] = 0.0f;
  const float uniform_w = 1.0f / float(a.tk);
  for (int64_t i0 = 0; i0 < a.tq; i0 += B) {
    const int64_t nq = min(int64_t(B), a.tq - i0);
    __syncthreads();  // the previous query tile's readers are done
    if (threadIdx.x == 0) flag[0] = 0.0f;
    __syncthreads();
    for (int64_t ii = threadIdx.x; ii < nq; ii += blockDim.x) {
      li[ii] = lse[(b * hd + h) * a.tq + i0 + ii];
      if (li[ii] == INFINITY) flag[0] = 1.0f;  // every writer writes the same value
    }
    __syncthreads();
    // Uniform rows weigh every key, so a causally masked tile is skipped only without them.
    if (a.causal && j0 > i0 + nq - 1 && flag[0] == 0.0f) continue;
    load_tile(qs, dk + 1, q + qrow(a, b, h, i0) * dk, hd * dk, nq, dk);
    load_tile(dos, dv + 1, dout + qrow(a, b, h, i0) * dv, hd * dv, nq, dv);
    tile_delta(delta, dout, o, t, b, h, i0, nq);
    __syncthreads();
    for (int64_t e = threadIdx.x; e < int64_t(B) * B; e += blockDim.x) {
      const int64_t ii = e / B, jj = e % B, i = i0 + ii, j = j0 + jj;
      float p_w = 0.0f, d = 0.0f;
      if (ii < nq && jj < nj) {
        if (li[ii] == INFINITY) {  // uniform row: constant weights, only dV gets a gradient
          p_w = uniform_w * keep(t, b, h, i, j);
        } else if (allowed(t, b, i, j)) {
          const float p = fast_exp(dot(qs + ii * (dk + 1), ks + jj * (dk + 1), dk) * t.scale - li[ii]);
          const float dp = dot(dos + ii * (dv + 1), vs + jj * (dv + 1), dv);
          const float w = keep(t, b, h, i, j);
          p_w = p * w;
          d = p * (dp * w - delta[ii]) * t.scale;
        }
      }
      pw[ii * (B + 1) + jj] = p_w;
      ds[ii * (B + 1) + jj] = d;
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < nj * dv; e += blockDim.x) {
      const int64_t jj = e / dv, c = e % dv;
      float r = dva[e];
      for (int64_t ii = 0; ii < nq; ++ii) r += pw[ii * (B + 1) + jj] * dos[ii * (dv + 1) + c];
      dva[e] = r;
    }
    for (int64_t e = threadIdx.x; e < nj * dk; e += blockDim.x) {
      const int64_t jj = e / dk, c = e % dk;
      float r = dka[e];
      for (int64_t ii = 0; ii < nq; ++ii) r += ds[ii * (B + 1) + jj] * qs[ii * (dk + 1) + c];
      dka[e] = r;
    }
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < nj * dk; e += blockDim.x) dk_out[krow(a, b, h, j0 + e / dk) * dk + e % dk] = dka[e];
  for (int64_t e = threadIdx.x; e < nj * dv; e += blockDim.x) dv_out[krow(a, b, h, j0 + e / dv) * dv + e % dv] = dva[e];
}

// The largest dynamic shared memory a block may opt into on the current device.
size_t shared_limit() {
  int dev = 0, bytes = 0;
  PYDL_CUDA_CHECK(cudaGetDevice(&dev));
  PYDL_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return size_t(bytes);
}

// The largest tile (64, 32, 16 or 8) whose shared memory fits; the kernel is allowed that much.
template <typename Kernel>
int pick_tile(Kernel kernel, int64_t (*floats)(int64_t, int64_t, int64_t), const AttentionArgs& a, size_t* bytes,
              const char* what) {
  const size_t limit = shared_limit();
  for (int b : {64, 32, 16, 8}) {
    *bytes = sizeof(float) * size_t(floats(b, a.dk, a.dv));
    if (*bytes <= limit) {
      PYDL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(*bytes)));
      return b;
    }
  }
  throw std::invalid_argument(std::string(what) + ": heads of dk=" + std::to_string(a.dk) + " and dv=" +
                              std::to_string(a.dv) + " do not fit in this GPU's shared memory");
}

unsigned grid_of(const AttentionArgs& a, int64_t tiles, const char* what) {
  const int64_t blocks = a.n * a.heads * tiles;
  if (blocks > 0x7fffffff) throw std::invalid_argument(std::string(what) + ": too many (batch, head, tile) blocks");
  return unsigned(blocks);
}

void attention_forward_cuda(float* o, float* lse, const float* q, const float* k, const float* v,
                            const AttentionMasks& m, const AttentionArgs& a) {
  check_attention_args(a);
  size_t bytes = 0;
  const int b = pick_tile(forward_kernel, forward_floats, a, &bytes, "attention_forward");
  const Attn t = attn_of(a, m, a.tq, b);
  forward_kernel<<<grid_of(a, t.tiles, "attention_forward"), kThreads, bytes, stream()>>>(o, lse, q, k, v, t, b);
  PYDL_CUDA_LAUNCHED("attention_forward");
}

void attention_backward_cuda(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                             const float* v, const float* o, const float* lse, const AttentionMasks& m,
                             const AttentionArgs& a) {
  check_attention_args(a);
  size_t bytes = 0;
  const int bq = pick_tile(dq_kernel, dq_floats, a, &bytes, "attention_backward");
  const Attn tq = attn_of(a, m, a.tq, bq);
  dq_kernel<<<grid_of(a, tq.tiles, "attention_backward"), kThreads, bytes, stream()>>>(dq, dout, q, k, v, o, lse, tq,
                                                                                       bq);
  PYDL_CUDA_LAUNCHED("attention_backward dq");
  const int bk = pick_tile(dkv_kernel, dkv_floats, a, &bytes, "attention_backward");
  const Attn tk = attn_of(a, m, a.tk, bk);
  dkv_kernel<<<grid_of(a, tk.tiles, "attention_backward"), kThreads, bytes, stream()>>>(dk, dv, dout, q, k, v, o,
                                                                                        lse, tk, bk);
  PYDL_CUDA_LAUNCHED("attention_backward dk dv");
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(attention_forward, pydl::cuda::attention_forward_cuda);
PYDL_CUDA_KERNEL(attention_backward, pydl::cuda::attention_backward_cuda);

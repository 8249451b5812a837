// SimpleRNN / LSTM / GRU over whole sequences on the GPU (kernels/rnn.h): the same workspace
// layout (kernels/rnn_cell.h), the same gate formulas (rnn_cell.h, shared with the CPU), the
// input projection of every step as one cuBLAS GEMM, and per step one recurrent GEMM plus one
// fused cell kernel (one thread per (row, unit), all of that unit's gates).
// Biases: the input bias is broadcast into xw before its GEMM (beta = 1); GRU's recurrent bias
// is broadcast into hr, and each step's cell kernel writes it back into the hr slots it alone
// read, ready for the next step's GEMM, so no extra launch per step.
// Backward per step: the cell kernel reads d state = direct part + the previous step's GEMM
// (through the recurrent dropout scale), then one GEMM d(pre-activation) U^T. Weight gradients
// are whole-sequence GEMMs; the bias gradient a fixed-order column sum: no atomics anywhere,
// and cuBLAS runs with atomics disallowed, so results are bitwise reproducible run to run.
#include <climits>
#include <stdexcept>

#include "core/device.h"
#include "kernels/rnn.h"
#include "kernels/rnn_cell.h"
#include "context.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr unsigned kThreads = 256;

#define PYDL_GRID_STRIDE(e, total) \
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

// Row-major C (m x n) = op(A) op(B) (+ beta C) through column-major cuBLAS: C^T = op(B)^T op(A)^T.
// A is (m x k) row-major, or (k x m) when ta; B (k x n), or (n x k) when tb.
void gemm_rm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c, float beta) {
  if (m == 0 || n == 0) return;
  const float alpha = 1.0f;
  PYDL_CUDA_CHECK(cublasSgemm_64(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                                 &alpha, b, tb ? k : n, a, ta ? m : k, &beta, c, n));
}

// dst[(s, i, :)] = src[(i, s, :)] * scale[(i, :)] (scale null: 1): batch-major to time-major.
__global__ void to_time_major_kernel(float* __restrict__ dst, const float* __restrict__ src,
                                     const float* __restrict__ scale, int64_t n, int64_t t, int64_t d) {
  PYDL_GRID_STRIDE(e, n * t * d) {
    const int64_t c = e % d, r = e / d, s = r / n, i = r % n;
    const float v = src[(i * t + s) * d + c];
    dst[e] = scale ? v * scale[i * d + c] : v;
  }
}

// dst[(i, s, :)] = src[(s, i, :)] * scale[(i, :)]: time-major to batch-major.
__global__ void to_batch_major_kernel(float* __restrict__ dst, const float* __restrict__ src,
                                      const float* __restrict__ scale, int64_t n, int64_t t, int64_t d) {
  PYDL_GRID_STRIDE(e, n * t * d) {
    const int64_t c = e % d, r = e / d, s = r % t, i = r / t;
    const float v = src[(s * n + i) * d + c];
    dst[e] = scale ? v * scale[i * d + c] : v;
  }
}

// rows x cols of dst = bias (a row broadcast).
__global__ void broadcast_rows_kernel(float* __restrict__ dst, const float* __restrict__ bias, int64_t rows,
                                      int64_t cols) {
  PYDL_GRID_STRIDE(e, rows * cols) dst[e] = bias[e % cols];
}

// The state entering the first step (h0, c0 or zeros), and its dropped copy.
__global__ void init_state_kernel(float* __restrict__ hp, float* __restrict__ cp, float* __restrict__ hd,
                                  const float* __restrict__ h0, const float* __restrict__ c0,
                                  const float* __restrict__ rec_scale, int64_t nu) {
  PYDL_GRID_STRIDE(e, nu) {
    const float h = h0 ? h0[e] : 0.0f;
    hp[e] = h;
    cp[e] = c0 ? c0[e] : 0.0f;
    if (rec_scale) hd[e] = h * rec_scale[e];
  }
}

struct StepArgs {
  RnnArgs a;
  int64_t t, t_next;  // this step's time, the next step's (-1: none)
};

// One step's cells: thread (r, j) reads its own gates' slots of xw and hr and writes h, c
// (and the gates, GRU's hn) of (t, r, j), then the state entering the next step.
__global__ void cell_forward_kernel(RnnBuffers<float> b, StepArgs st, const uint8_t* __restrict__ mask,
                                    const float* __restrict__ rec_scale, const float* __restrict__ bias_h) {
  const RnnArgs& a = st.a;
  const int64_t n = a.n, u = a.u, gu = a.gu();
  PYDL_GRID_STRIDE(e, n * u) {
    const int64_t r = e / u, j = e % u, row = st.t * n + r;
    float* hr = b.hr + r * gu;
    float* h = b.h + row * u;
    float* c = b.c + row * u;
    const float* hp = b.hprev + row * u;
    const float* cp = b.cprev + row * u;
    if (mask && !mask[r * a.t + st.t]) {  // padded step: the state passes through
      h[j] = hp[j];
      c[j] = cp[j];
    } else if (a.cell == RnnCell::LSTM) {
      lstm_cell(b.gates + row * gu, h, c, b.xw + row * gu, hr, cp, u, j);
    } else if (a.cell == RnnCell::GRU) {
      gru_cell(b.gates + row * gu, h, b.hn + row * u, b.xw + row * gu, hr, hp, u, j);
      c[j] = 0.0f;
    } else {
      h[j] = simple_rnn_activate(b.xw[row * gu + j] + hr[j], a.act);
      c[j] = 0.0f;
    }
    if (bias_h)  // GRU: this thread alone read these slots; refill them for the next GEMM
      for (int64_t g = 0; g < 3; ++g) hr[g * u + j] = bias_h[g * u + j];
    if (st.t_next >= 0) {
      const int64_t next = (st.t_next * n + r) * u + j;
      b.hprev[next] = h[j];
      b.cprev[next] = c[j];
      if (rec_scale) b.hd[next] = h[j] * rec_scale[r * u + j];
    }
  }
}

// y from the states: every step (batch-major) or the last step's.
__global__ void output_kernel(float* __restrict__ y, const float* __restrict__ h, int64_t n, int64_t t, int64_t u,
                              int64_t last, bool sequences) {
  if (sequences) {
    PYDL_GRID_STRIDE(e, n * t * u) {
      const int64_t j = e % u, r = e / u, s = r % t, i = r / t;
      y[e] = h[(s * n + i) * u + j];
    }
  } else {
    PYDL_GRID_STRIDE(e, n * u) y[e] = h[last * n * u + e];
  }
}

// dh (time-major) from dy: every step's, or dy at the last step and 0 elsewhere.
__global__ void dh_kernel(float* __restrict__ dh, const float* __restrict__ dy, int64_t n, int64_t t, int64_t u,
                          int64_t last, bool sequences) {
  PYDL_GRID_STRIDE(e, n * t * u) {
    const int64_t j = e % u, r = e / u, s = r / n, i = r % n;
    dh[e] = sequences ? dy[(i * t + s) * u + j] : (s == last ? dy[i * u + j] : 0.0f);
  }
}

// One step's cell backward. dnext holds the direct part of d state after this step and
// b.hr (n x u) the recurrent GEMM's part, which enters through the recurrent dropout scale.
__global__ void cell_backward_kernel(RnnBuffers<float> b, StepArgs st, const uint8_t* __restrict__ mask,
                                     const float* __restrict__ rec_scale) {
  const RnnArgs& a = st.a;
  const int64_t n = a.n, u = a.u, gu = a.gu(), nu = n * u;
  const bool gru = a.cell == RnnCell::GRU;
  float* dhr_all = gru ? b.dhr : b.dxw;
  PYDL_GRID_STRIDE(e, nu) {
    const int64_t r = e / u, j = e % u, row = st.t * n + r;
    const float rec = b.hr[e];
    float* dn = b.dnext + r * u;
    dn[j] += rec_scale ? rec * rec_scale[e] : rec;
    float* dx = b.dxw + row * gu;
    const float* dy = b.dh + row * u;
    if (mask && !mask[r * a.t + st.t]) {  // the state passed through unchanged
      dn[j] += dy[j];
      for (int64_t g = 0; g < a.gates(); ++g) dx[g * u + j] = 0.0f;
      if (gru)
        for (int64_t g = 0; g < 3; ++g) dhr_all[row * gu + g * u + j] = 0.0f;
    } else if (a.cell == RnnCell::LSTM) {
      lstm_cell_back(dx, dn, b.dcnext + r * u, dy, b.gates + row * gu, b.c + row * u, b.cprev + row * u, u, j);
    } else if (gru) {
      gru_cell_back(dx, b.dhr + row * gu, dn, dy, b.gates + row * gu, b.hn + row * u, b.hprev + row * u, u, j);
    } else {
      dx[j] = simple_rnn_grad(dy[j] + dn[j], b.h[row * u + j], a.act);
      dn[j] = 0.0f;
    }
  }
}

// dh0 = d state before the first step (direct part + the last GEMM's), dc0 = dcnext.
__global__ void initial_grad_kernel(float* __restrict__ dh0, float* __restrict__ dc0, const float* __restrict__ dnext,
                                    const float* __restrict__ dcnext, const float* __restrict__ hr,
                                    const float* __restrict__ rec_scale, int64_t nu) {
  PYDL_GRID_STRIDE(e, nu) {
    if (dh0) dh0[e] = dnext[e] + (rec_scale ? hr[e] * rec_scale[e] : hr[e]);
    if (dc0) dc0[e] = dcnext[e];
  }
}

// out[col] += sum over rows of m[row, col], in a fixed order: 32 columns per block, 16 row
// phases each summing its rows in order, then the 16 partials summed in order.
constexpr int kSumCols = 32, kSumPhases = 16;
__global__ void column_sum_kernel(float* __restrict__ out, const float* __restrict__ m, int64_t rows, int64_t cols) {
  __shared__ float part[kSumPhases][kSumCols + 1];
  const int64_t col = int64_t(blockIdx.x) * kSumCols + threadIdx.x;
  float acc = 0.0f;
  if (col < cols)
    for (int64_t r = threadIdx.y; r < rows; r += kSumPhases) acc += m[r * cols + col];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    float s = 0.0f;
    for (int p = 0; p < kSumPhases; ++p) s += part[p][threadIdx.x];
    out[col] += s;
  }
}

__global__ void dropout_scales_kernel(float* __restrict__ scale, int64_t n, float keep_scale, float threshold,
                                      CounterRng rng, StepClock clock, uint64_t offset) {
  const uint64_t counter = (clock.now() << 32) + offset;
  PYDL_GRID_STRIDE(i, n) scale[i] = rng.uniform(counter + uint64_t(i)) >= threshold ? keep_scale : 0.0f;
}

void column_sum(float* out, const float* m, int64_t rows, int64_t cols) {
  const int64_t blocks = (cols + kSumCols - 1) / kSumCols;
  if (blocks > INT_MAX) throw std::runtime_error("rnn bias gradient: too many columns");
  column_sum_kernel<<<unsigned(blocks), dim3(kSumCols, kSumPhases), 0, stream()>>>(out, m, rows, cols);
  PYDL_CUDA_LAUNCHED("rnn column_sum");
}

void rnn_dropout_scales_cuda(float* scale, int64_t n, double rate, const CounterRng& rng, StepClock clock,
                             uint64_t offset) {
  if (n == 0) return;
  dropout_scales_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(scale, n, float(1.0 / (1.0 - rate)), float(rate),
                                                                   rng, clock, offset);
  PYDL_CUDA_LAUNCHED("rnn_dropout_scales");
}

void rnn_forward_cuda(float* y, const float* x, const RnnWeights<float>& w, const uint8_t* mask, const float* h0,
                      const float* c0, const RnnArgs& a, float* ws, const RnnDropout<float>& drop) {
  check_rnn_args(a);
  RnnBuffers<float> b(ws, a);
  const int64_t n = a.n, u = a.u, gu = a.gu(), tn = a.t * a.n;
  const bool gru = a.cell == RnnCell::GRU;
  cudaStream_t st = stream();
  // Dropped inputs are what the kernel sees, in forward and in its gradient (dk reads xt).
  to_time_major_kernel<<<blocks_for(tn * a.f), kThreads, 0, st>>>(b.xt, x, drop.input, n, a.t, a.f);
  PYDL_CUDA_LAUNCHED("rnn to_time_major");
  if (w.bias) {
    broadcast_rows_kernel<<<blocks_for(tn * gu), kThreads, 0, st>>>(b.xw, w.bias, tn, gu);
    PYDL_CUDA_LAUNCHED("rnn input bias");
  }
  gemm_rm(false, false, tn, gu, a.f, b.xt, w.kernel, b.xw, w.bias ? 1.0f : 0.0f);
  const float* bias_h = gru && w.bias ? w.bias + gu : nullptr;
  if (bias_h) {
    broadcast_rows_kernel<<<blocks_for(n * gu), kThreads, 0, st>>>(b.hr, bias_h, n, gu);
    PYDL_CUDA_LAUNCHED("rnn recurrent bias");
  }
  const int64_t t0 = rnn_step_time(a, 0);
  init_state_kernel<<<blocks_for(n * u), kThreads, 0, st>>>(b.hprev + t0 * n * u, b.cprev + t0 * n * u,
                                                            b.hd + t0 * n * u, h0, c0, drop.recurrent, n * u);
  PYDL_CUDA_LAUNCHED("rnn init_state");
  for (int64_t s = 0; s < a.t; ++s) {
    const StepArgs sa{a, rnn_step_time(a, s), s + 1 < a.t ? rnn_step_time(a, s + 1) : -1};
    const float* hin = (drop.recurrent ? b.hd : b.hprev) + sa.t * n * u;  // what the recurrent kernel reads
    gemm_rm(false, false, n, gu, u, hin, w.recurrent, b.hr, bias_h ? 1.0f : 0.0f);
    cell_forward_kernel<<<blocks_for(n * u), kThreads, 0, st>>>(b, sa, mask, drop.recurrent, bias_h);
    PYDL_CUDA_LAUNCHED("rnn cell_forward");
  }
  const int64_t out = a.return_sequences ? tn * u : n * u;
  output_kernel<<<blocks_for(out), kThreads, 0, st>>>(y, b.h, n, a.t, u, rnn_last_time(a), a.return_sequences);
  PYDL_CUDA_LAUNCHED("rnn output");
}

void rnn_backward_cuda(float* dx, float* dk, float* dr, float* db, float* dh0, float* dc0, const float* dy,
                       const float* x, const RnnWeights<float>& w, const uint8_t* mask, const float* h0,
                       const float* c0, const RnnArgs& a, float* ws, const RnnDropout<float>& drop) {
  (void)x; (void)h0; (void)c0;  // forward kept what backward needs in the workspace
  check_rnn_args(a);
  RnnBuffers<float> b(ws, a);
  const int64_t n = a.n, u = a.u, gu = a.gu(), tn = a.t * a.n;
  const bool gru = a.cell == RnnCell::GRU;
  cudaStream_t st = stream();
  dh_kernel<<<blocks_for(tn * u), kThreads, 0, st>>>(b.dh, dy, n, a.t, u, rnn_last_time(a), a.return_sequences);
  PYDL_CUDA_LAUNCHED("rnn dh");
  PYDL_CUDA_CHECK(cudaMemsetAsync(b.dnext, 0, sizeof(float) * n * u, st));
  PYDL_CUDA_CHECK(cudaMemsetAsync(b.dcnext, 0, sizeof(float) * n * u, st));
  PYDL_CUDA_CHECK(cudaMemsetAsync(b.hr, 0, sizeof(float) * n * u, st));  // no recurrent part after the last step
  float* dhr_all = gru ? b.dhr : b.dxw;  // SimpleRNN/LSTM: one pre-activation per gate
  for (int64_t s = a.t - 1; s >= 0; --s) {
    const StepArgs sa{a, rnn_step_time(a, s), -1};
    cell_backward_kernel<<<blocks_for(n * u), kThreads, 0, st>>>(b, sa, mask, drop.recurrent);
    PYDL_CUDA_LAUNCHED("rnn cell_backward");
    // d state before this step, recurrent part: d(recurrent pre-activation) @ recurrent^T
    // (hr is free scratch in backward); the first step's only feeds dh0.
    if (s > 0 || dh0) gemm_rm(false, true, n, u, gu, dhr_all + sa.t * n * gu, w.recurrent, b.hr, 0.0f);
  }
  if (dh0 || dc0) {
    initial_grad_kernel<<<blocks_for(n * u), kThreads, 0, st>>>(dh0, dc0, b.dnext, b.dcnext, b.hr, drop.recurrent,
                                                                n * u);
    PYDL_CUDA_LAUNCHED("rnn initial_grad");
  }
  // Whole-sequence weight gradients: one GEMM each, summed over the (t, n) rows.
  gemm_rm(true, false, a.f, gu, tn, b.xt, b.dxw, dk, 1.0f);
  gemm_rm(true, false, u, gu, tn, drop.recurrent ? b.hd : b.hprev, dhr_all, dr, 1.0f);
  if (db) {
    column_sum(db, b.dxw, tn, gu);
    if (gru) column_sum(db + gu, b.dhr, tn, gu);
  }
  if (dx) {
    gemm_rm(false, true, tn, a.f, gu, b.dxw, w.kernel, b.dxt, 0.0f);
    to_batch_major_kernel<<<blocks_for(tn * a.f), kThreads, 0, st>>>(dx, b.dxt, drop.input, n, a.t, a.f);
    PYDL_CUDA_LAUNCHED("rnn to_batch_major");
  }
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(rnn_dropout_scales, pydl::cuda::rnn_dropout_scales_cuda);
PYDL_CUDA_KERNEL(rnn_forward, pydl::cuda::rnn_forward_cuda);
PYDL_CUDA_KERNEL(rnn_backward, pydl::cuda::rnn_backward_cuda);

// CUDA versions of kernels/loss.h. A warp per row (rows grid-stride over the warps) computes
// the row's loss and weight into the workspace and its unnormalised gradient, with the
// formulas of kernels/loss_terms.h in double as the CPU rows; one block then sums the
// workspace in a fixed order (the denominator loss_weight_total returns bitwise the same), and
// a last pass scales the gradient by 1 / total weight read on the device.
//
// Synchronising entries: loss_forward_backward, loss_weight_total, custom_loss_weight_total
// and custom_loss_forward_backward return host scalars, so each ends with one copy of a small
// result block and a stream synchronisation (the custom loss also stages its inputs on the
// host: its function is host code). token_weights and loss_forward_backward_into (which leaves
// the loss in device memory) only queue kernels.
#include <cstring>
#include <vector>

#include "context.h"
#include "reduce.cuh"
#include "registry.h"
#include "core/errors.h"
#include "kernels/loss.h"
#include "kernels/loss_terms.h"
#include "kernels/step_results.h"

namespace pydl::cuda {
namespace {

using namespace loss_terms;

constexpr unsigned kThreads = 256, kWarps = kThreads / 32;

__device__ __forceinline__ double warp_all_sum(double v) { return __shfl_sync(0xffffffffu, warp_sum(v), 0); }
__device__ __forceinline__ double warp_all_max(double v) { return __shfl_sync(0xffffffffu, warp_max(v), 0); }

struct RowsArgs {
  float* g;  // null: no gradient
  double* ws;
  const float* z;
  const int32_t* labels;
  const float* t;
  int64_t rows, cols;
  LossArgs<float> a;
};

__device__ __forceinline__ double class_weight(const LossArgs<float>& a, int64_t c) {
  return a.class_weights ? double(a.class_weights[c]) : 1.0;
}

// Sparse cross-entropy from logits (loss.cc's cross_entropy_rows).
__device__ void cross_entropy_row(const RowsArgs& r, int64_t i, int lane) {
  const LossArgs<float>& a = r.a;
  const int64_t C = r.cols;
  const float* zi = r.z + i * C;
  const int32_t y = r.labels[i];
  const double eps = a.label_smoothing;
  double m = -INFINITY, wsum = 0;
  for (int64_t c = lane; c < C; c += 32) {
    m = max(m, double(zi[c]));
    wsum += class_weight(a, c);
  }
  m = warp_all_max(m);
  const double weight_sum = warp_all_sum(wsum);
  double s = 0;
  for (int64_t c = lane; c < C; c += 32) s += exp(double(zi[c]) - m);
  const double log_s = log(warp_all_sum(s)) + m;
  const double wy = class_weight(a, y);
  double smooth = 0;
  if (eps > 0) {
    for (int64_t c = lane; c < C; c += 32) smooth -= class_weight(a, c) * (double(zi[c]) - log_s);
    smooth = warp_all_sum(smooth);
  }
  const double sw = a.sample_weights ? double(a.sample_weights[i]) : 1.0;
  if (lane == 0) {
    const double nll = log_s - double(zi[y]);
    r.ws[2 * i] = sw * ((1 - eps) * wy * nll + eps / double(C) * smooth);
    r.ws[2 * i + 1] = sw * wy;
  }
  if (r.g)
    for (int64_t c = lane; c < C; c += 32) {
      const double p = exp(double(zi[c]) - log_s);
      r.g[i * C + c] = float(sw * cross_entropy_grad(p, class_weight(a, c), wy, c == y, eps, C, weight_sum));
    }
}

// The general softmax-family row (loss.cc's softmax_family_rows).
__device__ void softmax_family_row(const RowsArgs& r, int64_t i, int lane) {
  const LossArgs<float>& a = r.a;
  const int64_t C = r.cols;
  const float* zi = r.z + i * C;
  const bool sparse = a.kind == LossKind::CrossEntropy;
  const float* ti = sparse ? nullptr : r.t + i * C;
  const int32_t y = sparse ? r.labels[i] : 0;
  const double eps = a.label_smoothing;
  const double wy = sparse && a.class_weights ? double(a.class_weights[y]) : 1.0;
  auto beta = [&](int64_t c) {
    return softmax_beta(sparse, eps, C, sparse ? 0.0 : double(ti[c]),
                        sparse && a.class_weights ? double(a.class_weights[c]) : 1.0, wy, c == y);
  };
  const double sw = a.sample_weights ? double(a.sample_weights[i]) : 1.0;
  double loss = 0;
  float* gi = r.g ? r.g + i * C : nullptr;
  if (a.from_logits) {
    double m = -INFINITY;
    for (int64_t c = lane; c < C; c += 32) m = max(m, double(zi[c]));
    m = warp_all_max(m);
    double s = 0;
    for (int64_t c = lane; c < C; c += 32) s += exp(double(zi[c]) - m);
    const double log_s = log(warp_all_sum(s)) + m;
    double B = 0;
    for (int64_t c = lane; c < C; c += 32) {
      const double b = beta(c);
      loss += b * (log_s - double(zi[c]));
      B += b;
    }
    loss = warp_all_sum(loss);
    B = warp_all_sum(B);
    if (gi)
      for (int64_t c = lane; c < C; c += 32) gi[c] = float(sw * (B * exp(double(zi[c]) - log_s) - beta(c)));
  } else {
    double s = 0;
    for (int64_t c = lane; c < C; c += 32) s += double(zi[c]);
    s = warp_all_sum(s);
    double A = 0;  // sum_c a_c q_c
    for (int64_t c = lane; c < C; c += 32) {
      const double q = double(zi[c]) / s, p = clip_prob(q), b = beta(c);
      loss -= b * log(p);
      if (unclipped(q)) A += b / p * q;
    }
    loss = warp_all_sum(loss);
    A = warp_all_sum(A);
    if (gi)
      for (int64_t c = lane; c < C; c += 32) {
        const double q = double(zi[c]) / s, p = clip_prob(q);
        const double ac = unclipped(q) ? beta(c) / p : 0.0;
        gi[c] = float(sw * (A - ac) / s);
      }
  }
  if (lane == 0) {
    r.ws[2 * i] = sw * loss;
    r.ws[2 * i + 1] = sw * wy;
  }
}

// Binary cross-entropy, MSE, MAE (loss.cc's elementwise_rows).
__device__ void elementwise_row(const RowsArgs& r, int64_t i, int lane) {
  const LossArgs<float>& a = r.a;
  const int64_t C = r.cols;
  const double sw = a.sample_weights ? double(a.sample_weights[i]) : 1.0;
  const bool bce = a.kind == LossKind::BinaryCrossEntropy, has_pw = bce && a.pos_weight;
  double loss = 0, weight = 0;
  for (int64_t j = lane; j < C; j += 32) {
    const double x = r.z[i * C + j], y = r.t[i * C + j];
    double w = bce && a.class_weights ? double(a.class_weights[y > 0.5 ? 1 : 0]) : 1.0;
    const double pw = has_pw ? double(a.pos_weight[a.pos_weight_size == 1 ? 0 : j]) : 1.0;
    const Term term = elementwise_term(a.kind, x, y, a.from_logits, has_pw, pw);
    w *= sw;
    loss += w * term.l;
    weight += w;
    if (r.g) r.g[i * C + j] = float(w * term.d);
  }
  loss = warp_sum(loss);
  weight = warp_sum(weight);
  if (lane == 0) {
    r.ws[2 * i] = loss;
    r.ws[2 * i + 1] = weight;
  }
}

enum class Family { CrossEntropy, SoftmaxFamily, Elementwise };

template <Family F>
__global__ void loss_rows(RowsArgs r) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t i = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); i < r.rows; i += warps) {
    if constexpr (F == Family::CrossEntropy) cross_entropy_row(r, i, lane);
    else if constexpr (F == Family::SoftmaxFamily) softmax_family_row(r, i, lane);
    else elementwise_row(r, i, lane);
  }
}

struct LossTotals {
  double loss, weight;
};

// One block: the workspace's loss and weight sums, in a fixed order.
__global__ void sum_workspace(const double* ws, int64_t rows, LossTotals* out) {
  __shared__ double sh[32];
  double l = 0, w = 0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
    l += ws[2 * i];
    w += ws[2 * i + 1];
  }
  l = block_sum(l, sh);
  w = block_sum(w, sh);
  if (threadIdx.x == 0) *out = {l, w};
}

// The gradient divided by the total weight; zero when sample weights weighted every row out.
__global__ void normalise_grad(float* g, int64_t n, const LossTotals* totals, bool sample_weighted) {
  const double weight = totals->weight;
  const bool zero = weight == 0 && sample_weighted;
  if (!zero && !(weight > 0)) return;  // the host raises
  const float inv = zero ? 0.0f : float(1.0 / weight);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) g[i] = zero ? 0.0f : g[i] * inv;
}

LossTotals* totals_buffer() { return static_cast<LossTotals*>(scratch(sizeof(LossTotals))); }

template <typename V>
V read_back(const V* device) {
  V h{};
  PYDL_CUDA_CHECK(cudaMemcpyAsync(&h, device, sizeof(V), cudaMemcpyDeviceToHost, stream()));
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return h;
}

void queue_workspace_sum(const double* ws, int64_t rows, LossTotals* totals) {
  sum_workspace<<<1, 1024, 0, stream()>>>(ws, rows, totals);
  PYDL_CUDA_LAUNCHED("loss sum_workspace");
}

template <typename T>
std::vector<T> to_host(const T* device, int64_t n) {
  std::vector<T> h(size_t(n > 0 ? n : 0));
  if (device && n > 0)
    PYDL_CUDA_CHECK(cudaMemcpyAsync(h.data(), device, size_t(n) * sizeof(T), cudaMemcpyDeviceToHost, stream()));
  return h;
}

// Queues the rows' terms, their totals and the gradient's normalisation; returns the totals.
LossTotals* queue_loss(Matrix<float> dlogits, double* ws, Matrix<const float> logits, const int32_t* labels,
                       Matrix<const float> targets, const LossArgs<float>& args) {
  if (logits.rows == 0) throw ValueError("loss: empty batch");
  if (logits.cols < 1) throw ValueError("loss: logits have no columns");
  if (args.kind == LossKind::Custom) throw ValueError("loss: a custom loss runs through custom_loss_forward_backward");
  const RowsArgs r{dlogits.data, ws, logits.data, labels, targets.data, logits.rows, logits.cols, args};
  const unsigned blocks = blocks_for(logits.rows, kWarps);  // a warp per row
  if (args.kind == LossKind::CrossEntropy && args.from_logits)
    loss_rows<Family::CrossEntropy><<<blocks, kThreads, 0, stream()>>>(r);
  else if (is_softmax_loss(args.kind))
    loss_rows<Family::SoftmaxFamily><<<blocks, kThreads, 0, stream()>>>(r);
  else
    loss_rows<Family::Elementwise><<<blocks, kThreads, 0, stream()>>>(r);
  PYDL_CUDA_LAUNCHED("loss_forward_backward loss_rows");
  LossTotals* totals = totals_buffer();
  queue_workspace_sum(ws, logits.rows, totals);
  if (dlogits.data) {
    normalise_grad<<<blocks_for(dlogits.size()), kThreads, 0, stream()>>>(dlogits.data, dlogits.size(), totals,
                                                                           args.sample_weights != nullptr);
    PYDL_CUDA_LAUNCHED("loss_forward_backward normalise_grad");
  }
  return totals;
}

// The host's reading of the totals below, on the device: the loss into *loss, or training
// stopped (kZeroWeight) where the host would raise.
__global__ void loss_into_kernel(const LossTotals* totals, double* loss, double* block, bool sample_weighted) {
  namespace sr = pydl::step_results;
  const LossTotals t = *totals;
  if (t.weight == 0 && sample_weighted) {
    *loss = 0.0;
  } else if (!(t.weight > 0)) {
    *loss = 0.0;
    sr::stop(block, sr::kZeroWeight);
  } else {
    *loss = t.loss / t.weight;
  }
}

}  // namespace

double loss_forward_backward_cuda(Matrix<float> dlogits, double* ws, Matrix<const float> logits,
                                  const int32_t* labels, Matrix<const float> targets, const LossArgs<float>& args) {
  const LossTotals h = read_back(queue_loss(dlogits, ws, logits, labels, targets, args));
  if (h.weight == 0 && args.sample_weights) return 0.0;  // every sample of the batch weighted out
  if (!(h.weight > 0)) throw ValueError("loss: the weights of this batch sum to zero");
  return h.loss / h.weight;
}

void loss_forward_backward_into_cuda(double* loss, double* block, Matrix<float> dlogits, double* ws,
                                     Matrix<const float> logits, const int32_t* labels, Matrix<const float> targets,
                                     const LossArgs<float>& args) {
  const LossTotals* totals = queue_loss(dlogits, ws, logits, labels, targets, args);
  loss_into_kernel<<<1, 1, 0, stream()>>>(totals, loss, block, args.sample_weights != nullptr);
  PYDL_CUDA_LAUNCHED("loss_forward_backward_into");
}

double loss_weight_total_cuda(const double* ws, int64_t rows) {
  if (rows == 0) return 0.0;
  LossTotals* totals = totals_buffer();
  queue_workspace_sum(ws, rows, totals);  // the very sum loss_forward_backward divided by
  return read_back(totals).weight;
}

namespace {
__global__ void token_weights_kernel(float* out, const float* sample_weights, const uint8_t* mask, int64_t rows,
                                     int64_t steps) {
  const int64_t n = rows * steps, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float w = sample_weights ? sample_weights[i / steps] : 1.0f;
    out[i] = mask && !mask[i] ? 0.0f : w;
  }
}

__global__ void scale_kernel(float* v, int64_t n, float factor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) v[i] *= factor;
}
}  // namespace

void scale_values_cuda(float* v, int64_t n, float factor) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(v, n, factor);
  PYDL_CUDA_LAUNCHED("scale_values");
}

void token_weights_cuda(float* out, const float* sample_weights, const uint8_t* mask, int64_t rows, int64_t steps) {
  if (rows * steps > 0) {
    token_weights_kernel<<<blocks_for(rows * steps), kThreads, 0, stream()>>>(out, sample_weights, mask, rows, steps);
    PYDL_CUDA_LAUNCHED("token_weights");
  }
}

// The custom loss's function is host code: its inputs come to the host, its per-sample losses
// and gradient go back, and the reduction runs on the host as loss.cc's does (bitwise the CPU
// result for the same function values).
double custom_loss_forward_backward_cuda(const CustomLossOf<float>& fn, Matrix<float> grad, double* ws,
                                         Matrix<const float> y_pred, Matrix<const float> y_true,
                                         const float* sample_weights) {
  if (y_pred.rows == 0) throw ValueError("loss: empty batch");
  const std::vector<float> pred = to_host(y_pred.data, y_pred.size());
  const std::vector<float> truth = to_host(y_true.data, y_true.data ? y_true.size() : 0);
  const std::vector<float> sw = to_host(sample_weights, sample_weights ? y_pred.rows : 0);
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));
  std::vector<double> per_sample(size_t(y_pred.rows));
  std::vector<float> g(grad.data ? size_t(grad.size()) : 0);
  fn(Matrix<const float>(pred.data(), y_pred.rows, y_pred.cols),
     Matrix<const float>(y_true.data ? truth.data() : nullptr, y_true.rows, y_true.cols), per_sample.data(),
     Matrix<float>(grad.data ? g.data() : nullptr, grad.rows, grad.cols));
  double loss = 0, weight = 0;  // serial, in row order, as on the CPU
  for (int64_t i = 0; i < y_pred.rows; ++i) {
    const double w = sample_weights ? double(sw[i]) : 1.0;
    loss += w * per_sample[i];
    weight += w;
  }
  if (grad.data) {
    for (int64_t i = 0; i < grad.rows; ++i) {
      const float s = weight == 0 ? 0.0f : float((sample_weights ? double(sw[i]) : 1.0) / weight);
      for (int64_t c = 0; c < grad.cols; ++c) g[i * grad.cols + c] = weight == 0 ? 0.0f : g[i * grad.cols + c] * s;
    }
    PYDL_CUDA_CHECK(cudaMemcpyAsync(grad.data, g.data(), g.size() * sizeof(float), cudaMemcpyHostToDevice, stream()));
  }
  PYDL_CUDA_CHECK(cudaMemcpyAsync(ws, per_sample.data(), per_sample.size() * sizeof(double), cudaMemcpyHostToDevice,
                                  stream()));
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));  // the host vectors die here
  return weight == 0 ? 0.0 : loss / weight;
}

// The sum of the sample weights, serial on the host as custom_loss_forward_backward_cuda sums
// them (the two denominators agree bitwise).
double custom_loss_weight_total_cuda(const float* sample_weights, int64_t rows) {
  if (!sample_weights) return double(rows);
  const std::vector<float> sw = to_host(sample_weights, rows);
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));
  double weight = 0;
  for (int64_t i = 0; i < rows; ++i) weight += double(sw[i]);
  return weight;
}

}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(loss_forward_backward, pydl::cuda::loss_forward_backward_cuda);
PYDL_CUDA_KERNEL(loss_forward_backward_into, pydl::cuda::loss_forward_backward_into_cuda);
PYDL_CUDA_KERNEL_PLAIN(loss_weight_total, pydl::cuda::loss_weight_total_cuda);
PYDL_CUDA_KERNEL(token_weights, pydl::cuda::token_weights_cuda);
PYDL_CUDA_KERNEL(scale_values, pydl::cuda::scale_values_cuda);
PYDL_CUDA_KERNEL(custom_loss_forward_backward, pydl::cuda::custom_loss_forward_backward_cuda);
PYDL_CUDA_KERNEL(custom_loss_weight_total, pydl::cuda::custom_loss_weight_total_cuda);

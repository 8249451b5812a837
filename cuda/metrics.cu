// CUDA versions of kernels/metrics.h. Softmax kinds: a warp per row finds the predicted and
// the true class (argmax with the CPU's tie and NaN rules), then adds to accuracy, top-k and
// log-loss counters; binary and regression metrics take a thread per element. Counters and
// sums are per-block partials in double (counts stay exact below 2^53) summed by one block in
// a fixed order; the confusion matrix is integer counts (integer atomics: exact, so the result
// does not depend on their order).
//
// accuracy_count and accumulate_metrics return host values (AccuracyCount; MetricSums, a host
// struct holding a std::vector), so each ends with one copy of the batch's counters and a
// stream synchronisation. metrics_into adds the same counters to sums kept on the device (the
// flat form of kernels/metrics.h) and waits for nothing.
#include <algorithm>
#include <vector>


#include "context.h"
#include "reduce.cuh"
#include "registry.h"
#include "kernels/loss_terms.h"
#include "kernels/metrics.h"
#include "kernels/step_results.h"

namespace pydl::cuda {
namespace {

using namespace loss_terms;

constexpr unsigned kThreads = 256, kMaxBlocks = 1024;

// The batch's counters, summed over blocks.
enum Field { kCorrect, kTotal, kTopCorrect, kTopTotal, kNll, kNllCount, kSqErr, kAbsErr, kSumT, kSumT2, kFields };

struct What {
  bool accuracy, confusion, regression, log_loss, bce_metrics;
  int64_t top_k;
  bool from_logits;
  LossKind kind;
};

struct MetricArgs {
  const float* z;
  const int32_t* labels;
  const float* t;
  const uint8_t* row_mask;
  int64_t rows, cols;
  unsigned long long* confusion;  // classes x classes, or null
  What w;
};

// numpy's argmax as metrics.cc scans it: the first maximum; NaN entries are never chosen,
// except that a NaN first entry stays the answer (nothing compares greater than it).
__device__ int64_t warp_argmax(const float* v, int64_t n, int lane) {
  float best = 0;
  int64_t at = -1;
  for (int64_t c = lane; c < n; c += 32) {
    const float x = v[c];
    if (x == x && (at < 0 || x > best)) {
      best = x;
      at = c;
    }
  }
  for (int off = 16; off > 0; off >>= 1) {
    const float ob = __shfl_down_sync(0xffffffffu, best, off);
    const int64_t oa = __shfl_down_sync(0xffffffffu, at, off);
    if (oa >= 0 && (at < 0 || ob > best || (ob == best && oa < at))) {
      best = ob;
      at = oa;
    }
  }
  at = __shfl_sync(0xffffffffu, at, 0);
  const float first = v[0];
  return first != first || at < 0 ? 0 : at;
}

__device__ __forceinline__ double warp_all_sum(double v) { return __shfl_sync(0xffffffffu, warp_sum(v), 0); }

// Adds row i's counters to acc (lane 0's copy).
__device__ void softmax_row(const MetricArgs& a, int64_t i, int lane, double (&acc)[kFields]) {
  if (a.row_mask && !a.row_mask[i]) return;
  const int64_t C = a.cols;
  const float* zi = a.z + i * C;
  const bool sparse = a.w.kind == LossKind::CrossEntropy;
  const int64_t y = sparse ? int64_t(a.labels[i]) : warp_argmax(a.t + i * C, C, lane);
  const bool need_pred = a.w.accuracy || a.w.confusion;
  const int64_t pred = need_pred ? warp_argmax(zi, C, lane) : 0;
  if (lane == 0) {
    if (a.w.accuracy) {
      acc[kCorrect] += pred == y ? 1.0 : 0.0;
      acc[kTotal] += 1.0;
    }
    if (a.w.confusion) atomicAdd(&a.confusion[y * C + pred], 1ull);
  }
  if (a.w.top_k > 0) {
    double above = 0;
    for (int64_t c = lane; c < C; c += 32) above += zi[c] > zi[y] ? 1.0 : 0.0;
    above = warp_all_sum(above);
    if (lane == 0) {
      acc[kTopCorrect] += above < double(a.w.top_k) ? 1.0 : 0.0;
      acc[kTopTotal] += 1.0;
    }
  }
  if (a.w.log_loss) {
    // -sum_c t_c log p_c (t one-hot for labels), p as metrics.cc computes it
    double m = 0, sum = 0;
    if (a.w.from_logits) {
      m = -INFINITY;
      for (int64_t c = lane; c < C; c += 32) m = max(m, double(zi[c]));
      m = __shfl_sync(0xffffffffu, warp_max(m), 0);
      for (int64_t c = lane; c < C; c += 32) sum += exp(double(zi[c]) - m);
    } else {
      for (int64_t c = lane; c < C; c += 32) sum += double(zi[c]);
    }
    sum = warp_all_sum(sum);
    auto neg_log_p = [&](int64_t c) {
      return a.w.from_logits ? log(sum) + m - double(zi[c]) : -log(clip_prob(double(zi[c]) / sum));
    };
    double nll = 0;
    if (sparse) {
      nll = lane == 0 ? neg_log_p(y) : 0.0;
    } else {
      const float* ti = a.t + i * C;
      for (int64_t c = lane; c < C; c += 32)
        if (ti[c] != 0.0f) nll += double(ti[c]) * neg_log_p(c);
      nll = warp_sum(nll);
    }
    if (lane == 0) {
      acc[kNll] += nll;
      acc[kNllCount] += 1.0;
    }
  }
}

__device__ void block_partials(double (&acc)[kFields], double* partial) {
  __shared__ double sh[32];
  for (int f = 0; f < kFields; ++f) {
    const double v = block_sum(acc[f], sh);
    if (threadIdx.x == 0) partial[blockIdx.x * kFields + f] = v;
  }
}

__global__ void softmax_metrics(MetricArgs a, double* partial) {
  double acc[kFields] = {};
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t i = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); i < a.rows; i += warps)
    softmax_row(a, i, lane, acc);
  block_partials(acc, partial);
}

// Binary (accuracy, confusion, log loss over elements) and regression sums.
__global__ void elementwise_metrics(MetricArgs a, double* partial) {
  double acc[kFields] = {};
  const int64_t n = a.rows * a.cols, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double x = a.z[i], y = a.t[i];
    if (a.w.bce_metrics) {
      const bool pos = binary_positive(x, a.w.from_logits);
      if (a.w.accuracy) acc[kCorrect] += pos == (a.t[i] > 0.5f) ? 1.0 : 0.0;
      if (a.w.confusion) atomicAdd(&a.confusion[(y > 0.5 ? 2 : 0) + (pos ? 1 : 0)], 1ull);
      if (a.w.log_loss) {
        acc[kNll] += a.w.from_logits ? bce_from_logit(x, y) : bce_from_prob(x, y);
        acc[kNllCount] += 1.0;
      }
    }
    if (a.w.regression) {
      const double d = x - y;
      acc[kSqErr] += d * d;
      acc[kAbsErr] += fabs(d);
      acc[kSumT] += y;
      acc[kSumT2] += y * y;
    }
  }
  block_partials(acc, partial);
}

// out[f] = the sum over blocks of partial[b][f], in a fixed order; out has 2 kFields slots
// (the second kernel of a call adds its sums to the first's).
__global__ void sum_partials(const double* partial, int blocks, double* out) {
  __shared__ double sh[32];
  for (int f = 0; f < kFields; ++f) {
    double s = 0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) s += partial[b * kFields + f];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[f] += s;
  }
}

struct Counters {
  double v[kFields];
  std::vector<unsigned long long> confusion;
};

struct Queued {
  const double* out;  // kFields sums
  const unsigned long long* confusion;  // conf_cells counts, or null
};

// Queues the metric kernels of one batch; their counters land in scratch memory.
Queued queue_batch(const What& w, Matrix<const float> z, const int32_t* labels, Matrix<const float> t,
                   const uint8_t* row_mask, int64_t classes) {
  const size_t conf_cells = w.confusion ? size_t(classes * classes) : 0;
  const size_t out_bytes = 256, partial_bytes = size_t(kMaxBlocks) * kFields * sizeof(double);
  char* base = static_cast<char*>(scratch(out_bytes + partial_bytes + conf_cells * sizeof(unsigned long long)));
  double* out = reinterpret_cast<double*>(base);
  double* partial = reinterpret_cast<double*>(base + out_bytes);
  auto* conf = reinterpret_cast<unsigned long long*>(base + out_bytes + partial_bytes);
  PYDL_CUDA_CHECK(cudaMemsetAsync(out, 0, kFields * sizeof(double), stream()));
  if (conf_cells) PYDL_CUDA_CHECK(cudaMemsetAsync(conf, 0, conf_cells * sizeof(unsigned long long), stream()));
  const MetricArgs a{z.data, labels, t.data, row_mask, z.rows, z.cols, conf_cells ? conf : nullptr, w};
  if (is_softmax_loss(w.kind) && (w.accuracy || w.confusion || w.top_k > 0 || w.log_loss) && z.rows > 0) {
    const unsigned blocks = std::min(blocks_for(z.rows, kThreads / 32), kMaxBlocks);  // a warp per row
    softmax_metrics<<<blocks, kThreads, 0, stream()>>>(a, partial);
    PYDL_CUDA_LAUNCHED("metrics softmax_metrics");
    sum_partials<<<1, kThreads, 0, stream()>>>(partial, int(blocks), out);
    PYDL_CUDA_LAUNCHED("metrics sum_partials");
  }
  if ((w.bce_metrics || w.regression) && z.size() > 0) {
    What ew = w;
    ew.accuracy = w.accuracy && w.bce_metrics;
    MetricArgs e = a;
    e.w = ew;
    const unsigned blocks = std::min(blocks_for(z.size(), kThreads), kMaxBlocks);
    elementwise_metrics<<<blocks, kThreads, 0, stream()>>>(e, partial);
    PYDL_CUDA_LAUNCHED("metrics elementwise_metrics");
    sum_partials<<<1, kThreads, 0, stream()>>>(partial, int(blocks), out);
    PYDL_CUDA_LAUNCHED("metrics sum_partials");
  }
  return {out, conf_cells ? conf : nullptr};
}

// The counters spec asks of a batch under loss `kind` (and accuracy's when asked).
What what_for(const MetricSpec& spec, LossKind kind, bool from_logits, bool accuracy) {
  const bool ce = is_softmax_loss(kind), bce = kind == LossKind::BinaryCrossEntropy;
  What w{};
  w.accuracy = accuracy;
  w.confusion = spec.confusion && (ce || bce);
  w.top_k = ce ? spec.top_k : 0;
  w.regression = spec.regression;
  w.log_loss = spec.log_loss && (ce || bce);
  w.bce_metrics = bce;
  w.from_logits = from_logits;
  w.kind = kind;
  return w;
}

// Runs the metric kernels of one batch and reads their counters back (one synchronisation).
Counters count_batch(const What& w, Matrix<const float> z, const int32_t* labels, Matrix<const float> t,
                     const uint8_t* row_mask, int64_t classes) {
  const size_t conf_cells = w.confusion ? size_t(classes * classes) : 0;
  const Queued q = queue_batch(w, z, labels, t, row_mask, classes);
  Counters c;
  c.confusion.resize(conf_cells);
  PYDL_CUDA_CHECK(cudaMemcpyAsync(c.v, q.out, sizeof(c.v), cudaMemcpyDeviceToHost, stream()));
  if (conf_cells)
    PYDL_CUDA_CHECK(cudaMemcpyAsync(c.confusion.data(), q.confusion, conf_cells * sizeof(unsigned long long),
                                    cudaMemcpyDeviceToHost, stream()));
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return c;
}

// What metrics_into adds, in the order the host entries add it.
struct IntoArgs {
  bool accuracy, top_k, log_loss, regression;
  double accuracy_total;  // binary: every element (the counter counts rows otherwise)
  double elements;        // regression's count
  int64_t cells;
};

__global__ void add_into_kernel(double* sums, const double* block, const double* out,
                                const unsigned long long* conf, IntoArgs a) {
  namespace mf = pydl::metric_fields;
  if (!pydl::step_results::running(block)) return;
  if (a.accuracy) {
    sums[mf::kCorrect] += out[kCorrect];
    sums[mf::kTotal] += a.accuracy_total >= 0 ? a.accuracy_total : out[kTotal];
  }
  if (a.top_k) {
    sums[mf::kTopKCorrect] += out[kTopCorrect];
    sums[mf::kTopKTotal] += out[kTopTotal];
  }
  if (a.log_loss) {
    sums[mf::kNll] += out[kNll];
    sums[mf::kNllCount] += out[kNllCount];
  }
  if (a.regression) {
    sums[mf::kSqErr] += out[kSqErr];
    sums[mf::kAbsErr] += out[kAbsErr];
    sums[mf::kSumT] += out[kSumT];
    sums[mf::kSumT2] += out[kSumT2];
    sums[mf::kCount] += a.elements;
  }
}

// The confusion matrix's cells, a thread each (classes^2 of them).
__global__ void add_confusion_kernel(double* sums, const double* block, const unsigned long long* conf, int64_t cells) {
  if (!pydl::step_results::running(block)) return;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < cells; k += stride)
    sums[pydl::metric_fields::kConfusion + k] += double(conf[k]);
}

}  // namespace

AccuracyCount accuracy_count_cuda(Matrix<const float> z, const int32_t* labels, Matrix<const float> t,
                                  LossKind kind, bool from_logits, const uint8_t* row_mask) {
  AccuracyCount r;
  const bool bce = kind == LossKind::BinaryCrossEntropy;
  if (!is_softmax_loss(kind) && !bce) return r;  // regression kinds: no accuracy
  What w{};
  w.accuracy = true;
  w.bce_metrics = bce;
  w.from_logits = from_logits;
  w.kind = kind;
  const Counters c = count_batch(w, z, labels, t, row_mask, 0);
  r.correct = int64_t(c.v[kCorrect]);
  r.total = bce ? z.size() : int64_t(c.v[kTotal]);
  return r;
}

void accumulate_metrics_cuda(MetricSums& s, const MetricSpec& spec, Matrix<const float> z, const int32_t* labels,
                             Matrix<const float> t, LossKind kind, bool from_logits, const uint8_t* row_mask) {
  if (!spec.confusion && spec.top_k == 0 && !spec.regression && !spec.log_loss) return;
  const int64_t classes = is_softmax_loss(kind) ? z.cols : 2;
  const What w = what_for(spec, kind, from_logits, false);
  const Counters c = count_batch(w, z, labels, t, row_mask, classes);
  if (w.confusion) {
    if (s.confusion.empty()) s.confusion.assign(size_t(classes * classes), 0);
    for (size_t k = 0; k < c.confusion.size(); ++k) s.confusion[k] += int64_t(c.confusion[k]);
  }
  if (w.top_k > 0) {
    s.top_k_correct += int64_t(c.v[kTopCorrect]);
    s.top_k_total += int64_t(c.v[kTopTotal]);
  }
  if (w.log_loss) {
    s.nll += c.v[kNll];
    s.nll_count += int64_t(c.v[kNllCount]);
  }
  if (spec.regression) {
    s.sq_err += c.v[kSqErr];
    s.abs_err += c.v[kAbsErr];
    s.sum_t += c.v[kSumT];
    s.sum_t2 += c.v[kSumT2];
    s.count += z.size();
  }
}

void metrics_into_cuda(double* sums, const double* block, const MetricSpec& spec, Matrix<const float> z,
                       const int32_t* labels, Matrix<const float> t, LossKind kind, bool from_logits,
                       const uint8_t* row_mask) {
  const bool ce = is_softmax_loss(kind), bce = kind == LossKind::BinaryCrossEntropy;
  const What w = what_for(spec, kind, from_logits, /*accuracy=*/ce || bce);
  const int64_t cells = confusion_cells(spec, kind, z.cols);
  const Queued q = queue_batch(w, z, labels, t, row_mask, ce ? z.cols : 2);
  const IntoArgs a{w.accuracy, w.top_k > 0, w.log_loss, spec.regression, bce ? double(z.size()) : -1.0,
                   double(z.size()), w.confusion ? cells : 0};
  add_into_kernel<<<1, 1, 0, stream()>>>(sums, block, q.out, q.confusion, a);
  PYDL_CUDA_LAUNCHED("metrics_into add_into_kernel");
  if (a.cells > 0) {
    add_confusion_kernel<<<blocks_for(a.cells), kThreads, 0, stream()>>>(sums, block, q.confusion, a.cells);
    PYDL_CUDA_LAUNCHED("metrics_into add_confusion_kernel");
  }
}

}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(accuracy_count, pydl::cuda::accuracy_count_cuda);
PYDL_CUDA_KERNEL(accumulate_metrics, pydl::cuda::accumulate_metrics_cuda);
PYDL_CUDA_KERNEL(metrics_into, pydl::cuda::metrics_into_cuda);

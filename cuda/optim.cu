// CUDA versions of kernels/optim.h: the optimizer step as one fused grid-stride pass over the
// flat parameter, gradient and slot buffers, running the very rules the CPU runs
// (kernels/optim_rules.h), and the global gradient norm / clipping.
//
// optimizer_step keeps the CPU contract: a step whose update would make anything NaN or Inf
// changes nothing and returns false. The decision stays on the device: max |g| is reduced
// and the finiteness proof (optim_rules::provably_finite, against the host's bounds passed by
// value) runs in one thread; only when it fails does a dry run measure the update; the commit
// pass reads the resulting flag and does nothing when it is off. Every step therefore queues
// the same kernels whatever the data (graph-capturable), and the host learns the outcome
// through one copy of a small status block at the end: optimizer_step, measure_update_bounds,
// global_norm and clip_by_global_norm each synchronise stream() once, because their
// signatures return host values.
//
// Reductions: maxima are integer maxima of IEEE bit patterns (order-free); the norm's sum of
// squares is per-block partial sums in double, in a fixed order, summed by one block in a
// fixed order: bitwise the same run to run for a given n. No atomics.
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "context.h"
#include "reduce.cuh"
#include "registry.h"
#include "kernels/optim.h"
#include "kernels/optim_rules.h"
#include "kernels/step_results.h"

namespace pydl::cuda {
namespace {

using optim_rules::abs_bits;
using optim_rules::kNonfiniteBits;
using optim_rules::StepScalars;
using optim_rules::Updated;

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;  // partials a second pass sums in one block

unsigned reduce_blocks(int64_t n) { return std::min(blocks_for(n, kThreads), kMaxBlocks); }

// What the host reads back after a step (and the flags the kernels pass each other).
struct OptimStatus {
  unsigned g_bits;   // max |g| over the active parameters
  unsigned safe;     // proven finite from max |g| and the bounds: no dry run
  unsigned ok;       // the update is finite: the commit pass runs
  unsigned bits[4];  // max new |p|, |slot 0..2| (measure_update_bounds: max |x| per array)
  unsigned stopped;  // optimizer_step_into: the step-results block says training stopped
  double norm;       // global_norm
  StepScalars<float> scalars;  // optimizer_step_into: the queued step's, from the block's clock
};
static_assert(sizeof(OptimStatus) <= 256, "OptimStatus: kStatusBytes of scratch");

// The parts of [0, n) a step updates: lohi null means all of it, else `count` [lo, hi) pairs.
struct Ranges {
  const int64_t* lohi;
  int count;
  int64_t n;
};

template <typename F>
__device__ __forceinline__ void for_each_active(const Ranges& r, F&& f) {
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  if (!r.lohi) {
    for (int64_t i = first; i < r.n; i += stride) f(i);
    return;
  }
  for (int k = 0; k < r.count; ++k)
    for (int64_t i = r.lohi[2 * k] + first; i < r.lohi[2 * k + 1]; i += stride) f(i);
}

// partial[blockIdx.x] = max |x| bits over the block's active elements.
__global__ void max_abs_partials(const float* x, Ranges r, unsigned* partial) {
  __shared__ unsigned sh[32];
  unsigned m = 0;
  for_each_active(r, [&](int64_t i) { m = max(m, abs_bits(x[i])); });
  m = block_max(m, sh, 0u);
  if (threadIdx.x == 0) partial[blockIdx.x] = m;
}

// out[k] = max over blocks of partial[b * width + k], k < width; runs only if *gate == want
// (gate null: always).
__global__ void reduce_max(const unsigned* partial, int blocks, int width, unsigned* out, const unsigned* gate,
                           unsigned want) {
  __shared__ unsigned sh[32];
  if (gate && *gate != want) return;
  for (int k = 0; k < width; ++k) {
    unsigned m = 0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) m = max(m, partial[b * width + k]);
    m = block_max(m, sh, 0u);
    if (threadIdx.x == 0) out[k] = m;
  }
}

struct HostBounds {
  double params, slots[kMaxSlots];
  bool known;
};

__global__ void decide_safe(OptimStatus* st, OptimizerConfig c, int64_t step, HostBounds b) {
  const unsigned gb = st->g_bits;
  const double g_max = gb >= kNonfiniteBits<float> ? INFINITY : double(__uint_as_float(gb));
  st->safe = b.known && optim_rules::provably_finite<float>(c, step, g_max, b.params, b.slots) ? 1u : 0u;
}

// The update goes ahead when proven safe, or when the dry run's new values are all finite.
__device__ bool update_finite(const OptimStatus* st) {
  if (st->safe) return true;
  for (int k = 0; k < 4; ++k)
    if (st->bits[k] >= kNonfiniteBits<float>) return false;
  return true;
}

__global__ void decide_ok(OptimStatus* st) { st->ok = update_finite(st) ? 1u : 0u; }

// optimizer_step_into's decision: the step's scalars from the block's clock, and the proof
// against the bounds kept in the step-results block; a stopped block skips both passes (safe:
// no dry run; ok stays 0).
__global__ void decide_safe_from_block(OptimStatus* st, OptimizerConfig c, const double* block) {
  namespace sr = pydl::step_results;
  if (!sr::running(block)) {
    st->stopped = 1;
    st->safe = 1;
    return;
  }
  const int64_t step = sr::queued_step(block);
  c.learning_rate = sr::queued_learning_rate(block);
  st->scalars = optim_rules::step_scalars<float>(c, step);
  const unsigned gb = st->g_bits;
  const double g_max = gb >= kNonfiniteBits<float> ? INFINITY : double(__uint_as_float(gb));
  const double slots[kMaxSlots] = {block[sr::kBounds + 1], block[sr::kBounds + 2], block[sr::kBounds + 3]};
  st->safe = block[sr::kBoundsKnown] != 0 &&
                     optim_rules::provably_finite<float>(c, step, g_max, block[sr::kBounds], slots)
                 ? 1u
                 : 0u;
}

__device__ double bits_bound(unsigned b) { return b >= kNonfiniteBits<float> ? INFINITY : double(__uint_as_float(b)); }

// After the dry run: the verdict; a refused update stops training at the queued batch.
__global__ void decide_ok_into_block(OptimStatus* st, double* block) {
  namespace sr = pydl::step_results;
  if (st->stopped) {
    st->ok = 0;
    return;
  }
  const bool ok = update_finite(st);
  st->ok = ok ? 1u : 0u;
  if (!ok) sr::stop(block, sr::kUpdateNonfinite);
}

// After the commit: the new bounds, for the next step's proof.
__global__ void store_bounds(const OptimStatus* st, double* block) {
  namespace sr = pydl::step_results;
  if (!st->ok) return;
  block[sr::kBoundsKnown] = 1.0;
  for (int k = 0; k < 4; ++k) block[sr::kBounds + k] = bits_bound(st->bits[k]);
}

enum class Rule { SGD, SGDMomentum, Adam, RMSprop, RMSpropMomentum, RMSpropCentered, RMSpropMomentumCentered, Adagrad };

struct StepArgs {
  float* p;
  const float* g;
  float* slot[kMaxSlots];
  Ranges r;
  StepScalars<float> s;
  bool queued;  // the scalars are the status block's (a queued step's clock), not s
};

// One parameter's new value and its slots in optimizer_slots' order; returns the slot count.
template <Rule R>
__device__ __forceinline__ int rule_at(const StepArgs& a, int64_t i, float& p, float (&slot)[kMaxSlots]) {
  using namespace optim_rules;
  const float p0 = a.p[i], g = a.g[i];
  Updated<float> u{};
  int k = 0;
  if constexpr (R == Rule::SGD) {
    u = sgd_rule(p0, g, a.s);
  } else if constexpr (R == Rule::SGDMomentum) {
    u = sgd_momentum_rule(p0, g, a.slot[0][i], a.s);
    slot[k++] = u.s0;
  } else if constexpr (R == Rule::Adam) {
    u = adam_rule(p0, g, a.slot[0][i], a.slot[1][i], a.s);
    slot[k++] = u.s0;
    slot[k++] = u.s1;
  } else if constexpr (R == Rule::Adagrad) {
    u = adagrad_rule(p0, g, a.slot[0][i], a.s);
    slot[k++] = u.s0;
  } else {
    constexpr bool mom = R == Rule::RMSpropMomentum || R == Rule::RMSpropMomentumCentered;
    constexpr bool cen = R == Rule::RMSpropCentered || R == Rule::RMSpropMomentumCentered;
    u = rmsprop_rule<mom, cen>(p0, g, a.slot[0][i], mom ? a.slot[1][i] : 0.0f, cen ? a.slot[mom ? 2 : 1][i] : 0.0f,
                               a.s);
    slot[k++] = u.s0;
    if (mom) slot[k++] = u.s1;
    if (cen) slot[k++] = u.s2;
  }
  p = u.p;
  return k;
}

// The fused pass. kCommit: runs only if st->ok, writes p and the slots. Dry run: runs only if
// the step is not proven safe, writes nothing. Either way partial[4 b + k] gets the block's
// largest new |p| (k = 0) and |slot k - 1|.
template <Rule R, bool kCommit>
__global__ void update_pass(StepArgs a, const OptimStatus* st, unsigned* partial) {
  __shared__ unsigned sh[32];
  if (kCommit ? st->ok == 0 : st->safe != 0) return;  // the same word for the whole grid
  if (a.queued) a.s = st->scalars;
  unsigned m[4] = {0, 0, 0, 0};
  for_each_active(a.r, [&](int64_t i) {
    float p, slot[kMaxSlots];
    const int slots = rule_at<R>(a, i, p, slot);
    if constexpr (kCommit) a.p[i] = p;
    m[0] = max(m[0], abs_bits(p));
    for (int k = 0; k < slots; ++k) {
      if constexpr (kCommit) a.slot[k][i] = slot[k];
      m[k + 1] = max(m[k + 1], abs_bits(slot[k]));
    }
  });
  for (int k = 0; k < 4; ++k) {
    const unsigned v = block_max(m[k], sh, 0u);
    if (threadIdx.x == 0) partial[4 * blockIdx.x + k] = v;
  }
}

Rule rule_of(const OptimizerConfig& c) {
  const bool mom = c.momentum > 0;
  switch (c.kind) {
    case OptimizerKind::SGD: return mom ? Rule::SGDMomentum : Rule::SGD;
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW: return Rule::Adam;
    case OptimizerKind::Adagrad: return Rule::Adagrad;
    case OptimizerKind::RMSprop: break;
  }
  if (mom) return c.centered ? Rule::RMSpropMomentumCentered : Rule::RMSpropMomentum;
  return c.centered ? Rule::RMSpropCentered : Rule::RMSprop;
}

template <Rule R>
void launch_update(bool commit, unsigned blocks, const StepArgs& a, const OptimStatus* st, unsigned* partial) {
  if (commit)
    update_pass<R, true><<<blocks, kThreads, 0, stream()>>>(a, st, partial);
  else
    update_pass<R, false><<<blocks, kThreads, 0, stream()>>>(a, st, partial);
  PYDL_CUDA_LAUNCHED("optimizer_step update_pass");
}

void launch_update(Rule r, bool commit, unsigned blocks, const StepArgs& a, const OptimStatus* st,
                   unsigned* partial) {
  switch (r) {
    case Rule::SGD: return launch_update<Rule::SGD>(commit, blocks, a, st, partial);
    case Rule::SGDMomentum: return launch_update<Rule::SGDMomentum>(commit, blocks, a, st, partial);
    case Rule::Adam: return launch_update<Rule::Adam>(commit, blocks, a, st, partial);
    case Rule::RMSprop: return launch_update<Rule::RMSprop>(commit, blocks, a, st, partial);
    case Rule::RMSpropMomentum: return launch_update<Rule::RMSpropMomentum>(commit, blocks, a, st, partial);
    case Rule::RMSpropCentered: return launch_update<Rule::RMSpropCentered>(commit, blocks, a, st, partial);
    case Rule::RMSpropMomentumCentered:
      return launch_update<Rule::RMSpropMomentumCentered>(commit, blocks, a, st, partial);
    case Rule::Adagrad: return launch_update<Rule::Adagrad>(commit, blocks, a, st, partial);
  }
}

// The dry run (a no-op when proven safe), the verdict (`decide`: queues one thread that sets
// st->ok), the commit (a no-op when refused), and with `measure` the new bounds into st->bits.
template <typename Decide>
void queue_update(Rule rule, unsigned blocks, const StepArgs& a, OptimStatus* st, unsigned* partial, bool measure,
                  Decide&& decide) {
  launch_update(rule, false, blocks, a, st, partial);
  reduce_max<<<1, kThreads, 0, stream()>>>(partial, int(blocks), 4, st->bits, &st->safe, 0u);
  PYDL_CUDA_LAUNCHED("optimizer_step reduce_max (dry run)");
  decide();
  launch_update(rule, true, blocks, a, st, partial);
  if (!measure) return;
  reduce_max<<<1, kThreads, 0, stream()>>>(partial, int(blocks), 4, st->bits, &st->ok, 1u);
  PYDL_CUDA_LAUNCHED("optimizer_step reduce_max (new bounds)");
}

// Device scratch for one call: the status block, the blocks' partials.
struct Workspace {
  OptimStatus* status;
  unsigned* partial;  // 4 per block
  double* partial_sum;  // 1 per block
};
constexpr size_t kStatusBytes = 256, kPartialBytes = size_t(kMaxBlocks) * 4 * sizeof(unsigned);
constexpr size_t kSumBytes = size_t(kMaxBlocks) * sizeof(double);

Workspace workspace() {
  char* base = static_cast<char*>(scratch(kStatusBytes + kPartialBytes + kSumBytes));
  return {reinterpret_cast<OptimStatus*>(base), reinterpret_cast<unsigned*>(base + kStatusBytes),
          reinterpret_cast<double*>(base + kStatusBytes + kPartialBytes)};
}

// The complement of `frozen` in [0, n) as [lo, hi) pairs in device memory; null lohi when
// nothing is frozen. Each distinct list is copied to the device once and kept for the process
// (a few bytes per frozen configuration): a step then queues no copy from pageable memory, and
// a CUDA graph captured over it keeps a valid pointer.
Ranges active_ranges(int64_t n, const std::vector<ParamRange>* frozen) {
  if (!frozen || frozen->empty()) return {nullptr, 0, n};
  std::vector<int64_t> host;
  int64_t at = 0;
  for (const ParamRange& f : *frozen) {
    if (f.offset > at) host.insert(host.end(), {at, f.offset});
    at = std::max(at, f.offset + f.size);
  }
  if (at < n) host.insert(host.end(), {at, n});
  static const int64_t kNothing[2] = {0, 0};  // everything frozen: count 0 (never read)
  if (host.empty()) return {kNothing, 0, n};
  int device = 0;
  PYDL_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mu;
  static std::map<std::pair<int, std::vector<int64_t>>, int64_t*> interned;
  std::lock_guard<std::mutex> lock(mu);
  int64_t*& d = interned[{device, host}];
  if (!d) {
    const size_t bytes = host.size() * sizeof(int64_t);
    PYDL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d), bytes));
    PYDL_CUDA_CHECK(cudaMemcpy(d, host.data(), bytes, cudaMemcpyHostToDevice));
  }
  return {d, int(host.size() / 2), n};
}

OptimStatus read_status(const OptimStatus* st) {
  OptimStatus h{};
  PYDL_CUDA_CHECK(cudaMemcpyAsync(&h, st, sizeof(h), cudaMemcpyDeviceToHost, stream()));
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return h;
}

double bits_value(unsigned b) {  // +Inf for NaN: a bound, not a value
  if (b >= kNonfiniteBits<float>) return std::numeric_limits<double>::infinity();
  float v;
  std::memcpy(&v, &b, sizeof(v));
  return double(v);
}

}  // namespace

UpdateBounds measure_update_bounds_cuda(const float* params, const SlotPtrs<float>& slots, int64_t n,
                                        const std::vector<ParamRange>* frozen) {
  UpdateBounds b;
  b.known = true;
  if (n == 0) return b;
  Workspace ws = workspace();
  const Ranges r = active_ranges(n, frozen);
  const unsigned blocks = reduce_blocks(n);
  const float* arrays[1 + kMaxSlots] = {params, slots[0], slots[1], slots[2]};
  PYDL_CUDA_CHECK(cudaMemsetAsync(ws.status, 0, sizeof(OptimStatus), stream()));
  for (int k = 0; k < 1 + kMaxSlots; ++k) {
    if (!arrays[k]) continue;  // an absent slot bounds at 0
    max_abs_partials<<<blocks, kThreads, 0, stream()>>>(arrays[k], r, ws.partial);
    PYDL_CUDA_LAUNCHED("measure_update_bounds max_abs_partials");
    reduce_max<<<1, kThreads, 0, stream()>>>(ws.partial, int(blocks), 1, &ws.status->bits[k], nullptr, 0);
    PYDL_CUDA_LAUNCHED("measure_update_bounds reduce_max");
  }
  const OptimStatus h = read_status(ws.status);
  b.params = bits_value(h.bits[0]);
  for (int k = 0; k < kMaxSlots; ++k) b.slots[k] = bits_value(h.bits[k + 1]);
  return b;
}

bool optimizer_step_cuda(float* p, const float* g, const SlotPtrs<float>& sl, int64_t n, const OptimizerConfig& c,
                         int64_t step, UpdateBounds* bounds, const std::vector<ParamRange>* frozen) {
  if (n == 0) {
    if (bounds) *bounds = UpdateBounds{0, {}, true};
    return true;
  }
  Workspace ws = workspace();
  const Ranges r = active_ranges(n, frozen);
  const unsigned blocks = reduce_blocks(n);
  OptimStatus* st = ws.status;
  PYDL_CUDA_CHECK(cudaMemsetAsync(st, 0, sizeof(OptimStatus), stream()));
  // 1. The proof: max |g| against the bounds (known ones only; else the dry run decides).
  HostBounds hb{};
  if (bounds && bounds->known) {
    hb.known = true;
    hb.params = bounds->params;
    for (int k = 0; k < kMaxSlots; ++k) hb.slots[k] = bounds->slots[k];
    max_abs_partials<<<blocks, kThreads, 0, stream()>>>(g, r, ws.partial);
    PYDL_CUDA_LAUNCHED("optimizer_step max_abs_partials");
    reduce_max<<<1, kThreads, 0, stream()>>>(ws.partial, int(blocks), 1, &st->g_bits, nullptr, 0);
    PYDL_CUDA_LAUNCHED("optimizer_step reduce_max");
    decide_safe<<<1, 1, 0, stream()>>>(st, c, step, hb);
    PYDL_CUDA_LAUNCHED("optimizer_step decide_safe");
  }
  // 2. The dry run, the verdict, the commit.
  const StepArgs a{p, g, {sl[0], sl[1], sl[2]}, r, optim_rules::step_scalars<float>(c, step), false};
  queue_update(rule_of(c), blocks, a, st, ws.partial, bounds != nullptr, [&] {
    decide_ok<<<1, 1, 0, stream()>>>(st);
    PYDL_CUDA_LAUNCHED("optimizer_step decide_ok");
  });
  const OptimStatus h = read_status(st);
  if (!h.ok) return false;
  if (bounds) {
    bounds->params = bits_value(h.bits[0]);
    for (int k = 0; k < kMaxSlots; ++k) bounds->slots[k] = bits_value(h.bits[k + 1]);
    bounds->known = true;
  }
  return true;
}

void optimizer_step_into_cuda(double* block, float* p, const float* g, const SlotPtrs<float>& sl, int64_t n,
                              const OptimizerConfig& c, const std::vector<ParamRange>* frozen) {
  if (n == 0) return;
  Workspace ws = workspace();
  const Ranges r = active_ranges(n, frozen);
  const unsigned blocks = reduce_blocks(n);
  OptimStatus* st = ws.status;
  PYDL_CUDA_CHECK(cudaMemsetAsync(st, 0, sizeof(OptimStatus), stream()));
  // The same kernels every step, whatever the block holds: the decisions are read on the device.
  max_abs_partials<<<blocks, kThreads, 0, stream()>>>(g, r, ws.partial);
  PYDL_CUDA_LAUNCHED("optimizer_step_into max_abs_partials");
  reduce_max<<<1, kThreads, 0, stream()>>>(ws.partial, int(blocks), 1, &st->g_bits, nullptr, 0);
  PYDL_CUDA_LAUNCHED("optimizer_step_into reduce_max");
  decide_safe_from_block<<<1, 1, 0, stream()>>>(st, c, block);
  PYDL_CUDA_LAUNCHED("optimizer_step_into decide_safe_from_block");
  const StepArgs a{p, g, {sl[0], sl[1], sl[2]}, r, StepScalars<float>{}, true};
  queue_update(rule_of(c), blocks, a, st, ws.partial, true, [&] {
    decide_ok_into_block<<<1, 1, 0, stream()>>>(st, block);
    PYDL_CUDA_LAUNCHED("optimizer_step_into decide_ok_into_block");
  });
  store_bounds<<<1, 1, 0, stream()>>>(st, block);
  PYDL_CUDA_LAUNCHED("optimizer_step_into store_bounds");
}

namespace {

// partial[blockIdx.x] = the block's sum of g^2 in double: each thread sums its grid-stride
// elements in index order, then the block's fixed tree.
__global__ void sum_squares_partials(const float* g, int64_t n, double* partial) {
  __shared__ double sh[32];
  double s = 0;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) s += double(g[i]) * double(g[i]);
  s = block_sum(s, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void norm_from_partials(const double* partial, int blocks, OptimStatus* st) {
  __shared__ double sh[32];
  double s = 0;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) s += partial[b];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) st->norm = sqrt(s);
}

// clip_grad_norm_'s scaling, read from the norm on the device.
__global__ void clip_scale(float* g, int64_t n, double max_norm, const OptimStatus* st) {
  const double coef = max_norm / (st->norm + 1e-6);
  if (!(coef < 1.0)) return;
  const float s = float(coef);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) g[i] *= s;
}

// Queues the norm of g[0, n) into st->norm (n > 0).
void queue_norm(const float* g, int64_t n, Workspace& ws) {
  const unsigned blocks = reduce_blocks(n);  // fixed for a given n: the sum's order is too
  sum_squares_partials<<<blocks, kThreads, 0, stream()>>>(g, n, ws.partial_sum);
  PYDL_CUDA_LAUNCHED("global_norm sum_squares_partials");
  norm_from_partials<<<1, kThreads, 0, stream()>>>(ws.partial_sum, int(blocks), ws.status);
  PYDL_CUDA_LAUNCHED("global_norm norm_from_partials");
}

}  // namespace

double global_norm_cuda(const float* g, int64_t n) {
  if (n == 0) return 0.0;
  Workspace ws = workspace();
  queue_norm(g, n, ws);
  return read_status(ws.status).norm;
}

double clip_by_global_norm_cuda(float* g, int64_t n, double max_norm) {
  if (n == 0) return 0.0;
  Workspace ws = workspace();
  queue_norm(g, n, ws);
  clip_scale<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(g, n, max_norm, ws.status);
  PYDL_CUDA_LAUNCHED("clip_by_global_norm clip_scale");
  return read_status(ws.status).norm;
}

void clip_by_global_norm_queued_cuda(float* g, int64_t n, double max_norm) {
  if (n == 0) return;
  Workspace ws = workspace();
  queue_norm(g, n, ws);
  clip_scale<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(g, n, max_norm, ws.status);
  PYDL_CUDA_LAUNCHED("clip_by_global_norm_queued clip_scale");
}

}  // namespace pydl::cuda

PYDL_CUDA_KERNEL(optimizer_step, pydl::cuda::optimizer_step_cuda);
PYDL_CUDA_KERNEL(optimizer_step_into, pydl::cuda::optimizer_step_into_cuda);
PYDL_CUDA_KERNEL(clip_by_global_norm_queued, pydl::cuda::clip_by_global_norm_queued_cuda);
PYDL_CUDA_KERNEL(measure_update_bounds, pydl::cuda::measure_update_bounds_cuda);
PYDL_CUDA_KERNEL(global_norm, pydl::cuda::global_norm_cuda);
PYDL_CUDA_KERNEL(clip_by_global_norm, pydl::cuda::clip_by_global_norm_cuda);

#include "kernels/optim.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "core/device.h"
#include "core/errors.h"
#include "core/flush_subnormals.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/optim_rules.h"
#include "kernels/step_results.h"

namespace pydl {

using optim_rules::abs_bits;
using optim_rules::Bits;
using optim_rules::kNonfiniteBits;
using optim_rules::SpanMax;
using optim_rules::StepScalars;
using optim_rules::step_scalars;

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "sgd") return OptimizerKind::SGD;
  if (name == "adam") return OptimizerKind::Adam;
  if (name == "adamw") return OptimizerKind::AdamW;
  if (name == "rmsprop") return OptimizerKind::RMSprop;
  if (name == "adagrad") return OptimizerKind::Adagrad;
  throw ValueError("unknown optimizer '" + name + "': expected one of sgd, adam, adamw, rmsprop, adagrad");
}

const char* optimizer_name(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::SGD: return "sgd";
    case OptimizerKind::Adam: return "adam";
    case OptimizerKind::AdamW: return "adamw";
    case OptimizerKind::RMSprop: return "rmsprop";
    case OptimizerKind::Adagrad: return "adagrad";
  }
  return "?";
}

void validate(const OptimizerConfig& c) {
  auto bad = [](const std::string& what, double v) {
    throw ValueError("optimizer: expected " + what + ", got " + std::to_string(v));
  };
  if (!(c.learning_rate >= 0) || !std::isfinite(c.learning_rate)) bad("learning_rate >= 0", c.learning_rate);
  if (!(c.momentum >= 0) || !std::isfinite(c.momentum)) bad("momentum >= 0", c.momentum);
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay)) bad("weight_decay >= 0", c.weight_decay);
  if (!(c.beta_1 >= 0 && c.beta_1 < 1)) bad("0 <= beta_1 < 1", c.beta_1);
  if (!(c.beta_2 >= 0 && c.beta_2 < 1)) bad("0 <= beta_2 < 1", c.beta_2);
  if (!(c.rho >= 0 && c.rho < 1)) bad("0 <= rho < 1", c.rho);
  if (!(c.epsilon >= 0) || !std::isfinite(c.epsilon)) bad("epsilon >= 0", c.epsilon);
  if (!(c.initial_accumulator_value >= 0) || !std::isfinite(c.initial_accumulator_value))
    bad("a finite initial_accumulator_value >= 0", c.initial_accumulator_value);
  if (!(c.clipnorm >= 0)) bad("clipnorm >= 0", c.clipnorm);
  if (c.nesterov && c.momentum <= 0) throw ValueError("optimizer: nesterov=True needs momentum > 0");
}

int optimizer_slots(const OptimizerConfig& c) {
  switch (c.kind) {
    case OptimizerKind::SGD: return c.momentum > 0 ? 1 : 0;
    case OptimizerKind::RMSprop: return 1 + (c.momentum > 0 ? 1 : 0) + (c.centered ? 1 : 0);
    case OptimizerKind::Adagrad: return 1;
    default: return 2;
  }
}

namespace {
constexpr int64_t kGrain = 1 << 15;  // parameters per chunk

template <typename T>
double bits_value(Bits<T> b) {  // +Inf for NaN: a bound, not a value
  if (b >= kNonfiniteBits<T>) return std::numeric_limits<double>::infinity();
  T v;
  std::memcpy(&v, &b, sizeof(v));
  return double(v);
}
template <typename B>
void atomic_max(std::atomic<B>& a, B v) {
  B cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

// Calls f(lo, hi) for the parts of [0, n) outside the frozen ranges, split into the parallel
// chunks of parallel_range.
template <typename F>
void for_active(int64_t n, const std::vector<ParamRange>* frozen, F&& f) {
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
    if (!frozen || frozen->empty()) return f(lo, hi);
    // The first range ending after lo, then every range starting before hi.
    auto it = std::partition_point(frozen->begin(), frozen->end(),
                                   [lo](const ParamRange& r) { return r.offset + r.size <= lo; });
    int64_t at = lo;
    for (; it != frozen->end() && it->offset < hi; ++it) {
      if (it->offset > at) f(at, it->offset);
      at = std::max(at, it->offset + it->size);
    }
    if (at < hi) f(at, hi);
  });
}

template <bool C, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> update_span_impl(OptimizerKind kind, bool mom, bool cen, T* p, const T* g, T* s0,
                                               T* s1, T* s2, int64_t n, const StepScalars<T>& s) {
  using namespace optim_rules;
  switch (kind) {
    case OptimizerKind::SGD: return sgd_span<C>(p, g, s0, n, s);
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW: return adam_span<C>(p, g, s0, s1, n, s);
    case OptimizerKind::RMSprop: {
      T* buf = mom ? s1 : nullptr;
      T* ga = cen ? (mom ? s2 : s1) : nullptr;
      if (mom) return cen ? rmsprop_span<C, true, true>(p, g, s0, buf, ga, n, s)
                          : rmsprop_span<C, true, false>(p, g, s0, buf, ga, n, s);
      return cen ? rmsprop_span<C, false, true>(p, g, s0, buf, ga, n, s)
                 : rmsprop_span<C, false, false>(p, g, s0, buf, ga, n, s);
    }
    case OptimizerKind::Adagrad: return adagrad_span<C>(p, g, s0, n, s);
  }
  return {};
}
// One clone per ISA holding every rule, each inlined with that ISA.
PYDL_SIMD_CLONES SpanMax<float> update_span(bool commit, OptimizerKind kind, bool mom, bool cen, float* p,
                                            const float* g, float* s0, float* s1, float* s2, int64_t n,
                                            const StepScalars<float>& s) {
  return commit ? update_span_impl<true>(kind, mom, cen, p, g, s0, s1, s2, n, s)
                : update_span_impl<false>(kind, mom, cen, p, g, s0, s1, s2, n, s);
}
PYDL_SIMD_CLONES SpanMax<double> update_span(bool commit, OptimizerKind kind, bool mom, bool cen, double* p,
                                             const double* g, double* s0, double* s1, double* s2, int64_t n,
                                             const StepScalars<double>& s) {
  return commit ? update_span_impl<true>(kind, mom, cen, p, g, s0, s1, s2, n, s)
                : update_span_impl<false>(kind, mom, cen, p, g, s0, s1, s2, n, s);
}

template <typename T>
PYDL_ALWAYS_INLINE Bits<T> max_abs_bits_impl(const T* __restrict x, int64_t n) {
  Bits<T> m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, abs_bits(x[i]));
  return m;
}
PYDL_SIMD_CLONES uint32_t max_abs_bits(const float* x, int64_t n) { return max_abs_bits_impl(x, n); }
PYDL_SIMD_CLONES uint64_t max_abs_bits(const double* x, int64_t n) { return max_abs_bits_impl(x, n); }

// max |x| over the active part of x[0..n) (+Inf when any value is NaN or Inf; 0 for none).
template <typename T>
double max_abs(const T* x, int64_t n, const std::vector<ParamRange>* frozen) {
  if (!x || n == 0) return 0.0;
  std::atomic<Bits<T>> most{0};
  for_active(n, frozen, [&](int64_t lo, int64_t hi) { atomic_max(most, max_abs_bits(x + lo, hi - lo)); });
  return bits_value<T>(most.load());
}

}  // namespace

template <typename T>
UpdateBounds measure_update_bounds(const T* params, const SlotPtrs<T>& slots, int64_t n,
                                   const std::vector<ParamRange>* frozen) {
  PYDL_DEVICE_DISPATCH(measure_update_bounds, params, slots, n, frozen);
  UpdateBounds b;
  b.params = max_abs(params, n, frozen);
  for (int k = 0; k < kMaxSlots; ++k) b.slots[k] = max_abs<T>(slots[k], n, frozen);
  b.known = true;
  return b;
}

template <typename T>
bool optimizer_step(T* p, const T* g, const SlotPtrs<T>& sl, int64_t n, const OptimizerConfig& c, int64_t step,
                    UpdateBounds* bounds, const std::vector<ParamRange>* frozen) {
  PYDL_DEVICE_DISPATCH(optimizer_step, p, g, sl, n, c, step, bounds, frozen);
  // Ordinary steps are proven finite from max |g| and the tracked bounds (one read of g);
  // otherwise a dry run computes the update first, and a non-finite one is refused.
  const bool safe = bounds && bounds->known &&
                    optim_rules::provably_finite<T>(c, step, max_abs(g, n, frozen), bounds->params,
                                                    bounds->slots.data());
  const StepScalars<T> s = step_scalars<T>(c, step);
  const bool mom = c.momentum > 0, cen = c.centered;
  std::atomic<Bits<T>> mp{0}, ms[kMaxSlots];
  auto at = [](T* q, int64_t lo) { return q ? q + lo : nullptr; };
  auto run = [&](bool commit) {
    mp = 0;
    for (auto& m : ms) m = 0;
    for_active(n, frozen, [&](int64_t lo, int64_t hi) {
      const FlushSubnormals flush;  // on each thread that updates a span
      const SpanMax<T> r = update_span(commit, c.kind, mom, cen, p + lo, g + lo, at(sl[0], lo), at(sl[1], lo),
                                       at(sl[2], lo), hi - lo, s);
      atomic_max(mp, r.p);
      for (int k = 0; k < kMaxSlots; ++k) atomic_max(ms[k], r.s[k]);
    });
  };
  auto finite = [&] {
    bool ok = mp.load() < kNonfiniteBits<T>;
    for (auto& m : ms) ok = ok && m.load() < kNonfiniteBits<T>;
    return ok;
  };
  if (!safe) {
    run(false);
    if (!finite()) return false;
  }
  run(true);
  if (bounds) {
    bounds->params = bits_value<T>(mp.load());
    for (int k = 0; k < kMaxSlots; ++k) bounds->slots[k] = bits_value<T>(ms[k].load());
    bounds->known = true;
  }
  return true;
}

template <typename T>
double global_norm(const T* g, int64_t n) {
  PYDL_DEVICE_DISPATCH(global_norm, g, n);
  constexpr int64_t kMaxChunks = 256;
  const int64_t chunk = std::max<int64_t>(4096, (n + kMaxChunks - 1) / kMaxChunks);
  const int64_t chunks = (n + chunk - 1) / chunk;
  double partial[kMaxChunks + 1];
  parallel_range(chunks, n >= kGrain ? 1 : chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t lo = c * chunk, hi = std::min(n, lo + chunk);
      double s = 0;
      for (int64_t i = lo; i < hi; ++i) s += double(g[i]) * double(g[i]);
      partial[c] = s;
    }
  });
  double total = 0;
  for (int64_t c = 0; c < chunks; ++c) total += partial[c];
  return std::sqrt(total);
}

template <typename T>
double clip_by_global_norm(T* g, int64_t n, double max_norm) {
  PYDL_DEVICE_DISPATCH(clip_by_global_norm, g, n, max_norm);
  const double norm = global_norm(g, n);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    const T s = T(coef);
    parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) g[i] *= s;
    });
  }
  return norm;
}

template <typename T>
void optimizer_step_into(double* block, T* p, const T* g, const SlotPtrs<T>& sl, int64_t n,
                         const OptimizerConfig& c, const std::vector<ParamRange>* frozen) {
  PYDL_DEVICE_DISPATCH(optimizer_step_into, block, p, g, sl, n, c, frozen);
  namespace sr = step_results;
  if (!sr::running(block)) return;
  OptimizerConfig now = c;
  now.learning_rate = sr::queued_learning_rate(block);
  UpdateBounds b;
  b.known = block[sr::kBoundsKnown] != 0;
  b.params = block[sr::kBounds];
  for (int k = 0; k < kMaxSlots; ++k) b.slots[k] = block[sr::kBounds + 1 + k];
  if (!optimizer_step<T>(p, g, sl, n, now, sr::queued_step(block), &b, frozen)) {
    sr::stop(block, sr::kUpdateNonfinite);
    return;
  }
  block[sr::kBoundsKnown] = b.known ? 1.0 : 0.0;
  block[sr::kBounds] = b.params;
  for (int k = 0; k < kMaxSlots; ++k) block[sr::kBounds + 1 + k] = b.slots[k];
}

template <typename T>
void clip_by_global_norm_queued(T* g, int64_t n, double max_norm) {
  PYDL_DEVICE_DISPATCH(clip_by_global_norm_queued, g, n, max_norm);
  clip_by_global_norm<T>(g, n, max_norm);
}

#define PYDL_INSTANTIATE(T)                                                                                  \
  template bool optimizer_step<T>(T*, const T*, const SlotPtrs<T>&, int64_t, const OptimizerConfig&, int64_t, \
                                  UpdateBounds*, const std::vector<ParamRange>*);                            \
  template UpdateBounds measure_update_bounds<T>(const T*, const SlotPtrs<T>&, int64_t,                      \
                                                 const std::vector<ParamRange>*);                            \
  template double global_norm<T>(const T*, int64_t);                                                         \
  template double clip_by_global_norm<T>(T*, int64_t, double);                                              \
  template void optimizer_step_into<T>(double*, T*, const T*, const SlotPtrs<T>&, int64_t,                   \
                                       const OptimizerConfig&, const std::vector<ParamRange>*);              \
  template void clip_by_global_norm_queued<T>(T*, int64_t, double);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl

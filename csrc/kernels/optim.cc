#include "kernels/optim.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/errors.h"
#include "core/parallel.h"
#include "core/simd.h"

namespace pydl {

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "sgd") return OptimizerKind::SGD;
  if (name == "adam") return OptimizerKind::Adam;
  if (name == "adamw") return OptimizerKind::AdamW;
  throw ValueError("unknown optimizer '" + name + "': expected one of sgd, adam, adamw");
}

void validate(const OptimizerConfig& c) {
  auto bad = [](const std::string& what, double v) {
    throw ValueError("optimizer: expected " + what + ", got " + std::to_string(v));
  };
  if (!(c.learning_rate >= 0) || !std::isfinite(c.learning_rate)) bad("learning_rate >= 0", c.learning_rate);
  if (!(c.momentum >= 0)) bad("momentum >= 0", c.momentum);
  if (!(c.weight_decay >= 0)) bad("weight_decay >= 0", c.weight_decay);
  if (!(c.beta_1 >= 0 && c.beta_1 < 1)) bad("0 <= beta_1 < 1", c.beta_1);
  if (!(c.beta_2 >= 0 && c.beta_2 < 1)) bad("0 <= beta_2 < 1", c.beta_2);
  if (!(c.epsilon >= 0)) bad("epsilon >= 0", c.epsilon);
  if (!(c.clipnorm >= 0)) bad("clipnorm >= 0", c.clipnorm);
  if (c.nesterov && c.momentum <= 0) throw ValueError("optimizer: nesterov=True needs momentum > 0");
}

int optimizer_slots(const OptimizerConfig& c) {
  if (c.kind == OptimizerKind::SGD) return c.momentum > 0 ? 1 : 0;
  return 2;
}

namespace {
constexpr int64_t kGrain = 1 << 15;  // parameters per chunk

// Magnitudes as integers: for |x| the IEEE bit patterns order like the values, and Inf/NaN
// sit above every finite value, so an integer max-reduction (which vectorises, where a float
// one would need reassociation) gives both the largest magnitude and "is anything
// non-finite".
template <typename T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
template <typename T>
constexpr Bits<T> kNonfiniteBits = sizeof(T) == 4 ? Bits<T>(0x7f800000u) : Bits<T>(0x7ff0000000000000ull);

template <typename T>
PYDL_ALWAYS_INLINE Bits<T> abs_bits(T v) {
  Bits<T> u;
  std::memcpy(&u, &v, sizeof(u));
  return u & ~(Bits<T>(1) << (8 * sizeof(T) - 1));
}
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

// Largest new |p|, |slot0|, |slot1| of a span.
template <typename T>
struct SpanMax {
  Bits<T> p = 0, s0 = 0, s1 = 0;
};

template <typename T>
struct AdamScalars {
  T step_size, inv_sqrt_bc2, eps, b1, b2, decay_mul, l2;
};

// The update of one span. With kCommit false nothing is written: the same arithmetic only
// measures the new values (a dry run, for updates that might overflow). Either way it returns
// the largest new magnitudes. Decoupled decay multiplies p, L2 decay adds to the gradient; a
// neutral factor is a no-op.
template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> adam_span_impl(T* __restrict p, const T* __restrict g, T* __restrict m,
                                             T* __restrict v, int64_t n, const AdamScalars<T>& s) {
  Bits<T> mp = 0, mm = 0, mv = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + s.l2 * p[i];
    const T mi = s.b1 * m[i] + (T(1) - s.b1) * gi;
    const T vi = s.b2 * v[i] + (T(1) - s.b2) * gi * gi;
    const T pi = p[i] * s.decay_mul - s.step_size * mi / (std::sqrt(vi) * s.inv_sqrt_bc2 + s.eps);
    if constexpr (kCommit) {
      m[i] = mi;
      v[i] = vi;
      p[i] = pi;
    }
    mp = std::max(mp, abs_bits(pi));
    mm = std::max(mm, abs_bits(mi));
    mv = std::max(mv, abs_bits(vi));
  }
  return {mp, mm, mv};
}
PYDL_SIMD_CLONES SpanMax<float> adam_span(bool commit, float* p, const float* g, float* m, float* v, int64_t n,
                                          const AdamScalars<float>& s) {
  return commit ? adam_span_impl<true>(p, g, m, v, n, s) : adam_span_impl<false>(p, g, m, v, n, s);
}
PYDL_SIMD_CLONES SpanMax<double> adam_span(bool commit, double* p, const double* g, double* m, double* v, int64_t n,
                                           const AdamScalars<double>& s) {
  return commit ? adam_span_impl<true>(p, g, m, v, n, s) : adam_span_impl<false>(p, g, m, v, n, s);
}

template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> sgd_span_impl(T* __restrict p, const T* __restrict g, T* __restrict buf,
                                            int64_t n, T lr, T wd, T mu, bool first, bool nesterov) {
  Bits<T> mp = 0, mb = 0;
  if (mu == T(0)) {
    for (int64_t i = 0; i < n; ++i) {
      const T pi = p[i] - lr * (g[i] + wd * p[i]);
      if constexpr (kCommit) p[i] = pi;
      mp = std::max(mp, abs_bits(pi));
    }
    return {mp, 0, 0};
  }
  for (int64_t i = 0; i < n; ++i) {
    const T d = g[i] + wd * p[i];
    const T b = first ? d : mu * buf[i] + d;  // PyTorch: the buffer starts as the first gradient
    const T pi = p[i] - lr * (nesterov ? d + mu * b : b);
    if constexpr (kCommit) {
      buf[i] = b;
      p[i] = pi;
    }
    mp = std::max(mp, abs_bits(pi));
    mb = std::max(mb, abs_bits(b));
  }
  return {mp, mb, 0};
}
PYDL_SIMD_CLONES SpanMax<float> sgd_span(bool commit, float* p, const float* g, float* buf, int64_t n, float lr,
                                         float wd, float mu, bool first, bool nesterov) {
  return commit ? sgd_span_impl<true>(p, g, buf, n, lr, wd, mu, first, nesterov)
                : sgd_span_impl<false>(p, g, buf, n, lr, wd, mu, first, nesterov);
}
PYDL_SIMD_CLONES SpanMax<double> sgd_span(bool commit, double* p, const double* g, double* buf, int64_t n,
                                          double lr, double wd, double mu, bool first, bool nesterov) {
  return commit ? sgd_span_impl<true>(p, g, buf, n, lr, wd, mu, first, nesterov)
                : sgd_span_impl<false>(p, g, buf, n, lr, wd, mu, first, nesterov);
}

template <typename T>
PYDL_ALWAYS_INLINE Bits<T> max_abs_bits_impl(const T* __restrict x, int64_t n) {
  Bits<T> m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, abs_bits(x[i]));
  return m;
}
PYDL_SIMD_CLONES uint32_t max_abs_bits(const float* x, int64_t n) { return max_abs_bits_impl(x, n); }
PYDL_SIMD_CLONES uint64_t max_abs_bits(const double* x, int64_t n) { return max_abs_bits_impl(x, n); }

// max |x| over x[0..n) (+Inf when any value is NaN or Inf; 0 for none).
template <typename T>
double max_abs(const T* x, int64_t n) {
  if (!x || n == 0) return 0.0;
  std::atomic<Bits<T>> most{0};
  parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) { atomic_max(most, max_abs_bits(x + lo, hi - lo)); });
  return bits_value<T>(most.load());
}

// Whether an update from parameters and moments bounded by b, with |g| <= g_max, provably
// stays finite: every intermediate of the span kernels bounded well below T's largest value
// (a factor 4 covers rounding). This spares the dry run on all ordinary steps.
template <typename T>
bool provably_finite(const OptimizerConfig& c, int64_t step, double g_max, const UpdateBounds& b) {
  const double limit = double(std::numeric_limits<T>::max()) / 4;
  auto ok = [&](double v) { return v < limit; };  // false for Inf and NaN
  const double P = b.params, lr = c.learning_rate, wd = c.weight_decay;
  if (!ok(g_max) || !ok(P) || !ok(b.slot0) || !ok(b.slot1)) return false;
  if (c.kind == OptimizerKind::SGD) {
    const double d = g_max + wd * P, buf = step == 1 ? d : c.momentum * b.slot0 + d;
    const double move = lr * (c.nesterov ? d + c.momentum * buf : (c.momentum > 0 ? buf : d));
    return ok(d) && ok(buf) && ok(lr * d) && ok(P + move);
  }
  if (!(c.epsilon > 0)) return false;  // 0/0 is possible: only the dry run can tell
  const bool decoupled = c.kind == OptimizerKind::AdamW;
  const double gi = g_max + (decoupled ? 0.0 : wd) * P;
  const double m = c.beta_1 * b.slot0 + (1 - c.beta_1) * gi;
  const double v = c.beta_2 * b.slot1 + (1 - c.beta_2) * gi * gi;
  const double step_size = lr / (1.0 - std::pow(c.beta_1, double(step)));
  const double decay = decoupled ? std::abs(1 - lr * wd) : 1.0;
  // |m / (sqrt(v) / sqrt(bc2) + eps)| <= |m| / eps
  return ok(gi) && ok(gi * gi) && ok(m) && ok(v) && ok(step_size * m) && ok(P * decay + step_size * m / c.epsilon);
}

}  // namespace

template <typename T>
UpdateBounds measure_update_bounds(const T* params, const T* slot0, const T* slot1, int64_t n) {
  return UpdateBounds{max_abs(params, n), max_abs(slot0, n), max_abs(slot1, n), true};
}

template <typename T>
bool optimizer_step(T* p, const T* g, T* s0, T* s1, int64_t n, const OptimizerConfig& c, int64_t step,
                    UpdateBounds* bounds) {
  // Ordinary steps are proven finite from max |g| and the tracked bounds (one read of g);
  // otherwise a dry run computes the update first, and a non-finite one is refused.
  const bool safe = bounds && bounds->known && provably_finite<T>(c, step, max_abs(g, n), *bounds);
  const T lr = T(c.learning_rate), wd = T(c.weight_decay);
  std::atomic<Bits<T>> mp{0}, m0{0}, m1{0};
  auto run = [&](bool commit) {
    mp = 0, m0 = 0, m1 = 0;
    if (c.kind == OptimizerKind::SGD) {
      const T mu = T(c.momentum);
      const bool first = step == 1;
      parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
        const SpanMax<T> r = sgd_span(commit, p + lo, g + lo, mu > T(0) ? s0 + lo : nullptr, hi - lo, lr, wd, mu,
                                      first, c.nesterov);
        atomic_max(mp, r.p), atomic_max(m0, r.s0);
      });
      return;
    }
    const double bc1 = 1.0 - std::pow(c.beta_1, double(step));
    const double bc2 = 1.0 - std::pow(c.beta_2, double(step));
    const bool decoupled = c.kind == OptimizerKind::AdamW;
    const AdamScalars<T> s{T(c.learning_rate / bc1), T(1.0 / std::sqrt(bc2)), T(c.epsilon), T(c.beta_1),
                           T(c.beta_2), decoupled ? T(1) - lr * wd : T(1), decoupled ? T(0) : wd};
    parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
      const SpanMax<T> r = adam_span(commit, p + lo, g + lo, s0 + lo, s1 + lo, hi - lo, s);
      atomic_max(mp, r.p), atomic_max(m0, r.s0), atomic_max(m1, r.s1);
    });
  };
  auto finite = [&] { return mp.load() < kNonfiniteBits<T> && m0.load() < kNonfiniteBits<T> && m1.load() < kNonfiniteBits<T>; };
  if (!safe) {
    run(false);
    if (!finite()) return false;
  }
  run(true);
  if (bounds) *bounds = UpdateBounds{bits_value<T>(mp.load()), bits_value<T>(m0.load()), bits_value<T>(m1.load()), true};
  return true;
}

template <typename T>
double global_norm(const T* g, int64_t n) {
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

#define PYDL_INSTANTIATE(T)                                                                 \
  template bool optimizer_step<T>(T*, const T*, T*, T*, int64_t, const OptimizerConfig&,    \
                                  int64_t, UpdateBounds*);                                  \
  template UpdateBounds measure_update_bounds<T>(const T*, const T*, const T*, int64_t);   \
  template double global_norm<T>(const T*, int64_t);                                        \
  template double clip_by_global_norm<T>(T*, int64_t, double);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl

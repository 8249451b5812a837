#include "kernels/optim.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

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

template <typename T>
struct AdamScalars {
  T step_size, inv_sqrt_bc2, eps, b1, b2, decay_mul, l2;
};

// 1 when v is NaN or Inf (exponent bits all ones): an integer OR-reduction vectorises, where
// a float reduction would need reassociation.
PYDL_ALWAYS_INLINE uint32_t nonfinite_bit(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof(u));
  return (u & 0x7f800000u) == 0x7f800000u;
}
PYDL_ALWAYS_INLINE uint32_t nonfinite_bit(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof(u));
  return (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
}

// The update of one span. With kCommit false nothing is written: the same arithmetic only
// reports whether the new parameters and moments would all be finite, so a bad step can be
// refused before it changes anything. Returns 1 when some new value is NaN or Inf.
// Decoupled decay multiplies p, L2 decay adds to the gradient; a neutral factor is a no-op.
template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE uint32_t adam_span_impl(T* __restrict p, const T* __restrict g, T* __restrict m,
                                           T* __restrict v, int64_t n, const AdamScalars<T>& s) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + s.l2 * p[i];
    const T mi = s.b1 * m[i] + (T(1) - s.b1) * gi;
    const T vi = s.b2 * v[i] + (T(1) - s.b2) * gi * gi;
    const T pi = p[i] * s.decay_mul - s.step_size * mi / (std::sqrt(vi) * s.inv_sqrt_bc2 + s.eps);
    if constexpr (kCommit) {
      m[i] = mi;
      v[i] = vi;
      p[i] = pi;
    } else {
      bad |= nonfinite_bit(pi) | nonfinite_bit(mi) | nonfinite_bit(vi);
    }
  }
  return bad;
}
PYDL_SIMD_CLONES uint32_t adam_span(bool commit, float* p, const float* g, float* m, float* v, int64_t n,
                                    const AdamScalars<float>& s) {
  return commit ? adam_span_impl<true>(p, g, m, v, n, s) : adam_span_impl<false>(p, g, m, v, n, s);
}
PYDL_SIMD_CLONES uint32_t adam_span(bool commit, double* p, const double* g, double* m, double* v, int64_t n,
                                    const AdamScalars<double>& s) {
  return commit ? adam_span_impl<true>(p, g, m, v, n, s) : adam_span_impl<false>(p, g, m, v, n, s);
}

template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE uint32_t sgd_span_impl(T* __restrict p, const T* __restrict g, T* __restrict buf,
                                          int64_t n, T lr, T wd, T mu, bool first, bool nesterov) {
  uint32_t bad = 0;
  if (mu == T(0)) {
    for (int64_t i = 0; i < n; ++i) {
      const T pi = p[i] - lr * (g[i] + wd * p[i]);
      if constexpr (kCommit) p[i] = pi;
      else bad |= nonfinite_bit(pi);
    }
    return bad;
  }
  for (int64_t i = 0; i < n; ++i) {
    const T d = g[i] + wd * p[i];
    const T b = first ? d : mu * buf[i] + d;  // PyTorch: the buffer starts as the first gradient
    const T pi = p[i] - lr * (nesterov ? d + mu * b : b);
    if constexpr (kCommit) {
      buf[i] = b;
      p[i] = pi;
    } else {
      bad |= nonfinite_bit(pi) | nonfinite_bit(b);
    }
  }
  return bad;
}
PYDL_SIMD_CLONES uint32_t sgd_span(bool commit, float* p, const float* g, float* buf, int64_t n, float lr,
                                   float wd, float mu, bool first, bool nesterov) {
  return commit ? sgd_span_impl<true>(p, g, buf, n, lr, wd, mu, first, nesterov)
                : sgd_span_impl<false>(p, g, buf, n, lr, wd, mu, first, nesterov);
}
PYDL_SIMD_CLONES uint32_t sgd_span(bool commit, double* p, const double* g, double* buf, int64_t n, double lr,
                                   double wd, double mu, bool first, bool nesterov) {
  return commit ? sgd_span_impl<true>(p, g, buf, n, lr, wd, mu, first, nesterov)
                : sgd_span_impl<false>(p, g, buf, n, lr, wd, mu, first, nesterov);
}

}  // namespace

template <typename T>
bool optimizer_step(T* p, const T* g, T* s0, T* s1, int64_t n, const OptimizerConfig& c,
                    int64_t step) {
  const T lr = T(c.learning_rate), wd = T(c.weight_decay);
  std::atomic<uint32_t> bad{0};
  if (c.kind == OptimizerKind::SGD) {
    const T mu = T(c.momentum);
    const bool first = step == 1;
    for (bool commit : {false, true}) {
      parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
        const uint32_t b = sgd_span(commit, p + lo, g + lo, mu > T(0) ? s0 + lo : nullptr, hi - lo, lr, wd, mu,
                                    first, c.nesterov);
        if (b) bad.store(1, std::memory_order_relaxed);
      });
      if (bad.load()) return false;
    }
    return true;
  }
  const T b1 = T(c.beta_1), b2 = T(c.beta_2), eps = T(c.epsilon);
  const double bc1 = 1.0 - std::pow(c.beta_1, double(step));
  const double bc2 = 1.0 - std::pow(c.beta_2, double(step));
  const T step_size = T(c.learning_rate / bc1);
  const T inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2));
  const bool decoupled = c.kind == OptimizerKind::AdamW;
  const AdamScalars<T> s{step_size, inv_sqrt_bc2, eps, b1, b2,
                         decoupled ? T(1) - lr * wd : T(1), decoupled ? T(0) : wd};
  for (bool commit : {false, true}) {
    parallel_range(n, kGrain, [&](int64_t lo, int64_t hi) {
      if (adam_span(commit, p + lo, g + lo, s0 + lo, s1 + lo, hi - lo, s)) bad.store(1, std::memory_order_relaxed);
    });
    if (bad.load()) return false;
  }
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
                                  int64_t);                                                 \
  template double global_norm<T>(const T*, int64_t);                                        \
  template double clip_by_global_norm<T>(T*, int64_t, double);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl

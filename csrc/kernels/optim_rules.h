// The per-element update rules behind optimizer_step, shared by the CPU kernel (optim.cc) and
// the CUDA kernel (cuda/optim.cu) so both backends run one definition: SGD, Adam(W), RMSprop
// and Adagrad as PyTorch writes them. A rule maps one parameter's (p, g, state) to its new
// (p, state); the caller decides whether to commit them. The CPU spans below run a rule over
// [0, n) in two modes: kCommit writes the new parameters and state; without it the same
// arithmetic only measures the new values (a dry run, for updates that might overflow).
// Either way they return the largest new magnitudes, as bit patterns: for |x| the IEEE bits
// order like the values, and Inf/NaN sit above every finite value, so an integer
// max-reduction (which vectorises, and needs no float reassociation on the GPU) tells both the
// largest magnitude and "is anything non-finite".
//
// Square roots read max(v, 0): a second moment is never negative unless Python wrote one (a
// forged checkpoint, set_variables), and the finiteness proof (which reads magnitudes only)
// relies on sqrt(...) + eps >= eps. For v >= 0 the result is bitwise PyTorch's arithmetic, except
// that the CPU update flushes subnormals to zero (core/flush_subnormals.h says why).
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/host_device.h"
#include "core/simd.h"
#include "kernels/optim.h"

// Inlined into every loop that uses it, on the host (each SIMD clone) and on the device.
#if defined(__CUDACC__)
#define PYDL_RULE __host__ __device__ __forceinline__
#else
#define PYDL_RULE PYDL_ALWAYS_INLINE
#endif

namespace pydl::optim_rules {

template <typename T>
using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
template <typename T>
constexpr Bits<T> kNonfiniteBits = sizeof(T) == 4 ? Bits<T>(0x7f800000u) : Bits<T>(0x7ff0000000000000ull);

template <typename T>
PYDL_RULE Bits<T> abs_bits(T v) {
  Bits<T> u;
  std::memcpy(&u, &v, sizeof(u));
  return u & ~(Bits<T>(1) << (8 * sizeof(T) - 1));
}
// std::max's semantics ((a < b) ? b : a, so max(NaN, 0) is NaN), usable on the device.
template <typename T>
PYDL_RULE T max_of(T a, T b) {
  return a < b ? b : a;
}

// Largest new |p| and |slot k| of a span (slots in optimizer_slots' order).
template <typename T>
struct SpanMax {
  Bits<T> p = 0, s[3] = {0, 0, 0};
};

// The scalars of one step (already converted to T).
template <typename T>
struct StepScalars {
  T lr, wd;
  T mu;                    // SGD, RMSprop momentum
  bool first, nesterov;    // SGD
  T step_size, inv_sqrt_bc2, b1, b2, decay_mul, l2;  // Adam(W)
  T rho, eps;              // RMSprop (eps: Adam, Adagrad too)
};

// One parameter's new value and state, slots in optimizer_slots' order.
template <typename T>
struct Updated {
  T p, s0, s1, s2;
};

// SGD without momentum: s0 is unused.
template <typename T>
PYDL_RULE Updated<T> sgd_rule(T p, T g, const StepScalars<T>& s) {
  return {p - s.lr * (g + s.wd * p), T(0), T(0), T(0)};
}
// SGD with momentum (Nesterov optional): s0 is the momentum buffer.
template <typename T>
PYDL_RULE Updated<T> sgd_momentum_rule(T p, T g, T buf, const StepScalars<T>& s) {
  const T d = g + s.wd * p;
  const T b = s.first ? d : s.mu * buf + d;  // PyTorch: the buffer starts as the first gradient
  return {p - s.lr * (s.nesterov ? d + s.mu * b : b), b, T(0), T(0)};
}
// Decoupled decay multiplies p (decay_mul), L2 decay adds to the gradient (l2); a neutral
// factor is a no-op. s0 = m, s1 = v.
template <typename T>
PYDL_RULE Updated<T> adam_rule(T p, T g, T m, T v, const StepScalars<T>& s) {
  const T gi = g + s.l2 * p;
  const T mi = s.b1 * m + (T(1) - s.b1) * gi;
  const T vi = s.b2 * v + (T(1) - s.b2) * gi * gi;
  const T pi = p * s.decay_mul - s.step_size * mi / (std::sqrt(max_of(vi, T(0))) * s.inv_sqrt_bc2 + s.eps);
  return {pi, mi, vi, T(0)};
}
// torch.optim.RMSprop: square_avg = rho sq + (1 - rho) g^2; centered: grad_avg lerps towards
// g and the denominator is sqrt(sq - grad_avg^2) + eps; with momentum the buffer (starting at
// zero) accumulates g / denominator. Returns (p, square_avg, buffer, grad_avg) whatever the
// flags (an unused one is 0); the spans place them in optimizer_slots' order.
template <bool kMomentum, bool kCentered, typename T>
PYDL_RULE Updated<T> rmsprop_rule(T p, T g, T sq, T buf, T ga, const StepScalars<T>& s) {
  const T keep = T(1) - s.rho;
  const T gi = g + s.wd * p;
  const T vi = s.rho * sq + keep * gi * gi;
  T avg;
  T ai = T(0);
  if constexpr (kCentered) {
    ai = ga + keep * (gi - ga);
    avg = std::sqrt(max_of(vi - ai * ai, T(0))) + s.eps;
  } else {
    avg = std::sqrt(max_of(vi, T(0))) + s.eps;
  }
  const T d = gi / avg;
  T bi = d;
  if constexpr (kMomentum) bi = s.mu * buf + d;
  return {p - s.lr * bi, vi, kMomentum ? bi : T(0), ai};
}
// torch.optim.Adagrad (lr_decay 0): sum += g^2, p -= lr g / (sqrt(sum) + eps). s0 = sum.
template <typename T>
PYDL_RULE Updated<T> adagrad_rule(T p, T g, T sum, const StepScalars<T>& s) {
  const T gi = g + s.wd * p;
  const T si = sum + gi * gi;
  return {p - s.lr * (gi / (std::sqrt(max_of(si, T(0))) + s.eps)), si, T(0), T(0)};
}

// The scalars of step `step` (from 1) under c, computed in double then rounded to T: both
// backends feed their rules the same values.
// Host and device: a queued step computes them on the device from its step clock
// (kernels/step_results.h).
template <typename T>
PYDL_RULE StepScalars<T> step_scalars(const OptimizerConfig& c, int64_t step) {
  const T lr = T(c.learning_rate), wd = T(c.weight_decay);
  StepScalars<T> s{};
  s.lr = lr;
  s.wd = wd;
  s.mu = T(c.momentum);
  s.first = step == 1;
  s.nesterov = c.nesterov;
  s.rho = T(c.rho);
  s.eps = T(c.epsilon);
  if (c.kind == OptimizerKind::Adam || c.kind == OptimizerKind::AdamW) {
    const double bc1 = 1.0 - std::pow(c.beta_1, double(step));
    const double bc2 = 1.0 - std::pow(c.beta_2, double(step));
    const bool decoupled = c.kind == OptimizerKind::AdamW;
    s.step_size = T(c.learning_rate / bc1);
    s.inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2));
    s.b1 = T(c.beta_1);
    s.b2 = T(c.beta_2);
    s.decay_mul = decoupled ? T(1) - lr * wd : T(1);
    s.l2 = decoupled ? T(0) : wd;
  }
  return s;
}

// Whether an update from parameters bounded by P and state bounded by S[0..2], with
// |g| <= g_max, provably stays finite: every intermediate of the rules bounded well below T's
// largest value (a factor 4 covers rounding). This spares the dry run on all ordinary steps.
// Denominators: the rules' square roots read max(v, 0), so sqrt(...) + eps >= eps. On the
// device it runs in one thread, reading the maximum of |g| the GPU just reduced.
template <typename T>
PYDL_HOST_DEVICE inline bool provably_finite(const OptimizerConfig& c, int64_t step, double g_max, double P,
                                             const double* S) {
  const double limit = (sizeof(T) == 4 ? double(FLT_MAX) : DBL_MAX) / 4;
  auto ok = [limit](double v) { return v < limit; };  // false for Inf and NaN
  const double lr = c.learning_rate, wd = c.weight_decay, mu = c.momentum;
  if (!ok(g_max) || !ok(P)) return false;
  for (int k = 0; k < kMaxSlots; ++k)
    if (!ok(S[k])) return false;
  if (c.kind == OptimizerKind::SGD) {
    const double d = g_max + wd * P, buf = step == 1 ? d : mu * S[0] + d;
    const double move = lr * (c.nesterov ? d + mu * buf : (mu > 0 ? buf : d));
    return ok(d) && ok(buf) && ok(lr * d) && ok(P + move);
  }
  if (!(c.epsilon > 0)) return false;  // 0/0 is possible: only the dry run can tell
  if (c.kind == OptimizerKind::RMSprop) {
    const double G = g_max + wd * P, keep = 1 - c.rho;
    const double v = c.rho * S[0] + keep * G * G;
    const double ga = c.centered ? S[mu > 0 ? 2 : 1] : 0.0;
    const double a = ga + keep * (G + ga);  // |ga + keep (g - ga)|
    const double d = G / c.epsilon;
    const double buf = mu > 0 ? mu * S[1] + d : d;
    return ok(G) && ok(G * G) && ok(v) && ok(a) && ok(a * a) && ok(v + a * a) && ok(d) && ok(buf) &&
           ok(lr * buf) && ok(P + lr * buf);
  }
  if (c.kind == OptimizerKind::Adagrad) {
    const double G = g_max + wd * P, s = S[0] + G * G, d = G / c.epsilon;
    return ok(G) && ok(G * G) && ok(s) && ok(d) && ok(lr * d) && ok(P + lr * d);
  }
  const bool decoupled = c.kind == OptimizerKind::AdamW;
  const double gi = g_max + (decoupled ? 0.0 : wd) * P;
  const double m = c.beta_1 * S[0] + (1 - c.beta_1) * gi;
  const double v = c.beta_2 * S[1] + (1 - c.beta_2) * gi * gi;
  const double step_size = lr / (1.0 - std::pow(c.beta_1, double(step)));
  const double decay = decoupled ? std::abs(1 - lr * wd) : 1.0;
  // |m / (sqrt(v) / sqrt(bc2) + eps)| <= |m| / eps
  return ok(gi) && ok(gi * gi) && ok(m) && ok(v) && ok(step_size * m) && ok(P * decay + step_size * m / c.epsilon);
}

// ---- CPU spans: a rule over [0, n) of a span, measuring (and with kCommit writing). ----

template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> sgd_span(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n,
                                       const StepScalars<T>& s) {
  SpanMax<T> r;
  if (s.mu == T(0)) {
    for (int64_t i = 0; i < n; ++i) {
      const Updated<T> u = sgd_rule(p[i], g[i], s);
      if constexpr (kCommit) p[i] = u.p;
      r.p = max_of(r.p, abs_bits(u.p));
    }
    return r;
  }
  for (int64_t i = 0; i < n; ++i) {
    const Updated<T> u = sgd_momentum_rule(p[i], g[i], buf[i], s);
    if constexpr (kCommit) {
      buf[i] = u.s0;
      p[i] = u.p;
    }
    r.p = max_of(r.p, abs_bits(u.p));
    r.s[0] = max_of(r.s[0], abs_bits(u.s0));
  }
  return r;
}

template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> adam_span(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                                        int64_t n, const StepScalars<T>& s) {
  SpanMax<T> r;
  for (int64_t i = 0; i < n; ++i) {
    const Updated<T> u = adam_rule(p[i], g[i], m[i], v[i], s);
    if constexpr (kCommit) {
      m[i] = u.s0;
      v[i] = u.s1;
      p[i] = u.p;
    }
    r.p = max_of(r.p, abs_bits(u.p));
    r.s[0] = max_of(r.s[0], abs_bits(u.s0));
    r.s[1] = max_of(r.s[1], abs_bits(u.s1));
  }
  return r;
}

template <bool kCommit, bool kMomentum, bool kCentered, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> rmsprop_span(T* __restrict p, const T* __restrict g, T* __restrict sq,
                                           T* __restrict buf, T* __restrict ga, int64_t n, const StepScalars<T>& s) {
  Bits<T> mp = 0, msq = 0, mbuf = 0, mga = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Updated<T> u = rmsprop_rule<kMomentum, kCentered>(p[i], g[i], sq[i], kMomentum ? buf[i] : T(0),
                                                            kCentered ? ga[i] : T(0), s);
    if constexpr (kCommit) {
      sq[i] = u.s0;
      if constexpr (kMomentum) buf[i] = u.s1;
      if constexpr (kCentered) ga[i] = u.s2;
      p[i] = u.p;
    }
    mp = max_of(mp, abs_bits(u.p));
    msq = max_of(msq, abs_bits(u.s0));
    if constexpr (kMomentum) mbuf = max_of(mbuf, abs_bits(u.s1));
    if constexpr (kCentered) mga = max_of(mga, abs_bits(u.s2));
  }
  SpanMax<T> r;
  r.p = mp;
  r.s[0] = msq;
  r.s[1] = kMomentum ? mbuf : mga;
  r.s[2] = kMomentum && kCentered ? mga : 0;
  return r;
}

template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> adagrad_span(T* __restrict p, const T* __restrict g, T* __restrict sum, int64_t n,
                                           const StepScalars<T>& s) {
  SpanMax<T> r;
  for (int64_t i = 0; i < n; ++i) {
    const Updated<T> u = adagrad_rule(p[i], g[i], sum[i], s);
    if constexpr (kCommit) {
      sum[i] = u.s0;
      p[i] = u.p;
    }
    r.p = max_of(r.p, abs_bits(u.p));
    r.s[0] = max_of(r.s[0], abs_bits(u.s0));
  }
  return r;
}

}  // namespace pydl::optim_rules

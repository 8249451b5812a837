// The per-span update rules behind optimizer_step (included by optim.cc only): SGD, Adam(W),
// RMSprop and Adagrad over [0, n) of a span, as PyTorch writes them. Each runs in two modes:
// kCommit writes the new parameters and state; without it the same arithmetic only measures
// the new values (a dry run, for updates that might overflow). Either way it returns the
// largest new magnitudes, as bit patterns: for |x| the IEEE bits order like the values, and
// Inf/NaN sit above every finite value, so an integer max-reduction (which vectorises, where a
// float one would need reassociation) tells both the largest magnitude and "is anything
// non-finite".
//
// Square roots read max(v, 0): a second moment is never negative unless Python wrote one (a
// forged checkpoint, set_variables), and the finiteness proof (which reads magnitudes only)
// relies on sqrt(...) + eps >= eps. For v >= 0 the result is bitwise PyTorch's arithmetic.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/simd.h"

namespace pydl::optim_rules {

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

template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> sgd_span(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n,
                                       const StepScalars<T>& s) {
  SpanMax<T> r;
  if (s.mu == T(0)) {
    for (int64_t i = 0; i < n; ++i) {
      const T pi = p[i] - s.lr * (g[i] + s.wd * p[i]);
      if constexpr (kCommit) p[i] = pi;
      r.p = std::max(r.p, abs_bits(pi));
    }
    return r;
  }
  for (int64_t i = 0; i < n; ++i) {
    const T d = g[i] + s.wd * p[i];
    const T b = s.first ? d : s.mu * buf[i] + d;  // PyTorch: the buffer starts as the first gradient
    const T pi = p[i] - s.lr * (s.nesterov ? d + s.mu * b : b);
    if constexpr (kCommit) {
      buf[i] = b;
      p[i] = pi;
    }
    r.p = std::max(r.p, abs_bits(pi));
    r.s[0] = std::max(r.s[0], abs_bits(b));
  }
  return r;
}

// Decoupled decay multiplies p (decay_mul), L2 decay adds to the gradient (l2); a neutral
// factor is a no-op.
template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> adam_span(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                                        int64_t n, const StepScalars<T>& s) {
  SpanMax<T> r;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + s.l2 * p[i];
    const T mi = s.b1 * m[i] + (T(1) - s.b1) * gi;
    const T vi = s.b2 * v[i] + (T(1) - s.b2) * gi * gi;
    const T pi = p[i] * s.decay_mul - s.step_size * mi / (std::sqrt(std::max(vi, T(0))) * s.inv_sqrt_bc2 + s.eps);
    if constexpr (kCommit) {
      m[i] = mi;
      v[i] = vi;
      p[i] = pi;
    }
    r.p = std::max(r.p, abs_bits(pi));
    r.s[0] = std::max(r.s[0], abs_bits(mi));
    r.s[1] = std::max(r.s[1], abs_bits(vi));
  }
  return r;
}

// torch.optim.RMSprop: square_avg = rho sq + (1 - rho) g^2; centered: grad_avg lerps towards
// g and the denominator is sqrt(sq - grad_avg^2) + eps; with momentum the buffer (starting at
// zero) accumulates g / denominator.
template <bool kCommit, bool kMomentum, bool kCentered, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> rmsprop_span(T* __restrict p, const T* __restrict g, T* __restrict sq,
                                           T* __restrict buf, T* __restrict ga, int64_t n, const StepScalars<T>& s) {
  Bits<T> mp = 0, msq = 0, mbuf = 0, mga = 0;
  const T keep = T(1) - s.rho;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + s.wd * p[i];
    const T vi = s.rho * sq[i] + keep * gi * gi;
    T avg;
    T ai = T(0);
    if constexpr (kCentered) {
      ai = ga[i] + keep * (gi - ga[i]);
      avg = std::sqrt(std::max(vi - ai * ai, T(0))) + s.eps;
    } else {
      avg = std::sqrt(std::max(vi, T(0))) + s.eps;
    }
    const T d = gi / avg;
    T bi = d;
    if constexpr (kMomentum) bi = s.mu * buf[i] + d;
    const T pi = p[i] - s.lr * bi;
    if constexpr (kCommit) {
      sq[i] = vi;
      if constexpr (kMomentum) buf[i] = bi;
      if constexpr (kCentered) ga[i] = ai;
      p[i] = pi;
    }
    mp = std::max(mp, abs_bits(pi));
    msq = std::max(msq, abs_bits(vi));
    if constexpr (kMomentum) mbuf = std::max(mbuf, abs_bits(bi));
    if constexpr (kCentered) mga = std::max(mga, abs_bits(ai));
  }
  SpanMax<T> r;
  r.p = mp;
  r.s[0] = msq;
  r.s[1] = kMomentum ? mbuf : mga;
  r.s[2] = kMomentum && kCentered ? mga : 0;
  return r;
}

// torch.optim.Adagrad (lr_decay 0): sum += g^2, p -= lr g / (sqrt(sum) + eps).
template <bool kCommit, typename T>
PYDL_ALWAYS_INLINE SpanMax<T> adagrad_span(T* __restrict p, const T* __restrict g, T* __restrict sum, int64_t n,
                                           const StepScalars<T>& s) {
  SpanMax<T> r;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + s.wd * p[i];
    const T si = sum[i] + gi * gi;
    const T pi = p[i] - s.lr * (gi / (std::sqrt(std::max(si, T(0))) + s.eps));
    if constexpr (kCommit) {
      sum[i] = si;
      p[i] = pi;
    }
    r.p = std::max(r.p, abs_bits(pi));
    r.s[0] = std::max(r.s[0], abs_bits(si));
  }
  return r;
}

}  // namespace pydl::optim_rules

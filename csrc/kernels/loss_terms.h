// The loss formulas of one output element or one class, shared by the CPU kernels
// (loss.cc, metrics.cc) and the CUDA kernels (cuda/loss.cu, cuda/metrics.cu), so that both
// backends compute each term from one definition. All in double, as the CPU rows are.
// min_of / max_of keep std::min / std::max's semantics (which operand wins a NaN comparison)
// and are usable on the device.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"
#include "kernels/loss.h"

namespace pydl::loss_terms {

template <typename T>
PYDL_HOST_DEVICE inline T max_of(T a, T b) {
  return a < b ? b : a;
}
template <typename T>
PYDL_HOST_DEVICE inline T min_of(T a, T b) {
  return b < a ? b : a;
}
// A probability as Keras reads it: clipped to [e, 1 - e].
PYDL_HOST_DEVICE inline double clip_prob(double x) {
  return min_of(max_of(x, kProbEpsilon), 1 - kProbEpsilon);
}
PYDL_HOST_DEVICE inline bool unclipped(double q) { return q >= kProbEpsilon && q <= 1 - kProbEpsilon; }

// softplus(x) = max(x, 0) + log1p(exp(-|x|)): stable for any x.
PYDL_HOST_DEVICE inline double softplus(double x) { return max_of(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
// Binary cross-entropy of logit x against target y (no weights): softplus(x) - x y.
PYDL_HOST_DEVICE inline double bce_from_logit(double x, double y) {
  return max_of(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
}
// Binary cross-entropy of probability x (clipped) against y.
PYDL_HOST_DEVICE inline double bce_from_prob(double x, double y) {
  const double p = clip_prob(x);
  return -(y * std::log(p) + (1 - y) * std::log(1 - p));
}

// A binary output's decision: logit > 0, or probability > 0.5 (the same point).
PYDL_HOST_DEVICE inline bool binary_positive(double x, bool from_logits) { return from_logits ? x > 0.0 : x > 0.5; }

// The loss l and its derivative d of one output x against target y for the elementwise kinds
// (binary cross-entropy, MSE, MAE), before weights. pw: binary's pos_weight (has_pw false:
// none, pw ignored).
struct Term {
  double l, d;
};
PYDL_HOST_DEVICE inline Term elementwise_term(LossKind kind, double x, double y, bool from_logits, bool has_pw,
                                              double pw) {
  switch (kind) {
    case LossKind::BinaryCrossEntropy: {
      if (!has_pw) pw = 1.0;
      if (!from_logits) {
        // -(pw y log p + (1 - y) log(1 - p)), p = clip(x, e, 1 - e); no gradient where clipped
        const double p = clip_prob(x);
        return {-(pw * y * std::log(p) + (1 - y) * std::log(1 - p)),
                unclipped(x) ? -pw * y / p + (1 - y) / (1 - p) : 0.0};
      }
      const double sig = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
      if (!has_pw) return {bce_from_logit(x, y), sig - y};
      // pw y softplus(-x) + (1 - y) softplus(x), softplus(-x) = softplus(x) - x
      const double sp = softplus(x);
      return {pw * y * (sp - x) + (1 - y) * sp, sig * (pw * y + 1 - y) - pw * y};
    }
    case LossKind::MSE: return {(x - y) * (x - y), 2.0 * (x - y)};
    default:  // MAE; sign(0) = 0 as in PyTorch
      return {std::abs(x - y), x > y ? 1.0 : (x < y ? -1.0 : 0.0)};
  }
}

// The softmax family's coefficient of -log p_c (see softmax_family_rows in loss.cc):
//   sparse:      (1 - eps) w_y [c == y] + eps / C w_c;   categorical: (1 - eps) t_c + eps / C.
PYDL_HOST_DEVICE inline double softmax_beta(bool sparse, double eps, int64_t classes, double t_c, double w_c,
                                            double wy, bool is_y) {
  if (!sparse) return (1 - eps) * t_c + eps / double(classes);
  return (1 - eps) * wy * (is_y ? 1.0 : 0.0) + eps / double(classes) * w_c;
}

// Sparse cross-entropy from logits: d loss / d z_c before the sample weight, with p_c the
// softmax and weight_sum = sum_c w_c (the smoothing term's).
PYDL_HOST_DEVICE inline double cross_entropy_grad(double p, double wc, double wy, bool is_y, double eps,
                                                  int64_t classes, double weight_sum) {
  double d = (1 - eps) * wy * (p - (is_y ? 1.0 : 0.0));
  if (eps > 0) d += eps / double(classes) * (weight_sum * p - wc);
  return d;
}

}  // namespace pydl::loss_terms

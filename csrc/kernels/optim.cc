#include "kernels/optim.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

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
constexpr int64_t kParallelMin = 1 << 15;
}

template <typename T>
void optimizer_step(T* p, const T* g, T* s0, T* s1, int64_t n, const OptimizerConfig& c,
                    int64_t step) {
  const T lr = T(c.learning_rate), wd = T(c.weight_decay);
  if (c.kind == OptimizerKind::SGD) {
    const T mu = T(c.momentum);
    const bool first = step == 1;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      T d = g[i] + wd * p[i];
      if (mu > T(0)) {
        s0[i] = first ? d : mu * s0[i] + d;  // PyTorch: the buffer starts as the first gradient
        d = c.nesterov ? d + mu * s0[i] : s0[i];
      }
      p[i] -= lr * d;
    }
    return;
  }
  const T b1 = T(c.beta_1), b2 = T(c.beta_2), eps = T(c.epsilon);
  const double bc1 = 1.0 - std::pow(c.beta_1, double(step));
  const double bc2 = 1.0 - std::pow(c.beta_2, double(step));
  const T step_size = T(c.learning_rate / bc1);
  const T inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2));
  const bool decoupled = c.kind == OptimizerKind::AdamW;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i];
    if (decoupled) p[i] *= T(1) - lr * wd;
    else gi += wd * p[i];
    s0[i] = b1 * s0[i] + (T(1) - b1) * gi;
    s1[i] = b2 * s1[i] + (T(1) - b2) * gi * gi;
    const T denom = std::sqrt(s1[i]) * inv_sqrt_bc2 + eps;
    p[i] -= step_size * s0[i] / denom;
  }
}

template <typename T>
double global_norm(const T* g, int64_t n) {
  constexpr int64_t kMaxChunks = 256;
  const int64_t chunk = std::max<int64_t>(4096, (n + kMaxChunks - 1) / kMaxChunks);
  const int64_t chunks = (n + chunk - 1) / chunk;
  double partial[kMaxChunks + 1];
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * chunk, hi = std::min(n, lo + chunk);
    double s = 0;
    for (int64_t i = lo; i < hi; ++i) s += double(g[i]) * double(g[i]);
    partial[c] = s;
  }
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
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) g[i] *= s;
  }
  return norm;
}

#define PYDL_INSTANTIATE(T)                                                                 \
  template void optimizer_step<T>(T*, const T*, T*, T*, int64_t, const OptimizerConfig&,    \
                                  int64_t);                                                 \
  template double global_norm<T>(const T*, int64_t);                                        \
  template double clip_by_global_norm<T>(T*, int64_t, double);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl

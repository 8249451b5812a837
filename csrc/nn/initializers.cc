#include "nn/initializers.h"

#include <cmath>
#include <utility>
#include <vector>

#include "core/errors.h"

namespace pydl {
namespace {

const std::vector<std::pair<const char*, Init>>& init_names() {
  static const std::vector<std::pair<const char*, Init>> names{
      {"glorot_uniform", Init::GlorotUniform}, {"glorot_normal", Init::GlorotNormal},
      {"he_uniform", Init::HeUniform},         {"he_normal", Init::HeNormal},
      {"lecun_uniform", Init::LecunUniform},   {"lecun_normal", Init::LecunNormal},
      {"orthogonal", Init::Orthogonal},        {"zeros", Init::Zeros},
      {"ones", Init::Ones},                    {"random_normal", Init::RandomNormal},
      {"random_uniform", Init::RandomUniform}};
  return names;
}

constexpr double kTwoPi = 6.283185307179586;
// The standard deviation of a standard normal truncated to [-2, 2] (Keras' constant).
constexpr double kTruncatedStd = 0.87962566103423978;

// Box-Muller from two draws at counters 2c and 2c + 1.
double normal_at(const CounterRng& rng, uint64_t c) {
  const double u1 = 1.0 - rng.uniform_double(2 * c), u2 = rng.uniform_double(2 * c + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

// A standard normal truncated to [-2, 2] by rejection: element i tries counters i * 64 + k.
// The chance that 64 tries all fail is 0.0455^64: never, in practice (then 0).
double truncated_normal_at(const CounterRng& rng, uint64_t i) {
  for (uint64_t k = 0; k < 64; ++k) {
    const double v = normal_at(rng, i * 64 + k);
    if (std::fabs(v) <= 2.0) return v;
  }
  return 0.0;
}

// Rows (or columns, whichever are fewer) orthonormal: Gram-Schmidt over Gaussian draws.
void orthogonal_init(real* w, int64_t rows, int64_t cols, const CounterRng& rng) {
  const bool by_rows = rows <= cols;
  const int64_t count = by_rows ? rows : cols, len = by_rows ? cols : rows;
  std::vector<double> v(count * len);
  for (int64_t i = 0; i < count * len; ++i) v[i] = normal_at(rng, uint64_t(i));
  for (int64_t a = 0; a < count; ++a) {
    double* va = v.data() + a * len;
    for (int64_t b = 0; b < a; ++b) {
      const double* vb = v.data() + b * len;
      double dot = 0;
      for (int64_t k = 0; k < len; ++k) dot += va[k] * vb[k];
      for (int64_t k = 0; k < len; ++k) va[k] -= dot * vb[k];
    }
    double norm = 0;
    for (int64_t k = 0; k < len; ++k) norm += va[k] * va[k];
    norm = std::sqrt(norm);
    for (int64_t k = 0; k < len; ++k) va[k] /= norm;
  }
  for (int64_t a = 0; a < count; ++a)
    for (int64_t k = 0; k < len; ++k) (by_rows ? w[a * cols + k] : w[k * cols + a]) = real(v[a * len + k]);
}

// Keras' compute_fans.
std::pair<double, double> fans(const ParamSpec& s, int64_t size) {
  if (s.fan_in > 0 && s.fan_out > 0) return {double(s.fan_in), double(s.fan_out)};
  const Shape& d = s.shape;
  if (d.size() == 1) return {double(d[0]), double(d[0])};
  if (d.size() == 2) return {double(d[0]), double(d[1])};
  const double receptive = double(size) / double(d[d.size() - 1] * d[d.size() - 2]);
  return {double(d[d.size() - 2]) * receptive, double(d[d.size() - 1]) * receptive};
}

}  // namespace

Init parse_init(const std::string& name, const std::string& owner) {
  std::string known;
  for (const auto& [n, init] : init_names()) {
    if (name == n) return init;
    known += std::string(known.empty() ? "" : ", ") + n;
  }
  throw ValueError(owner + ": unknown initializer '" + name + "' (expected one of " + known + ")");
}

void fill_init(real* w, int64_t size, const ParamSpec& spec, const CounterRng& rng) {
  // Keras' VarianceScaling family: (scale, fan_avg?, uniform?).
  struct Scaling { double scale; bool fan_avg, uniform; };
  Scaling vs{0.0, false, true};
  switch (spec.init) {
    case Init::Zeros:
      for (int64_t i = 0; i < size; ++i) w[i] = 0.0f;
      break;
    case Init::Ones:
      for (int64_t i = 0; i < size; ++i) w[i] = 1.0f;
      break;
    case Init::RandomUniform:
      for (int64_t i = 0; i < size; ++i) w[i] = real((2.0 * rng.uniform_double(uint64_t(i)) - 1.0) * 0.05);
      break;
    case Init::RandomNormal:
      for (int64_t i = 0; i < size; ++i) w[i] = real(0.05 * normal_at(rng, uint64_t(i)));
      break;
    case Init::Orthogonal: {
      const int64_t cols = spec.shape.back();
      orthogonal_init(w, size / cols, cols, rng);
      break;
    }
    case Init::GlorotUniform: vs = {1.0, true, true}; break;
    case Init::GlorotNormal: vs = {1.0, true, false}; break;
    case Init::HeUniform: vs = {2.0, false, true}; break;
    case Init::HeNormal: vs = {2.0, false, false}; break;
    case Init::LecunUniform: vs = {1.0, false, true}; break;
    case Init::LecunNormal: vs = {1.0, false, false}; break;
  }
  if (vs.scale > 0.0) {
    const auto [fan_in, fan_out] = fans(spec, size);
    const double n = vs.fan_avg ? 0.5 * (fan_in + fan_out) : fan_in;
    if (vs.uniform) {
      const double limit = std::sqrt(3.0 * vs.scale / n);
      for (int64_t i = 0; i < size; ++i) w[i] = real((2.0 * rng.uniform_double(uint64_t(i)) - 1.0) * limit);
    } else {
      const double stddev = std::sqrt(vs.scale / n) / kTruncatedStd;
      for (int64_t i = 0; i < size; ++i) w[i] = real(stddev * truncated_normal_at(rng, uint64_t(i)));
    }
  }
  if (spec.forget_ones)
    for (int64_t i = size / 4; i < size / 2; ++i) w[i] = 1.0f;
}

}  // namespace pydl

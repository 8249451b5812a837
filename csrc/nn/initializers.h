// Weight initialisers, Keras' names and default scales. fan_in / fan_out come from the shape
// as Keras computes them (1-D: both the size; 2-D (in, out); k-D: the last two axes times the
// receptive field), unless the layer gave them. With scale s and n = fan_in (he: s = 2,
// lecun: s = 1) or (fan_in + fan_out) / 2 (glorot: s = 1):
//   *_uniform  U(-limit, limit), limit = sqrt(3 s / n)
//   *_normal   a normal truncated at two standard deviations, stddev sqrt(s / n) / 0.8796..
//              (so that the variance is s / n, as Keras' VarianceScaling)
//   orthogonal the flattened (prod(shape[:-1]), shape[-1]) matrix has orthonormal rows or
//              columns, whichever are fewer (gain 1)
//   random_normal N(0, 0.05^2); random_uniform U(-0.05, 0.05); zeros; ones.
// Every value is a pure function of (seed, stream, index): no dependence on threads.
#pragma once
#include <cstdint>
#include <string>

#include "core/rng.h"
#include "nn/layer.h"

namespace pydl {

// "glorot_uniform" -> Init::GlorotUniform; ValueError naming `owner` and the choices otherwise.
Init parse_init(const std::string& name, const std::string& owner);

// Fills the `size` values of weight `spec` from rng.
void fill_init(real* w, int64_t size, const ParamSpec& spec, const CounterRng& rng);

}  // namespace pydl

// Inverted dropout: in training each element is kept with probability 1 - rate and scaled
// by 1 / (1 - rate). The keep mask is a pure function of (seed, stream, counter + index), with
// counter = (clock.now() << 32) + offset: the same whatever the thread count, and a queued
// step's clock is read where the kernel runs.
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "core/view.h"
#include "kernels/step_results.h"

namespace pydl {

template <typename T>
void dropout_forward(Matrix<T> y, uint8_t* mask, Matrix<const T> x, double rate,
                     const CounterRng& rng, StepClock clock, uint64_t offset);

template <typename T>
void dropout_backward(Matrix<T> dx, Matrix<const T> dy, const uint8_t* mask, double rate);

}  // namespace pydl

// Metrics accumulated in C++ across batches: counts of correct predictions.
#pragma once
#include <cstdint>

#include "core/view.h"
#include "kernels/loss.h"

namespace pydl {

struct AccuracyCount {
  int64_t correct = 0;
  int64_t total = 0;
};

// Cross-entropy: argmax(logits) == label per row. Binary: (logit > 0) == (target > 0.5) per
// element. Regression losses have no accuracy (total stays 0).
template <typename T>
AccuracyCount accuracy_count(Matrix<const T> logits, const int32_t* labels,
                             Matrix<const T> targets, LossKind kind);

}  // namespace pydl

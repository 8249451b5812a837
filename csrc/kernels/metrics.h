// Metrics accumulated in C++ across batches: counts of correct predictions. Outputs are
// logits (from_logits) or probabilities: a binary decision is logit > 0 or probability > 0.5,
// a class is the argmax either way; log_loss reads probabilities as the loss does (clipped).
// On the device (cuda/metrics.cu) both entries synchronise the stream once to read the batch's
// counters back into the host structs.
#pragma once
#include <cstdint>
#include <vector>

#include "core/view.h"
#include "kernels/loss.h"

namespace pydl {

struct AccuracyCount {
  int64_t correct = 0;
  int64_t total = 0;
};

// Cross-entropy: argmax(logits) == label per row (categorical: == argmax(target)). Binary:
// (logit > 0) == (target > 0.5) per element. Regression losses have no accuracy (total 0).
// row_mask (softmax losses): rows whose entry is 0 (padded steps of a sequence) are skipped.
template <typename T>
AccuracyCount accuracy_count(Matrix<const T> logits, const int32_t* labels,
                             Matrix<const T> targets, LossKind kind, bool from_logits = true,
                             const uint8_t* row_mask = nullptr);

// What an epoch or an evaluation accumulates beyond the loss, chosen by the compiled metrics.
struct MetricSpec {
  bool confusion = false;  // classes x classes counts (binary: 2 x 2 over elements)
  int64_t top_k = 0;       // cross-entropy: label among the k largest logits (0: off)
  bool regression = false; // sums for mse, mae, r2
  bool log_loss = false;   // unweighted, unsmoothed negative log-likelihood
};

struct MetricSums {
  std::vector<int64_t> confusion;  // row = true class, column = predicted
  int64_t top_k_correct = 0, top_k_total = 0;
  double sq_err = 0, abs_err = 0, sum_t = 0, sum_t2 = 0;
  int64_t count = 0;               // regression elements
  double nll = 0;
  int64_t nll_count = 0;
};

// Adds one batch to sums (sums.confusion is sized here on first use); row_mask as above.
template <typename T>
void accumulate_metrics(MetricSums& sums, const MetricSpec& spec, Matrix<const T> logits, const int32_t* labels,
                        Matrix<const T> targets, LossKind kind, bool from_logits = true,
                        const uint8_t* row_mask = nullptr);

}  // namespace pydl

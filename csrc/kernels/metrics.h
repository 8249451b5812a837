// Metrics accumulated in C++ across batches: counts of correct predictions. Outputs are
// logits (from_logits) or probabilities: a binary decision is logit > 0 or probability > 0.5,
// a class is the argmax either way; log_loss reads probabilities as the loss does (clipped).
// On the device (cuda/metrics.cu) accuracy_count and accumulate_metrics synchronise the stream
// once to read the batch's counters back into the host structs; metrics_into does not.
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

// A head's accuracy and metric sums as doubles (counts are exact below 2**53), for
// metrics_into: kMetricFields values, then the confusion matrix's cells (row-major).
namespace metric_fields {
constexpr int64_t kCorrect = 0, kTotal = 1, kTopKCorrect = 2, kTopKTotal = 3, kSqErr = 4, kAbsErr = 5, kSumT = 6,
                  kSumT2 = 7, kCount = 8, kNll = 9, kNllCount = 10, kConfusion = 11;
}
constexpr int64_t kMetricFields = metric_fields::kConfusion;
// The confusion matrix's cells for a head (0 unless spec.confusion on a classification loss):
// classes x classes, binary 2 x 2.
inline int64_t confusion_cells(const MetricSpec& spec, LossKind kind, int64_t cols) {
  if (!spec.confusion || !is_classification(kind)) return 0;
  const int64_t classes = is_softmax_loss(kind) ? cols : 2;
  return classes * classes;
}
// The flat form and back (sums.confusion sized by `cells`).
void metric_sums_to_flat(const AccuracyCount& a, const MetricSums& s, double* flat, int64_t cells);
void metric_sums_from_flat(const double* flat, int64_t cells, AccuracyCount& a, MetricSums& s);

// accuracy_count and accumulate_metrics of one batch, added to `sums` (the flat form above,
// kMetricFields + confusion_cells(spec, kind, logits.cols) doubles, on the device), queued
// without waiting for the device; nothing is added once `block` (step_results.h) says
// training stopped. The same counts as the two entries, in the same order on the CPU.
template <typename T>
void metrics_into(double* sums, const double* block, const MetricSpec& spec, Matrix<const T> logits,
                  const int32_t* labels, Matrix<const T> targets, LossKind kind, bool from_logits,
                  const uint8_t* row_mask);

}  // namespace pydl

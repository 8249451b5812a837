#include "kernels/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "kernels/loss_terms.h"
#include "kernels/step_results.h"

namespace pydl {

namespace {

// First maximum wins, as numpy's argmax.
template <typename T>
int64_t argmax(const T* v, int64_t n) {
  int64_t best = 0;
  for (int64_t c = 1; c < n; ++c)
    if (v[c] > v[best]) best = c;
  return best;
}

// The class of row i: its label (sparse) or its target's argmax (categorical).
template <typename T>
int64_t true_class(LossKind kind, const int32_t* labels, Matrix<const T> t, int64_t i) {
  return kind == LossKind::CrossEntropy ? int64_t(labels[i]) : argmax(t.row(i), t.cols);
}

// A binary output's decision (loss_terms::binary_positive: float compares exactly in double).
template <typename T>
bool positive(T x, bool from_logits) {
  return loss_terms::binary_positive(double(x), from_logits);
}

}  // namespace

template <typename T>
AccuracyCount accuracy_count(Matrix<const T> z, const int32_t* labels, Matrix<const T> t,
                             LossKind kind, bool from_logits, const uint8_t* row_mask) {
  PYDL_DEVICE_DISPATCH(accuracy_count, z, labels, t, kind, from_logits, row_mask);
  AccuracyCount r;
  if (is_softmax_loss(kind)) {
    for (int64_t i = 0; i < z.rows; ++i) {
      if (row_mask && !row_mask[i]) continue;
      r.correct += argmax(z.row(i), z.cols) == true_class(kind, labels, t, i);
      ++r.total;
    }
  } else if (kind == LossKind::BinaryCrossEntropy) {
    for (int64_t i = 0; i < z.size(); ++i) r.correct += positive(z.data[i], from_logits) == (t.data[i] > T(0.5));
    r.total = z.size();
  }
  return r;
}

template <typename T>
void accumulate_metrics(MetricSums& s, const MetricSpec& spec, Matrix<const T> z, const int32_t* labels,
                        Matrix<const T> t, LossKind kind, bool from_logits, const uint8_t* row_mask) {
  PYDL_DEVICE_DISPATCH(accumulate_metrics, s, spec, z, labels, t, kind, from_logits, row_mask);
  if (!spec.confusion && spec.top_k == 0 && !spec.regression && !spec.log_loss) return;
  const bool ce = is_softmax_loss(kind), bce = kind == LossKind::BinaryCrossEntropy;
  const int64_t classes = ce ? z.cols : 2;
  if (spec.confusion && (ce || bce) && s.confusion.empty()) s.confusion.assign(classes * classes, 0);
  if (ce) {
    for (int64_t i = 0; i < z.rows; ++i) {
      if (row_mask && !row_mask[i]) continue;
      const T* zi = z.row(i);
      const int64_t y = true_class(kind, labels, t, i);
      int64_t above = 0;
      if (spec.confusion) ++s.confusion[y * classes + argmax(zi, z.cols)];
      if (spec.top_k > 0) {
        for (int64_t c = 0; c < z.cols; ++c) above += zi[c] > zi[y];
        s.top_k_correct += above < spec.top_k;
        ++s.top_k_total;
      }
      if (spec.log_loss) {
        // -sum_c t_c log p_c (t one-hot for labels); p from logits, or normalised and clipped
        // probabilities as the loss reads them.
        double m = zi[0], sum = 0;
        if (from_logits) {
          for (int64_t c = 1; c < z.cols; ++c) m = std::max(m, double(zi[c]));
          for (int64_t c = 0; c < z.cols; ++c) sum += std::exp(double(zi[c]) - m);
        } else {
          for (int64_t c = 0; c < z.cols; ++c) sum += double(zi[c]);
        }
        auto neg_log_p = [&](int64_t c) {
          return from_logits ? std::log(sum) + m - double(zi[c])
                             : -std::log(loss_terms::clip_prob(double(zi[c]) / sum));
        };
        if (kind == LossKind::CrossEntropy) {
          s.nll += neg_log_p(y);
        } else {
          for (int64_t c = 0; c < z.cols; ++c)
            if (t.row(i)[c] != T(0)) s.nll += double(t.row(i)[c]) * neg_log_p(c);
        }
        ++s.nll_count;
      }
    }
  } else if (bce) {
    for (int64_t i = 0; i < z.size(); ++i) {
      const double x = z.data[i], y = t.data[i];
      if (spec.confusion) ++s.confusion[(y > 0.5 ? 2 : 0) + (positive(z.data[i], from_logits) ? 1 : 0)];
      if (spec.log_loss) {
        s.nll += from_logits ? loss_terms::bce_from_logit(x, y) : loss_terms::bce_from_prob(x, y);
        ++s.nll_count;
      }
    }
  }
  if (spec.regression) {
    for (int64_t i = 0; i < z.size(); ++i) {
      const double d = double(z.data[i]) - double(t.data[i]);
      s.sq_err += d * d;
      s.abs_err += std::abs(d);
      s.sum_t += t.data[i];
      s.sum_t2 += double(t.data[i]) * double(t.data[i]);
    }
    s.count += z.size();
  }
}

void metric_sums_to_flat(const AccuracyCount& a, const MetricSums& s, double* f, int64_t cells) {
  using namespace metric_fields;
  f[kCorrect] = double(a.correct);
  f[kTotal] = double(a.total);
  f[kTopKCorrect] = double(s.top_k_correct);
  f[kTopKTotal] = double(s.top_k_total);
  f[kSqErr] = s.sq_err;
  f[kAbsErr] = s.abs_err;
  f[kSumT] = s.sum_t;
  f[kSumT2] = s.sum_t2;
  f[kCount] = double(s.count);
  f[kNll] = s.nll;
  f[kNllCount] = double(s.nll_count);
  for (int64_t k = 0; k < cells; ++k) f[kConfusion + k] = k < int64_t(s.confusion.size()) ? double(s.confusion[k]) : 0.0;
}

void metric_sums_from_flat(const double* f, int64_t cells, AccuracyCount& a, MetricSums& s) {
  using namespace metric_fields;
  a.correct = int64_t(f[kCorrect]);
  a.total = int64_t(f[kTotal]);
  s.top_k_correct = int64_t(f[kTopKCorrect]);
  s.top_k_total = int64_t(f[kTopKTotal]);
  s.sq_err = f[kSqErr];
  s.abs_err = f[kAbsErr];
  s.sum_t = f[kSumT];
  s.sum_t2 = f[kSumT2];
  s.count = int64_t(f[kCount]);
  s.nll = f[kNll];
  s.nll_count = int64_t(f[kNllCount]);
  s.confusion.assign(size_t(cells), 0);
  for (int64_t k = 0; k < cells; ++k) s.confusion[size_t(k)] = int64_t(f[kConfusion + k]);
}

template <typename T>
void metrics_into(double* sums, const double* block, const MetricSpec& spec, Matrix<const T> z,
                  const int32_t* labels, Matrix<const T> t, LossKind kind, bool from_logits,
                  const uint8_t* row_mask) {
  PYDL_DEVICE_DISPATCH(metrics_into, sums, block, spec, z, labels, t, kind, from_logits, row_mask);
  if (!step_results::running(block)) return;
  const int64_t cells = confusion_cells(spec, kind, z.cols);
  AccuracyCount a;
  MetricSums s;
  metric_sums_from_flat(sums, cells, a, s);
  if (cells == 0) s.confusion.clear();  // accumulate_metrics sizes it on first use
  const AccuracyCount batch = accuracy_count<T>(z, labels, t, kind, from_logits, row_mask);
  a.correct += batch.correct;
  a.total += batch.total;
  accumulate_metrics<T>(s, spec, z, labels, t, kind, from_logits, row_mask);
  metric_sums_to_flat(a, s, sums, cells);
}

template void metrics_into<float>(double*, const double*, const MetricSpec&, Matrix<const float>, const int32_t*,
                                  Matrix<const float>, LossKind, bool, const uint8_t*);
template void metrics_into<double>(double*, const double*, const MetricSpec&, Matrix<const double>, const int32_t*,
                                   Matrix<const double>, LossKind, bool, const uint8_t*);

template void accumulate_metrics<float>(MetricSums&, const MetricSpec&, Matrix<const float>, const int32_t*,
                                        Matrix<const float>, LossKind, bool, const uint8_t*);
template void accumulate_metrics<double>(MetricSums&, const MetricSpec&, Matrix<const double>, const int32_t*,
                                         Matrix<const double>, LossKind, bool, const uint8_t*);

template AccuracyCount accuracy_count<float>(Matrix<const float>, const int32_t*,
                                             Matrix<const float>, LossKind, bool, const uint8_t*);
template AccuracyCount accuracy_count<double>(Matrix<const double>, const int32_t*,
                                              Matrix<const double>, LossKind, bool, const uint8_t*);

}  // namespace pydl

#include "kernels/metrics.h"

#include <algorithm>
#include <cmath>

namespace pydl {

template <typename T>
AccuracyCount accuracy_count(Matrix<const T> z, const int32_t* labels, Matrix<const T> t,
                             LossKind kind) {
  AccuracyCount r;
  if (kind == LossKind::CrossEntropy) {
    for (int64_t i = 0; i < z.rows; ++i) {
      const T* zi = z.row(i);
      int64_t best = 0;
      for (int64_t c = 1; c < z.cols; ++c)
        if (zi[c] > zi[best]) best = c;  // first maximum wins, as numpy's argmax
      r.correct += best == labels[i];
    }
    r.total = z.rows;
  } else if (kind == LossKind::BinaryCrossEntropy) {
    for (int64_t i = 0; i < z.size(); ++i) r.correct += (z.data[i] > T(0)) == (t.data[i] > T(0.5));
    r.total = z.size();
  }
  return r;
}

template <typename T>
void accumulate_metrics(MetricSums& s, const MetricSpec& spec, Matrix<const T> z, const int32_t* labels,
                        Matrix<const T> t, LossKind kind) {
  if (!spec.confusion && spec.top_k == 0 && !spec.regression && !spec.log_loss) return;
  const bool ce = kind == LossKind::CrossEntropy, bce = kind == LossKind::BinaryCrossEntropy;
  const int64_t classes = ce ? z.cols : 2;
  if (spec.confusion && (ce || bce) && s.confusion.empty()) s.confusion.assign(classes * classes, 0);
  if (ce) {
    for (int64_t i = 0; i < z.rows; ++i) {
      const T* zi = z.row(i);
      const int32_t y = labels[i];
      int64_t best = 0, above = 0;
      for (int64_t c = 1; c < z.cols; ++c)
        if (zi[c] > zi[best]) best = c;
      if (spec.confusion) ++s.confusion[y * classes + best];
      if (spec.top_k > 0) {
        for (int64_t c = 0; c < z.cols; ++c) above += zi[c] > zi[y];
        s.top_k_correct += above < spec.top_k;
        ++s.top_k_total;
      }
      if (spec.log_loss) {
        double m = zi[0], sum = 0;
        for (int64_t c = 1; c < z.cols; ++c) m = std::max(m, double(zi[c]));
        for (int64_t c = 0; c < z.cols; ++c) sum += std::exp(double(zi[c]) - m);
        s.nll += std::log(sum) + m - double(zi[y]);
        ++s.nll_count;
      }
    }
  } else if (bce) {
    for (int64_t i = 0; i < z.size(); ++i) {
      const double x = z.data[i], y = t.data[i];
      if (spec.confusion) ++s.confusion[(y > 0.5 ? 2 : 0) + (x > 0 ? 1 : 0)];
      if (spec.log_loss) {
        s.nll += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
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

template void accumulate_metrics<float>(MetricSums&, const MetricSpec&, Matrix<const float>, const int32_t*,
                                        Matrix<const float>, LossKind);
template void accumulate_metrics<double>(MetricSums&, const MetricSpec&, Matrix<const double>, const int32_t*,
                                         Matrix<const double>, LossKind);

template AccuracyCount accuracy_count<float>(Matrix<const float>, const int32_t*,
                                             Matrix<const float>, LossKind);
template AccuracyCount accuracy_count<double>(Matrix<const double>, const int32_t*,
                                              Matrix<const double>, LossKind);

}  // namespace pydl

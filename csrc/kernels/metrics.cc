#include "kernels/metrics.h"

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

template AccuracyCount accuracy_count<float>(Matrix<const float>, const int32_t*,
                                             Matrix<const float>, LossKind);
template AccuracyCount accuracy_count<double>(Matrix<const double>, const int32_t*,
                                              Matrix<const double>, LossKind);

}  // namespace pydl

#include "kernels/loss.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/parallel.h"

namespace pydl {

LossKind parse_loss(const std::string& name) {
  if (name == "cross_entropy" || name == "sparse_categorical_crossentropy")
    return LossKind::CrossEntropy;
  if (name == "binary_cross_entropy" || name == "binary_crossentropy")
    return LossKind::BinaryCrossEntropy;
  if (name == "mse" || name == "mean_squared_error") return LossKind::MSE;
  if (name == "mae" || name == "mean_absolute_error") return LossKind::MAE;
  throw ValueError("unknown loss '" + name +
                   "': expected one of cross_entropy, binary_cross_entropy, mse, mae");
}

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::CrossEntropy: return "cross_entropy";
    case LossKind::BinaryCrossEntropy: return "binary_cross_entropy";
    case LossKind::MSE: return "mse";
    case LossKind::MAE: return "mae";
  }
  return "?";
}

namespace {

// Row r's loss (already weighted) and weight go to ws[2r], ws[2r+1]; the gradient is left
// unnormalised, then scaled by 1 / total weight once the total is known.
template <typename T>
void cross_entropy_rows(Matrix<T> g, double* ws, Matrix<const T> z, const int32_t* labels,
                        const LossArgs<T>& a) {
  const int64_t rows = z.rows, classes = z.cols;
  const double eps = a.label_smoothing;
  double weight_sum = 0;  // sum_c w_c, for the smoothing term
  for (int64_t c = 0; c < classes; ++c) weight_sum += a.class_weights ? double(a.class_weights[c]) : 1.0;
  parallel_range(rows, std::max<int64_t>(1, (1 << 13) / classes), [&](int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    const T* zi = z.row(i);
    const int32_t y = labels[i];
    double m = zi[0];
    for (int64_t c = 1; c < classes; ++c) m = std::max(m, double(zi[c]));
    double s = 0;
    for (int64_t c = 0; c < classes; ++c) s += std::exp(double(zi[c]) - m);
    const double log_s = std::log(s) + m;  // log-sum-exp
    const double wy = a.class_weights ? double(a.class_weights[y]) : 1.0;
    double smooth = 0;  // -sum_c w_c log p_c
    if (eps > 0)
      for (int64_t c = 0; c < classes; ++c)
        smooth -= (a.class_weights ? double(a.class_weights[c]) : 1.0) * (double(zi[c]) - log_s);
    const double nll = log_s - double(zi[y]);
    const double sw = a.sample_weights ? double(a.sample_weights[i]) : 1.0;
    ws[2 * i] = sw * ((1 - eps) * wy * nll + eps / double(classes) * smooth);
    ws[2 * i + 1] = sw * wy;
    if (g.data) {
      T* gi = g.row(i);
      for (int64_t c = 0; c < classes; ++c) {
        const double p = std::exp(double(zi[c]) - log_s);
        const double wc = a.class_weights ? double(a.class_weights[c]) : 1.0;
        double d = (1 - eps) * wy * (p - (c == y ? 1.0 : 0.0));
        if (eps > 0) d += eps / double(classes) * (weight_sum * p - wc);
        gi[c] = T(sw * d);
      }
    }
  }
  });
}

template <typename T>
void elementwise_rows(Matrix<T> g, double* ws, Matrix<const T> z, Matrix<const T> t,
                      const LossArgs<T>& a) {
  const int64_t rows = z.rows, cols = z.cols;
  parallel_range(rows, std::max<int64_t>(1, (1 << 13) / cols), [&](int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    const T* zi = z.row(i);
    const T* ti = t.row(i);
    T* gi = g.data ? g.row(i) : nullptr;
    const double sw = a.sample_weights ? double(a.sample_weights[i]) : 1.0;
    double loss = 0, weight = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double x = zi[j], y = ti[j];
      double l, d, w = 1.0;
      switch (a.kind) {
        case LossKind::BinaryCrossEntropy: {
          if (a.class_weights) w = a.class_weights[y > 0.5 ? 1 : 0];
          // max(x, 0) - x y + log(1 + exp(-|x|)): stable for any x
          l = std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
          const double sig = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
          d = sig - y;
          break;
        }
        case LossKind::MSE:
          l = (x - y) * (x - y);
          d = 2.0 * (x - y);
          break;
        default:  // MAE; sign(0) = 0 as in PyTorch
          l = std::abs(x - y);
          d = x > y ? 1.0 : (x < y ? -1.0 : 0.0);
          break;
      }
      w *= sw;
      loss += w * l;
      weight += w;
      if (gi) gi[j] = T(w * d);
    }
    ws[2 * i] = loss;
    ws[2 * i + 1] = weight;
  }
  });
}

}  // namespace

template <typename T>
double loss_forward_backward(Matrix<T> dlogits, double* ws, Matrix<const T> logits,
                             const int32_t* labels, Matrix<const T> targets,
                             const LossArgs<T>& args) {
  if (logits.rows == 0) throw ValueError("loss: empty batch");
  if (logits.cols < 1) throw ValueError("loss: logits have no columns");
  if (args.kind == LossKind::CrossEntropy)
    cross_entropy_rows(dlogits, ws, logits, labels, args);
  else
    elementwise_rows(dlogits, ws, logits, targets, args);
  // Serial sum in row order: the same result whatever the thread count.
  double loss = 0, weight = 0;
  for (int64_t i = 0; i < logits.rows; ++i) { loss += ws[2 * i]; weight += ws[2 * i + 1]; }
  if (weight == 0 && args.sample_weights) {  // every sample of the batch weighted out
    if (dlogits.data) std::fill(dlogits.data, dlogits.data + dlogits.size(), T(0));
    return 0.0;
  }
  if (!(weight > 0)) throw ValueError("loss: the weights of this batch sum to zero");
  if (dlogits.data) {
    const T inv = T(1.0 / weight);
    parallel_range(dlogits.size(), 1 << 15, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) dlogits.data[i] *= inv;
    });
  }
  return loss / weight;
}

template double loss_forward_backward<float>(Matrix<float>, double*, Matrix<const float>,
                                             const int32_t*, Matrix<const float>,
                                             const LossArgs<float>&);
template double loss_forward_backward<double>(Matrix<double>, double*, Matrix<const double>,
                                              const int32_t*, Matrix<const double>,
                                              const LossArgs<double>&);

}  // namespace pydl

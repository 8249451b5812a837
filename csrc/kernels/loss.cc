#include "kernels/loss.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "kernels/loss_terms.h"

namespace pydl {

LossKind parse_loss(const std::string& name) {
  if (name == "cross_entropy" || name == "sparse_categorical_crossentropy")
    return LossKind::CrossEntropy;
  if (name == "categorical_crossentropy" || name == "categorical_cross_entropy")
    return LossKind::CategoricalCrossEntropy;
  if (name == "binary_cross_entropy" || name == "binary_crossentropy")
    return LossKind::BinaryCrossEntropy;
  if (name == "mse" || name == "mean_squared_error") return LossKind::MSE;
  if (name == "mae" || name == "mean_absolute_error") return LossKind::MAE;
  if (name == "custom") return LossKind::Custom;
  throw ValueError("unknown loss '" + name +
                   "': expected one of cross_entropy (sparse_categorical_crossentropy), "
                   "categorical_crossentropy, binary_cross_entropy, mse, mae");
}

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::CrossEntropy: return "cross_entropy";
    case LossKind::CategoricalCrossEntropy: return "categorical_crossentropy";
    case LossKind::BinaryCrossEntropy: return "binary_cross_entropy";
    case LossKind::MSE: return "mse";
    case LossKind::MAE: return "mae";
    case LossKind::Custom: return "custom";
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
        gi[c] = T(sw * loss_terms::cross_entropy_grad(p, wc, wy, c == y, eps, classes, weight_sum));
      }
    }
  }
  });
}

// The general softmax-family row: loss = sum_c beta_c (-log p_c) with
//   sparse:      beta_c = (1 - eps) w_y [c == y] + eps / C w_c, row weight w_y (as above);
//   categorical: beta_c = (1 - eps) t_c + eps / C,             row weight 1.
// From logits, -log p_c = lse - z_c and d/dz_k = B softmax_k - beta_k (B = sum beta). From
// probabilities x (Keras): q = x / sum(x), p = clip(q, e, 1 - e); with a_c = beta_c [q_c
// unclipped] / p_c, d/dx_k = (sum_c a_c q_c - a_k) / sum(x).
template <typename T>
void softmax_family_rows(Matrix<T> g, double* ws, Matrix<const T> z, const int32_t* labels, Matrix<const T> t,
                         const LossArgs<T>& a) {
  const int64_t rows = z.rows, classes = z.cols;
  const double eps = a.label_smoothing;
  const bool sparse = a.kind == LossKind::CrossEntropy;
  parallel_range(rows, std::max<int64_t>(1, (1 << 13) / classes), [&](int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    const T* zi = z.row(i);
    const T* ti = sparse ? nullptr : t.row(i);
    const int32_t y = sparse ? labels[i] : 0;
    const double wy = sparse && a.class_weights ? double(a.class_weights[y]) : 1.0;
    auto beta = [&](int64_t c) {
      return loss_terms::softmax_beta(sparse, eps, classes, sparse ? 0.0 : double(ti[c]),
                                      sparse && a.class_weights ? double(a.class_weights[c]) : 1.0, wy, c == y);
    };
    const double sw = a.sample_weights ? double(a.sample_weights[i]) : 1.0;
    double loss = 0;
    T* gi = g.data ? g.row(i) : nullptr;
    if (a.from_logits) {
      double m = zi[0];
      for (int64_t c = 1; c < classes; ++c) m = std::max(m, double(zi[c]));
      double s = 0;
      for (int64_t c = 0; c < classes; ++c) s += std::exp(double(zi[c]) - m);
      const double log_s = std::log(s) + m;
      double B = 0;
      for (int64_t c = 0; c < classes; ++c) {
        const double b = beta(c);
        loss += b * (log_s - double(zi[c]));
        B += b;
      }
      if (gi)
        for (int64_t c = 0; c < classes; ++c) gi[c] = T(sw * (B * std::exp(double(zi[c]) - log_s) - beta(c)));
    } else {
      double s = 0;
      for (int64_t c = 0; c < classes; ++c) s += double(zi[c]);
      double A = 0;  // sum_c a_c q_c
      for (int64_t c = 0; c < classes; ++c) {
        const double q = double(zi[c]) / s, p = loss_terms::clip_prob(q), b = beta(c);
        loss -= b * std::log(p);
        if (loss_terms::unclipped(q)) A += b / p * q;
      }
      if (gi)
        for (int64_t c = 0; c < classes; ++c) {
          const double q = double(zi[c]) / s, p = loss_terms::clip_prob(q);
          const double ac = loss_terms::unclipped(q) ? beta(c) / p : 0.0;
          gi[c] = T(sw * (A - ac) / s);
        }
    }
    ws[2 * i] = sw * loss;
    ws[2 * i + 1] = sw * wy;
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
      double w = 1.0;
      if (a.kind == LossKind::BinaryCrossEntropy && a.class_weights) w = a.class_weights[y > 0.5 ? 1 : 0];
      const bool has_pw = a.kind == LossKind::BinaryCrossEntropy && a.pos_weight != nullptr;
      const double pw = has_pw ? double(a.pos_weight[a.pos_weight_size == 1 ? 0 : j]) : 1.0;
      const auto [l, d] = loss_terms::elementwise_term(a.kind, x, y, a.from_logits, has_pw, pw);
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
  PYDL_DEVICE_DISPATCH(loss_forward_backward, dlogits, ws, logits, labels, targets, args);
  if (logits.rows == 0) throw ValueError("loss: empty batch");
  if (logits.cols < 1) throw ValueError("loss: logits have no columns");
  if (args.kind == LossKind::Custom) throw ValueError("loss: a custom loss runs through custom_loss_forward_backward");
  if (args.kind == LossKind::CrossEntropy && args.from_logits)
    cross_entropy_rows(dlogits, ws, logits, labels, args);
  else if (is_softmax_loss(args.kind))
    softmax_family_rows(dlogits, ws, logits, labels, targets, args);
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

template <typename T>
void loss_forward_backward_into(double* loss, double* block, Matrix<T> dlogits, double* ws,
                                Matrix<const T> logits, const int32_t* labels, Matrix<const T> targets,
                                const LossArgs<T>& args) {
  PYDL_DEVICE_DISPATCH(loss_forward_backward_into, loss, block, dlogits, ws, logits, labels, targets, args);
  *loss = loss_forward_backward<T>(dlogits, ws, logits, labels, targets, args);
}

template <typename T>
void scale_values(T* v, int64_t n, T factor) {
  PYDL_DEVICE_DISPATCH(scale_values, v, n, factor);
  parallel_range(n, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) v[i] *= factor;
  });
}

template <typename T>
void token_weights(T* out, const T* sample_weights, const uint8_t* mask, int64_t rows, int64_t steps) {
  PYDL_DEVICE_DISPATCH(token_weights, out, sample_weights, mask, rows, steps);
  for (int64_t r = 0; r < rows; ++r) {
    const T w = sample_weights ? sample_weights[r] : T(1);
    for (int64_t t = 0; t < steps; ++t) out[r * steps + t] = mask && !mask[r * steps + t] ? T(0) : w;
  }
}

template <typename T>
double custom_loss_forward_backward(const CustomLossOf<T>& fn, Matrix<T> grad, double* ws, Matrix<const T> y_pred,
                                    Matrix<const T> y_true, const T* sample_weights) {
  PYDL_DEVICE_DISPATCH(custom_loss_forward_backward, fn, grad, ws, y_pred, y_true, sample_weights);
  if (y_pred.rows == 0) throw ValueError("loss: empty batch");
  fn(y_pred, y_true, ws, grad);
  double loss = 0, weight = 0;  // serial, in row order: thread-count independent
  for (int64_t i = 0; i < y_pred.rows; ++i) {
    const double w = sample_weights ? double(sample_weights[i]) : 1.0;
    loss += w * ws[i];
    weight += w;
  }
  if (weight == 0) {  // every sample weighted out
    if (grad.data) std::fill(grad.data, grad.data + grad.size(), T(0));
    return 0.0;
  }
  if (grad.data) {
    parallel_range(grad.rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(grad.cols, 1)),
                   [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T s = T((sample_weights ? double(sample_weights[i]) : 1.0) / weight);
        T* gi = grad.row(i);
        for (int64_t c = 0; c < grad.cols; ++c) gi[c] *= s;
      }
    });
  }
  return loss / weight;
}

double loss_weight_total(const double* ws, int64_t rows) {
  PYDL_DEVICE_DISPATCH_PLAIN(loss_weight_total, ws, rows);
  double weight = 0;  // as loss_forward_backward sums it: serial, in row order
  for (int64_t i = 0; i < rows; ++i) weight += ws[2 * i + 1];
  return weight;
}

template <typename T>
double custom_loss_weight_total(const T* sample_weights, int64_t rows) {
  PYDL_DEVICE_DISPATCH(custom_loss_weight_total, sample_weights, rows);
  if (!sample_weights) return double(rows);
  double weight = 0;
  for (int64_t i = 0; i < rows; ++i) weight += double(sample_weights[i]);
  return weight;
}
template void loss_forward_backward_into<float>(double*, double*, Matrix<float>, double*, Matrix<const float>,
                                                const int32_t*, Matrix<const float>, const LossArgs<float>&);
template void loss_forward_backward_into<double>(double*, double*, Matrix<double>, double*,
                                                 Matrix<const double>, const int32_t*, Matrix<const double>,
                                                 const LossArgs<double>&);
template void scale_values<float>(float*, int64_t, float);
template void scale_values<double>(double*, int64_t, double);
template double custom_loss_weight_total<float>(const float*, int64_t);
template double custom_loss_weight_total<double>(const double*, int64_t);

template void token_weights<float>(float*, const float*, const uint8_t*, int64_t, int64_t);
template void token_weights<double>(double*, const double*, const uint8_t*, int64_t, int64_t);
template double loss_forward_backward<float>(Matrix<float>, double*, Matrix<const float>,
                                             const int32_t*, Matrix<const float>,
                                             const LossArgs<float>&);
template double loss_forward_backward<double>(Matrix<double>, double*, Matrix<const double>,
                                              const int32_t*, Matrix<const double>,
                                              const LossArgs<double>&);
template double custom_loss_forward_backward<float>(const CustomLossOf<float>&, Matrix<float>, double*,
                                                    Matrix<const float>, Matrix<const float>, const float*);
template double custom_loss_forward_backward<double>(const CustomLossOf<double>&, Matrix<double>, double*,
                                                     Matrix<const double>, Matrix<const double>, const double*);

}  // namespace pydl

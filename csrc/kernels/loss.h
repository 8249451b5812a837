// Losses, forward and backward in one pass. All reduce by the mean, as PyTorch's defaults do:
// cross-entropy over the batch (weighted by class weights when given, divided by the sum of
// the targets' weights), the others over every element.
//
// Inputs are logits by default (numerically stable log-sum-exp / softplus forms). With
// from_logits = false they are probabilities, as Keras reads them: clipped to
// [kProbEpsilon, 1 - kProbEpsilon] (categorical ones first divided by their row sum), and the
// gradient is the exact gradient of that clipped expression (zero where the clip is active).
//
// On the device (cuda/loss.cu, the terms of loss_terms.h): every entry returning a double
// synchronises the stream once to read it; token_weights and loss_forward_backward_into do not. A custom loss's function
// runs on the host: its inputs and results are copied across.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/view.h"

namespace pydl {

// CrossEntropy: integer class labels (sparse); CategoricalCrossEntropy: one-hot or soft targets
// shaped like the output; Custom: a CustomLoss function (targets shaped like the output).
enum class LossKind { CrossEntropy, BinaryCrossEntropy, MSE, MAE, CategoricalCrossEntropy, Custom };

LossKind parse_loss(const std::string& name);  // throws ValueError naming the choices
const char* loss_name(LossKind k);
inline bool uses_labels(LossKind k) { return k == LossKind::CrossEntropy; }
inline bool is_softmax_loss(LossKind k) {
  return k == LossKind::CrossEntropy || k == LossKind::CategoricalCrossEntropy;
}
inline bool is_classification(LossKind k) { return is_softmax_loss(k) || k == LossKind::BinaryCrossEntropy; }

constexpr double kProbEpsilon = 1e-7;  // Keras' backend epsilon

template <typename T>
struct LossArgs {
  LossKind kind = LossKind::CrossEntropy;
  const T* class_weights = nullptr;  // cross-entropy: one per class; binary: {w0, w1}
  double label_smoothing = 0.0;      // cross-entropy, categorical
  // One per row, or null: multiplies the row's loss and weight, so the mean stays
  // sum(w * l) / sum(w) (with class weights the two multiply). A batch whose sample weights
  // are all zero has loss 0 and a zero gradient.
  const T* sample_weights = nullptr;
  bool from_logits = true;
  // Binary: PyTorch's BCEWithLogitsLoss pos_weight, multiplying the positive term
  // -y log p; pos_weight_size 1 (one for all columns) or one per column; null: none.
  const T* pos_weight = nullptr;
  int64_t pos_weight_size = 0;
};

// Returns the reduced loss. When dlogits.data is non-null it receives d loss / d logits (or
// d loss / d probabilities; it may alias nothing else). `labels` (int32 class ids) is read for
// cross-entropy, `targets` (shaped like logits) for the others. `workspace` holds 2 * rows
// doubles.
template <typename T>
double loss_forward_backward(Matrix<T> dlogits, double* workspace, Matrix<const T> logits,
                             const int32_t* labels, Matrix<const T> targets,
                             const LossArgs<T>& args);

// The same, queued on a device without waiting for it: the loss goes to *loss (device memory),
// and a batch whose weights sum to zero (without sample weights) stops training at the queued batch
// in `block` (step_results.h, kZeroWeight) where loss_forward_backward would raise. Nothing
// is returned to the host. On the CPU it is loss_forward_backward (which raises at once).
template <typename T>
void loss_forward_backward_into(double* loss, double* block, Matrix<T> dlogits, double* workspace,
                                Matrix<const T> logits, const int32_t* labels, Matrix<const T> targets,
                                const LossArgs<T>& args);

// v_i *= factor: a head's loss weight applied to its gradient.
template <typename T>
void scale_values(T* v, int64_t n, T factor);

// The denominator the last loss_forward_backward over `workspace` (rows rows) divided by: the
// sum of the rows' weights (data-parallel training weighs each rank's share of a batch by it).
double loss_weight_total(const double* workspace, int64_t rows);
// Cross-entropy over sequences: a (rows, steps * classes) output is rows * steps rows of
// classes with one label each. Padded steps (mask 0, as Embedding(mask_zero=True) marks them)
// and the samples' weights combine into one weight per token,
//   out[r * steps + t] = sample_weights[r] * mask[r * steps + t],
// which the loss reads as LossArgs::sample_weights, so the mean runs over the valid tokens
// only (a batch of padding alone has loss 0). Needed only where token_weights_needed says so:
// otherwise the loss reads sample_weights as they are (null: every token weighs 1). A void
// entry (its answer is the host's), so that a CUDA graph can capture it.
inline bool token_weights_needed(const void* sample_weights, const uint8_t* mask, int64_t steps) {
  return mask || (sample_weights && steps > 1);
}
template <typename T>
void token_weights(T* out, const T* sample_weights, const uint8_t* mask, int64_t rows, int64_t steps);

// A loss defined outside the core (a Python object, through the bindings): writes each
// sample's loss to per_sample[0..rows) and, when grad.data is non-null, d loss_i / d y_pred
// into grad (row i for sample i). Runs on the calling thread; what it throws propagates.
template <typename T>
using CustomLossOf = std::function<void(Matrix<const T> y_pred, Matrix<const T> y_true, double* per_sample,
                                        Matrix<T> grad)>;
using CustomLoss = CustomLossOf<float>;

// A custom loss reduced as the built-in ones are: sum_i w_i l_i / sum_i w_i with sample weights
// (all zero: loss 0, zero gradient), the plain mean without; the gradient scaled to match.
// `workspace` holds rows doubles.
template <typename T>
double custom_loss_forward_backward(const CustomLossOf<T>& fn, Matrix<T> grad, double* workspace,
                                    Matrix<const T> y_pred, Matrix<const T> y_true, const T* sample_weights);

// custom_loss_forward_backward's denominator: the sum of the sample weights, or rows.
template <typename T>
double custom_loss_weight_total(const T* sample_weights, int64_t rows);

}  // namespace pydl

// Losses on logits, forward and backward in one pass. All reduce by the mean, as PyTorch's
// defaults do: cross-entropy over the batch (weighted by class weights when given, divided
// by the sum of the targets' weights), the others over every element.
#pragma once
#include <cstdint>
#include <string>

#include "core/view.h"

namespace pydl {

enum class LossKind { CrossEntropy, BinaryCrossEntropy, MSE, MAE };

LossKind parse_loss(const std::string& name);  // throws ValueError naming the choices
const char* loss_name(LossKind k);

template <typename T>
struct LossArgs {
  LossKind kind = LossKind::CrossEntropy;
  const T* class_weights = nullptr;  // cross-entropy: one per class; binary: {w0, w1}
  double label_smoothing = 0.0;      // cross-entropy only
  // One per row, or null: multiplies the row's loss and weight, so the mean stays
  // sum(w * l) / sum(w) (with class weights the two multiply). A batch whose sample weights
  // are all zero has loss 0 and a zero gradient.
  const T* sample_weights = nullptr;
};

// Returns the reduced loss. When dlogits.data is non-null it receives d loss / d logits
// (it may alias nothing else). `labels` (int32 class ids) is read for cross-entropy,
// `targets` (shaped like logits) for the others. `workspace` holds 2 * rows doubles.
template <typename T>
double loss_forward_backward(Matrix<T> dlogits, double* workspace, Matrix<const T> logits,
                             const int32_t* labels, Matrix<const T> targets,
                             const LossArgs<T>& args);

}  // namespace pydl

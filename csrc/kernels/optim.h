// Optimizers as one fused pass over the flat parameter buffer, with PyTorch's update rules
// (torch.optim.SGD, Adam, AdamW). Global gradient-norm clipping as clip_grad_norm_ does it.
#pragma once
#include <cstdint>
#include <string>

namespace pydl {

enum class OptimizerKind { SGD, Adam, AdamW };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double learning_rate = 1e-3;
  double momentum = 0.0;  // SGD
  bool nesterov = false;  // SGD
  double weight_decay = 0.0;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-8;  // Adam, AdamW
  double clipnorm = 0.0;  // 0: no clipping
};

OptimizerKind parse_optimizer(const std::string& name);
void validate(const OptimizerConfig& c);  // throws ValueError naming the bad field
// Per-parameter state buffers the optimizer needs: SGD 0 (1 with momentum), Adam(W) 2.
int optimizer_slots(const OptimizerConfig& c);

// The largest |params|, |slot0|, |slot1| (0 for an absent slot): what an update needs to be
// proven finite without computing it twice. A trainer measures them once per epoch and after
// Python code ran (which may have written the buffers); each step keeps them current.
struct UpdateBounds {
  double params = 0, slot0 = 0, slot1 = 0;
  bool known = false;
};
template <typename T>
UpdateBounds measure_update_bounds(const T* params, const T* slot0, const T* slot1, int64_t n);

// One update; step counts from 1. slot0 / slot1 are the state buffers (null when unused).
// Returns false, and changes nothing, when the update would make a parameter or an optimizer
// moment NaN or Inf (a huge learning rate, an overflowing gradient). With known `bounds`, an
// ordinary step is proven finite from max |grads| (one extra read of the gradients) and
// `bounds` is updated; otherwise, or when the proof fails, a dry run computes the update first.
template <typename T>
bool optimizer_step(T* params, const T* grads, T* slot0, T* slot1, int64_t n,
                    const OptimizerConfig& c, int64_t step, UpdateBounds* bounds = nullptr);

// sqrt(sum g^2), summed in fixed chunks in a fixed order (thread-count independent).
template <typename T>
double global_norm(const T* g, int64_t n);

// If the global norm exceeds max_norm, scale g by max_norm / (norm + 1e-6). Returns the norm.
template <typename T>
double clip_by_global_norm(T* g, int64_t n, double max_norm);

}  // namespace pydl

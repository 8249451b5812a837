// Optimizers as one fused pass over the flat parameter buffer, with PyTorch's update rules
// (torch.optim.SGD, Adam, AdamW, RMSprop, Adagrad) and Keras' argument names. Global
// gradient-norm clipping as clip_grad_norm_ does it. Frozen ranges of the buffer are skipped:
// no update, no weight decay, no state change. Elementwise: results do not depend on the
// thread count.
//
// On the device (cuda/optim.cu, the same rules from optim_rules.h): optimizer_step queues the
// max |g| proof, the dry run and the commit as kernels that pass the verdict through device
// memory, then reads it back; it, measure_update_bounds, global_norm and clip_by_global_norm
// each synchronise the stream once, because they return host values (optimizer_step_into and
// clip_by_global_norm_queued do not). `frozen` is copied to the
// device on each call.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pydl {

enum class OptimizerKind { SGD, Adam, AdamW, RMSprop, Adagrad };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double learning_rate = 1e-3;
  double momentum = 0.0;  // SGD, RMSprop
  bool nesterov = false;  // SGD
  double weight_decay = 0.0;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-8;  // Adam, AdamW (epsilon: RMSprop, Adagrad too)
  double rho = 0.9;                                      // RMSprop (PyTorch's alpha)
  bool centered = false;                                 // RMSprop
  double initial_accumulator_value = 0.1;                // Adagrad (the trainer fills its slot with it)
  double clipnorm = 0.0;  // 0: no clipping
};

OptimizerKind parse_optimizer(const std::string& name);
const char* optimizer_name(OptimizerKind k);
void validate(const OptimizerConfig& c);  // throws ValueError naming the bad field
// Per-parameter state buffers the optimizer needs, in this order: SGD its momentum buffer
// (with momentum); Adam(W) m, v; RMSprop square_avg, then the momentum buffer (momentum > 0),
// then grad_avg (centered); Adagrad the sum of squares.
int optimizer_slots(const OptimizerConfig& c);
constexpr int kMaxSlots = 3;

// [offset, offset + size) of the flat buffer; lists of them are sorted and disjoint.
struct ParamRange {
  int64_t offset = 0, size = 0;
};

// The largest |params| and |slot i| (0 for an absent slot) over the parameters a step
// updates: what an update needs to be proven finite without computing it twice. A trainer
// measures them once per epoch and after Python code ran (which may have written the
// buffers); each step keeps them current.
struct UpdateBounds {
  double params = 0;
  std::array<double, kMaxSlots> slots{};
  bool known = false;
};
template <typename T>
using SlotPtrs = std::array<T*, kMaxSlots>;  // null where unused

template <typename T>
UpdateBounds measure_update_bounds(const T* params, const SlotPtrs<T>& slots, int64_t n,
                                   const std::vector<ParamRange>* frozen = nullptr);

// One update; step counts from 1. Returns false, and changes nothing, when the update would
// make a parameter or an optimizer state value NaN or Inf (a huge learning rate, an
// overflowing gradient, 0/0 with epsilon 0). With known `bounds`, an ordinary step is proven
// finite from max |grads| (one extra read of the gradients) and `bounds` is updated;
// otherwise, or when the proof fails, a dry run computes the update first. `frozen` ranges
// (sorted, disjoint, inside [0, n)) are neither read nor written.
template <typename T>
bool optimizer_step(T* params, const T* grads, const SlotPtrs<T>& slots, int64_t n, const OptimizerConfig& c,
                    int64_t step, UpdateBounds* bounds = nullptr, const std::vector<ParamRange>* frozen = nullptr);

// sqrt(sum g^2), summed in fixed chunks in a fixed order (thread-count independent).
template <typename T>
double global_norm(const T* g, int64_t n);

// If the global norm exceeds max_norm, scale g by max_norm / (norm + 1e-6). Returns the norm.
template <typename T>
double clip_by_global_norm(T* g, int64_t n, double max_norm);

// optimizer_step queued on a device without waiting for it: unless `block` (step_results.h)
// says training stopped, one update with the finiteness proof's bounds kept in the block
// (kBoundsKnown, kBounds: measure_update_bounds' values, which the caller writes there); an
// update that would make anything NaN or Inf changes nothing and stops training at the queued
// batch (kUpdateNonfinite). The same updates as optimizer_step, for the block's step clock:
// the step number is step_results::queued_step(block) and the learning rate
// queued_learning_rate(block); c.learning_rate is not read.
template <typename T>
void optimizer_step_into(double* block, T* params, const T* grads, const SlotPtrs<T>& slots, int64_t n,
                         const OptimizerConfig& c, const std::vector<ParamRange>* frozen = nullptr);

// clip_by_global_norm without reading the norm back (on a device: no synchronisation).
template <typename T>
void clip_by_global_norm_queued(T* g, int64_t n, double max_norm);

}  // namespace pydl

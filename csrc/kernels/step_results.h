// The results of training steps queued on a device, kept there until the host reads them (at
// progress intervals and at the epoch's end) so that a step never waits for the device: one
// block of doubles per trainer (the layout below), written by the "_into" kernel entries of
// loss.h, metrics.h and optim.h and by the two entries here. CPU versions in step_results.cc
// (which the test-only emulated device runs too), CUDA versions in cuda/step_results.cu.
//
// A step that stops training (its total loss is not finite, its update would make a weight or
// a moment NaN or Inf, its loss weights sum to zero, or an Embedding id is out of range)
// records why and which batch it was;
// every entry queued after that, until the host reads the block, leaves the weights, the
// optimizer state and the sums alone: the model keeps its last finite step, as on the CPU,
// where the loop stops at once.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace pydl {
namespace step_results {

// kBadInput: a layer's input the CPU would have refused (Embedding: an id out of range).
enum Stop : int { kRunning = 0, kLossNonfinite = 1, kUpdateNonfinite = 2, kZeroWeight = 3, kBadInput = 4 };

constexpr int64_t kStop = 0;       // a Stop
constexpr int64_t kStopBatch = 1;  // the epoch's batch that stopped training
constexpr int64_t kLossSum = 2;    // sum over committed steps of (total loss * rows)
constexpr int64_t kSamples = 3;    // rows of the committed steps
constexpr int64_t kBatches = 4;    // committed steps
constexpr int64_t kStepLoss = 5;   // the queued step's total loss
constexpr int64_t kBoundsKnown = 6;  // optimizer_step_into's finiteness proof: 1 when known,
constexpr int64_t kBounds = 7;       // max |params|, then max |slot 0..2| (kMaxSlots = 3)
constexpr int64_t kPenalty = 11;     // the queued step's regularizer penalty (check_step_loss clears it)
// kBadInput: which layer (its tag), the flat position and value of the input, the limit.
constexpr int64_t kStopTag = 12, kStopPosition = 13, kStopValue = 14, kStopLimit = 15;
// The step clock: the kernels of a queued step read its batch, its optimizer step and its
// learning rate here, never from their arguments, so that a step captured once as a CUDA graph
// replays as each later step (queued_batch, queued_step, queued_learning_rate below).
constexpr int64_t kStepBase = 16;     // the optimizer steps done before the epoch's first
constexpr int64_t kLearningRate = 17;  // the rate of every step, unless kLrTable is set:
constexpr int64_t kLrTable = 18;       // 0, or where the epoch's rates start (one per batch)
constexpr int64_t kHeads = 19;       // then 3 per head:
PYDL_HOST_DEVICE inline int64_t head_weight(int64_t j) { return kHeads + 3 * j; }      // its share of the total
PYDL_HOST_DEVICE inline int64_t head_loss_sum(int64_t j) { return kHeads + 3 * j + 1; }  // as kLossSum
PYDL_HOST_DEVICE inline int64_t head_step_loss(int64_t j) { return kHeads + 3 * j + 2; }  // the queued step's
PYDL_HOST_DEVICE inline int64_t block_size(int64_t heads) { return kHeads + 3 * heads; }

// What the CPU and CUDA entries share (one definition, as kernels/optim_rules.h), run in one
// thread on the device.
PYDL_HOST_DEVICE inline bool running(const double* block) { return block[kStop] == kRunning; }
// The queued step's batch of the epoch: every step before it committed (a stop ends the
// epoch's commits, and every entry after a stop is a no-op).
PYDL_HOST_DEVICE inline int64_t queued_batch(const double* block) { return int64_t(block[kBatches]); }
// Its optimizer step (from 1) and learning rate.
PYDL_HOST_DEVICE inline int64_t queued_step(const double* block) { return int64_t(block[kStepBase] + block[kBatches]) + 1; }
PYDL_HOST_DEVICE inline double queued_learning_rate(const double* block) {
  return block[kLrTable] > 0 ? block[int64_t(block[kLrTable]) + queued_batch(block)] : block[kLearningRate];
}
// Training stops at the queued batch for `why`, unless it already had (the first stop is kept).
PYDL_HOST_DEVICE inline void stop(double* block, Stop why) {
  if (!running(block)) return;
  block[kStop] = why;
  block[kStopBatch] = double(queued_batch(block));
}
PYDL_HOST_DEVICE inline void check_step_loss_on(double* block, int64_t heads) {
  const double penalty = block[kPenalty];
  block[kPenalty] = 0;
  if (!running(block)) return;
  // The trainer's order on the CPU: the heads' weighted losses, then the penalty.
  double total = 0;
  for (int64_t j = 0; j < heads; ++j) total += block[head_weight(j)] * block[head_step_loss(j)];
  total += penalty;
  block[kStepLoss] = total;
  if (!(total - total == 0.0)) stop(block, kLossNonfinite);  // NaN or Inf
}
PYDL_HOST_DEVICE inline void commit_step_on(double* block, int64_t heads, int64_t rows) {
  if (!running(block)) return;
  block[kLossSum] += block[kStepLoss] * double(rows);
  for (int64_t j = 0; j < heads; ++j) block[head_loss_sum(j)] += block[head_step_loss(j)] * double(rows);
  block[kSamples] += double(rows);
  block[kBatches] += 1;
}

}  // namespace step_results

// The optimizer step a random draw belongs to (Dropout's masks, augmentation keys, attention
// dropout): `step` as given, or, in a queued step (block set), the block's queued_step, read
// where the kernel runs (on the device: inside the CUDA kernel, never by the host).
struct StepClock {
  uint64_t step = 0;
  const double* block = nullptr;
  PYDL_HOST_DEVICE uint64_t now() const { return block ? uint64_t(step_results::queued_step(block)) : step; }
};

// After a step's losses: its total loss, sum_j weight_j * loss_j in head order plus
// block[kPenalty] (which it then clears), into block[kStepLoss]; a total that is not finite
// stops training at the queued batch (kLossNonfinite). No-op once stopped.
void check_step_loss(double* block, int64_t heads);
// After the optimizer: unless stopped, adds the step (rows samples) to the sums.
void commit_step(double* block, int64_t heads, int64_t rows);

}  // namespace pydl

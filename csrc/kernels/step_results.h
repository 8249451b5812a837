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
constexpr int64_t kHeads = 16;       // then 3 per head:
PYDL_HOST_DEVICE inline int64_t head_weight(int64_t j) { return kHeads + 3 * j; }      // its share of the total
PYDL_HOST_DEVICE inline int64_t head_loss_sum(int64_t j) { return kHeads + 3 * j + 1; }  // as kLossSum
PYDL_HOST_DEVICE inline int64_t head_step_loss(int64_t j) { return kHeads + 3 * j + 2; }  // the queued step's
PYDL_HOST_DEVICE inline int64_t block_size(int64_t heads) { return kHeads + 3 * heads; }

// What the CPU and CUDA entries share (one definition, as kernels/optim_rules.h), run in one
// thread on the device.
PYDL_HOST_DEVICE inline bool running(const double* block) { return block[kStop] == kRunning; }
// Training stops at `batch` for `why`, unless it already had (the first stop is kept).
PYDL_HOST_DEVICE inline void stop(double* block, Stop why, int64_t batch) {
  if (!running(block)) return;
  block[kStop] = why;
  block[kStopBatch] = double(batch);
}
PYDL_HOST_DEVICE inline void check_step_loss_on(double* block, int64_t heads, int64_t batch) {
  const double penalty = block[kPenalty];
  block[kPenalty] = 0;
  if (!running(block)) return;
  // The trainer's order on the CPU: the heads' weighted losses, then the penalty.
  double total = 0;
  for (int64_t j = 0; j < heads; ++j) total += block[head_weight(j)] * block[head_step_loss(j)];
  total += penalty;
  block[kStepLoss] = total;
  if (!(total - total == 0.0)) stop(block, kLossNonfinite, batch);  // NaN or Inf
}
PYDL_HOST_DEVICE inline void commit_step_on(double* block, int64_t heads, int64_t rows) {
  if (!running(block)) return;
  block[kLossSum] += block[kStepLoss] * double(rows);
  for (int64_t j = 0; j < heads; ++j) block[head_loss_sum(j)] += block[head_step_loss(j)] * double(rows);
  block[kSamples] += double(rows);
  block[kBatches] += 1;
}

}  // namespace step_results

// After a step's losses: its total loss, sum_j weight_j * loss_j in head order plus
// block[kPenalty] (which it then clears), into block[kStepLoss]; a total that is not finite
// stops training at `batch` (kLossNonfinite). No-op once stopped.
void check_step_loss(double* block, int64_t heads, int64_t batch);
// After the optimizer: unless stopped, adds the step (rows samples) to the sums.
void commit_step(double* block, int64_t heads, int64_t rows);

}  // namespace pydl

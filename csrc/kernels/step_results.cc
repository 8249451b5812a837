#include "kernels/step_results.h"

#include <cmath>

#include "core/device.h"

namespace pydl {

using namespace step_results;

void check_step_loss(double* block, int64_t heads, int64_t batch) {
  PYDL_DEVICE_DISPATCH_PLAIN(check_step_loss, block, heads, batch);
  const double penalty = block[kPenalty];
  block[kPenalty] = 0;
  if (block[kStop] != kRunning) return;
  // The trainer's order on the CPU: the heads' weighted losses, then the penalty.
  double total = 0;
  for (int64_t j = 0; j < heads; ++j) total += block[head_weight(j)] * block[head_step_loss(j)];
  total += penalty;
  block[kStepLoss] = total;
  if (!std::isfinite(total)) {
    block[kStop] = kLossNonfinite;
    block[kStopBatch] = double(batch);
  }
}

void commit_step(double* block, int64_t heads, int64_t rows) {
  PYDL_DEVICE_DISPATCH_PLAIN(commit_step, block, heads, rows);
  if (block[kStop] != kRunning) return;
  block[kLossSum] += block[kStepLoss] * double(rows);
  for (int64_t j = 0; j < heads; ++j) block[head_loss_sum(j)] += block[head_step_loss(j)] * double(rows);
  block[kSamples] += double(rows);
  block[kBatches] += 1;
}

}  // namespace pydl

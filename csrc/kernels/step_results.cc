#include "kernels/step_results.h"

#include "core/device.h"

namespace pydl {

void check_step_loss(double* block, int64_t heads) {
  PYDL_DEVICE_DISPATCH_PLAIN(check_step_loss, block, heads);
  step_results::check_step_loss_on(block, heads);
}

void commit_step(double* block, int64_t heads, int64_t rows) {
  PYDL_DEVICE_DISPATCH_PLAIN(commit_step, block, heads, rows);
  step_results::commit_step_on(block, heads, rows);
}

}  // namespace pydl

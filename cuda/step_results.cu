// The step-results block on the GPU (kernels/step_results.h): one thread runs the header's
// functions, the CPU's very code, so the sums are the CPU's bitwise for the same head losses. Queued on stream(); nothing here waits for the device.
#include "core/device.h"
#include "kernels/step_results.h"
#include "context.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

using namespace pydl::step_results;

__global__ void check_step_loss_kernel(double* block, int64_t heads) {
  check_step_loss_on(block, heads);
}

__global__ void commit_step_kernel(double* block, int64_t heads, int64_t rows) { commit_step_on(block, heads, rows); }

void check_step_loss_cuda(double* block, int64_t heads) {
  check_step_loss_kernel<<<1, 1, 0, stream()>>>(block, heads);
  PYDL_CUDA_LAUNCHED("check_step_loss");
}

void commit_step_cuda(double* block, int64_t heads, int64_t rows) {
  commit_step_kernel<<<1, 1, 0, stream()>>>(block, heads, rows);
  PYDL_CUDA_LAUNCHED("commit_step");
}

}  // namespace
}  // namespace pydl::cuda

PYDL_CUDA_KERNEL_PLAIN(check_step_loss, pydl::cuda::check_step_loss_cuda);
PYDL_CUDA_KERNEL_PLAIN(commit_step, pydl::cuda::commit_step_cuda);

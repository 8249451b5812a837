// The CUDA activation kernels other cuda/*.cu files reuse (the GEMM epilogues cuBLASLt lacks,
// Dense): the same entries as csrc/kernels/activation.h, over device memory, queued on
// stream(). The formulas come from kernels/activation_formulas.h, shared with the CPU.
#pragma once
#include "core/view.h"
#include "kernels/activation.h"

namespace pydl::cuda {

// y = act(x) (y may alias x); softmax over each row.
void activation_forward_cuda(Matrix<float> y, Matrix<const float> x, Activation a);
// dx = dy * act'(.) (dx may alias dy); x is read only by GELU.
void activation_backward_cuda(Matrix<float> dx, Matrix<const float> dy, Matrix<const float> x,
                              Matrix<const float> y, Activation a);

}  // namespace pydl::cuda

// The CUDA GEMM entry (cuda/gemm.cu), for the other cuda/*.cu files that multiply (Dense):
// the contract of csrc/kernels/gemm.h over device memory, queued on stream().
#pragma once
#include "core/view.h"
#include "kernels/activation.h"

namespace pydl::cuda {

void gemm_cuda(Matrix<float> c, Matrix<const float> a, bool trans_a, Matrix<const float> b, bool trans_b,
               float alpha, float beta, const float* bias, Activation act);

}  // namespace pydl::cuda

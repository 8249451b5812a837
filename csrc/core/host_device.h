// PYDL_HOST_DEVICE marks the small inline functions that CPU kernels and CUDA kernels share
// (optimizer rules, RNG mixing, activation formulas), so that both backends compute the same
// formula from one definition. Under nvcc it is __host__ __device__; elsewhere nothing.
#pragma once

#if defined(__CUDACC__)
#define PYDL_HOST_DEVICE __host__ __device__
#else
#define PYDL_HOST_DEVICE
#endif

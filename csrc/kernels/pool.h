// Pooling over channels-last images x (N, H, W, C) -> y (N, OH, OW, C): max and average
// windows (average excludes padding from the count), and global average / max over H, W.
// dx is overwritten (=). CUDA versions: cuda/pool.cu (dx gathered from the covering windows,
// no atomics; max backward expects argmax as max_pool2d_forward wrote it).
#pragma once
#include <cstdint>

#include "kernels/conv2d.h"

namespace pydl {

// Window geometry reuses Conv2dArgs (kh, kw, strides, padding; c = f = channels; no dilation).
// max: argmax[i] receives the input offset (within its image) of output element i's maximum;
// a null argmax (inference, no backward follows) skips it.
template <typename T>
void max_pool2d_forward(T* y, int32_t* argmax, const T* x, const Conv2dArgs& a);
template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int32_t* argmax, const Conv2dArgs& a);

template <typename T>
void avg_pool2d_forward(T* y, const T* x, const Conv2dArgs& a);
template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, const Conv2dArgs& a);

// Global pooling: x (N, P, C) with P = H * W -> y (N, C).
template <typename T>
void global_avg_pool_forward(T* y, const T* x, int64_t n, int64_t p, int64_t c);
template <typename T>
void global_avg_pool_backward(T* dx, const T* dy, int64_t n, int64_t p, int64_t c);
template <typename T>
void global_max_pool_forward(T* y, int32_t* argmax, const T* x, int64_t n, int64_t p, int64_t c);
template <typename T>
void global_max_pool_backward(T* dx, const T* dy, const int32_t* argmax, int64_t n, int64_t p, int64_t c);

}  // namespace pydl

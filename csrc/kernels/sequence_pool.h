// Global pooling over the steps of sequences x (N, T, C) -> y (N, C), honouring a padding mask
// (N, T) of valid steps (1) as Embedding(mask_zero=True) makes it; a null mask keeps every
// step. Average: the mean over the valid steps; max: the maximum over them. A sequence with no
// valid step gives 0 (and no gradient). dx is overwritten (=); padded steps get 0.
// Threads split the batch; each sample's sums run in step order, so results do not depend on
// the thread count.
#pragma once
#include <cstdint>

namespace pydl {

template <typename T>
void masked_avg_pool1d_forward(T* y, const T* x, const uint8_t* mask, int64_t n, int64_t t, int64_t c);
template <typename T>
void masked_avg_pool1d_backward(T* dx, const T* dy, const uint8_t* mask, int64_t n, int64_t t, int64_t c);

// argmax[i * c + ch] receives the step holding sample i's maximum of channel ch (-1: none).
template <typename T>
void masked_max_pool1d_forward(T* y, int32_t* argmax, const T* x, const uint8_t* mask, int64_t n, int64_t t,
                               int64_t c);
template <typename T>
void masked_max_pool1d_backward(T* dx, const T* dy, const int32_t* argmax, int64_t n, int64_t t, int64_t c);

}  // namespace pydl

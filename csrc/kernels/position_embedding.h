// Learned position embeddings, added by the caller: y[n, t, :] = table[t, :] for inputs of
// T <= sequence_length steps (the first T rows of the table). Parameter gradients accumulate
// (+=): dtable[t, :] += sum_n dy[n, t, :], summed in batch order for every thread count.
#pragma once
#include <cstdint>

namespace pydl {

template <typename T>
void position_embedding_forward(T* y, const T* table, int64_t n, int64_t t, int64_t d);
template <typename T>
void position_embedding_backward(T* dtable, const T* dy, int64_t n, int64_t t, int64_t d);

}  // namespace pydl

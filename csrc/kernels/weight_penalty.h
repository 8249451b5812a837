// Weight regularizers (Keras' convention: l1 * sum |w| + l2 * sum w^2) as kernel entries, so
// that a trainer on a device computes the penalty and its gradient there, without copies.
// CUDA versions: cuda/weight_penalty.cu (the sum in a fixed order of its own: the same run to
// run, not bitwise the CPU's serial sum).
#pragma once
#include <cstdint>

namespace pydl {

// *total += l1 * sum_i |w_i| + l2 * sum_i w_i^2 over w[0, n), in double (on the CPU serially in
// index order: the same for every thread count). `total` is where w lives.
template <typename T>
void add_weight_penalty(double* total, const T* w, int64_t n, double l1, double l2);

// g_i += 2 l2 w_i + l1 sign(w_i), in T.
template <typename T>
void add_weight_penalty_gradient(T* g, const T* w, int64_t n, double l1, double l2);

}  // namespace pydl

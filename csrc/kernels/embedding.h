// Embedding: rows of a (vocab, dim) table gathered by integer ids (forward) and the gradient
// scattered back into the used rows (backward). y is overwritten (=); dtable accumulates (+=).
// Ids arrive as floats (the graph's tensors are float): embedding_ids checks and converts
// them once per step, and both directions then read the int64 ids.
#pragma once
#include <cstdint>

namespace pydl {

// ids[i] = x[i] as an integer, mask[i] = (ids[i] != 0) when mask is non-null. Returns the
// flat position of the first x that is not an integer in [0, vocab), or -1 when all are.
template <typename T>
int64_t embedding_ids(int64_t* ids, uint8_t* mask, const T* x, int64_t count, int64_t vocab);

// embedding_ids queued on a device without reading its answer: bad ids become 0 (so the
// gathers stay in bounds), and the first bad one stops training in `block` (step_results.h:
// kBadInput at the queued batch, with `tag`, its flat position, value and vocab) unless training had
// already stopped. On the CPU: embedding_ids, then the same.
template <typename T>
void embedding_ids_into(double* block, int64_t tag, int64_t* ids, uint8_t* mask, const T* x,
                        int64_t count, int64_t vocab);

// y (count, dim): y[i] = table[ids[i]].
template <typename T>
void embedding_forward(T* y, const int64_t* ids, const T* table, int64_t count, int64_t dim);

// dtable[ids[i]] += dy[i]. Split over the table's columns with rows in order, so the sum
// order (and every bit of the result) never depends on the thread count, even with
// repeated ids.
template <typename T>
void embedding_backward(T* dtable, const T* dy, const int64_t* ids, int64_t count, int64_t dim);

}  // namespace pydl

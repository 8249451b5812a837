// Embedding on CUDA. Forward gathers rows; backward scatter-adds dy into the used rows of the
// table gradient without float atomics, in the CPU's order: the token positions are sorted
// stably by id (CUB's radix sort), then one thread per (first token of an id, feature) adds
// that id's rows of dy into dtable in token order, as the CPU's sequential loop does. So
// repeated ids give bitwise the same sums run to run, and the same as the CPU's.
// The sort is our own merge sort of (id, position) pairs rather than CUB's: the pairs are all
// distinct, so each element's place in a merge is found by a binary search, with no ties and
// no dependence on timing; and the CUDA build needs no CCCL headers (the nvidia-* wheels'
// headers and a toolkit's CCCL of another version refuse to be mixed).
#include <climits>

#include "context.h"
#include "kernels/embedding.h"
#include "kernels/step_results.h"
#include "registry.h"

namespace pydl::cuda {
namespace {

__global__ void ids_kernel(int64_t* ids, uint8_t* mask, const float* x, int64_t count, int64_t vocab,
                           unsigned long long* first_bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    if (!(v >= 0.f && v < float(vocab)) || v != floorf(v)) {
      atomicMin(first_bad, (unsigned long long)i);  // an integer minimum: the same whatever the order
      continue;
    }
    ids[i] = int64_t(v);
    if (mask) mask[i] = ids[i] != 0;
  }
}

// ids_kernel for queued steps: a bad id is written as 0 (the gathers stay in bounds).
__global__ void ids_or_zero_kernel(int64_t* ids, uint8_t* mask, const float* x, int64_t count, int64_t vocab,
                                   unsigned long long* first_bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    const bool bad = !(v >= 0.f && v < float(vocab)) || v != floorf(v);
    if (bad) atomicMin(first_bad, (unsigned long long)i);
    ids[i] = bad ? 0 : int64_t(v);
    if (mask) mask[i] = ids[i] != 0;
  }
}

// The first bad id, if any, stops training in the step-results block.
__global__ void record_bad_id_kernel(const unsigned long long* first_bad, const float* x, double* block,
                                     int64_t tag, int64_t vocab) {
  namespace sr = pydl::step_results;
  const unsigned long long bad = *first_bad;
  if (bad == ULLONG_MAX || !sr::running(block)) return;
  sr::stop(block, sr::kBadInput);
  block[sr::kStopTag] = double(tag);
  block[sr::kStopPosition] = double(bad);
  block[sr::kStopValue] = double(x[bad]);
  block[sr::kStopLimit] = double(vocab);
}

__global__ void gather_kernel(float* y, const int64_t* ids, const float* table, int64_t count, int64_t dim) {
  const int64_t n = count * dim;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n; t += int64_t(gridDim.x) * blockDim.x)
    y[t] = table[ids[t / dim] * dim + t % dim];
}

__global__ void init_pairs_kernel(int64_t* keys, int64_t* pos, const int64_t* ids, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    keys[i] = ids[i];
    pos[i] = i;
  }
}

__device__ inline bool pair_less(int64_t ka, int64_t pa, int64_t kb, int64_t pb) {
  return ka < kb || (ka == kb && pa < pb);
}

// One merge pass: sorted runs of `width` pairs merged two by two. An element's place in its
// merged run is its rank in its own run plus the number of the partner run's pairs below it.
__global__ void merge_pass_kernel(int64_t* k_out, int64_t* p_out, const int64_t* k_in, const int64_t* p_in, int64_t n,
                                  int64_t width) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t run = i / width, start = run * width, merged = (run & ~int64_t(1)) * width;
    const int64_t other = (run ^ 1) * width;
    int64_t lo = min(other, n), hi = min(other + width, n);  // count partner pairs below (k, p)
    const int64_t k = k_in[i], p = p_in[i], first = lo;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (pair_less(k_in[mid], p_in[mid], k, p)) lo = mid + 1;
      else hi = mid;
    }
    const int64_t at = merged + (i - start) + (lo - first);
    k_out[at] = k;
    p_out[at] = p;
  }
}

// keys: the ids sorted; pos: their token positions (in token order within one id).
__global__ void segment_add_kernel(float* dtable, const float* dy, const int64_t* keys, const int64_t* pos,
                                   int64_t count, int64_t dim) {
  const int64_t n = count * dim;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t / dim, j = t % dim;
    const int64_t id = keys[i];
    if (i > 0 && keys[i - 1] == id) continue;  // not the first token of its id
    float v = dtable[id * dim + j];
    for (int64_t p = i; p < count && keys[p] == id; ++p) v += dy[pos[p] * dim + j];
    dtable[id * dim + j] = v;
  }
}

size_t round_up(size_t b) { return (b + 255) / 256 * 256; }

}  // namespace

int64_t embedding_ids_cuda(int64_t* ids, uint8_t* mask, const float* x, int64_t count, int64_t vocab) {
  if (count == 0) return -1;
  // A reply to the host, so this one synchronises: the Embedding layer raises on a bad id.
  auto* first_bad = static_cast<unsigned long long*>(scratch(sizeof(unsigned long long)));
  PYDL_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xFF, sizeof(unsigned long long), stream()));
  ids_kernel<<<blocks_for(count), 256, 0, stream()>>>(ids, mask, x, count, vocab, first_bad);
  PYDL_CUDA_LAUNCHED("embedding_ids");
  unsigned long long bad = 0;
  PYDL_CUDA_CHECK(cudaMemcpyAsync(&bad, first_bad, sizeof(bad), cudaMemcpyDeviceToHost, stream()));
  PYDL_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return bad == ULLONG_MAX ? -1 : int64_t(bad);
}

void embedding_ids_into_cuda(double* block, int64_t tag, int64_t* ids, uint8_t* mask, const float* x,
                             int64_t count, int64_t vocab) {
  if (count == 0) return;
  auto* first_bad = static_cast<unsigned long long*>(scratch(sizeof(unsigned long long)));
  PYDL_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xFF, sizeof(unsigned long long), stream()));
  ids_or_zero_kernel<<<blocks_for(count), 256, 0, stream()>>>(ids, mask, x, count, vocab, first_bad);
  PYDL_CUDA_LAUNCHED("embedding_ids_into");
  record_bad_id_kernel<<<1, 1, 0, stream()>>>(first_bad, x, block, tag, vocab);
  PYDL_CUDA_LAUNCHED("embedding_ids_into record_bad_id_kernel");
}

void embedding_forward_cuda(float* y, const int64_t* ids, const float* table, int64_t count, int64_t dim) {
  if (count * dim == 0) return;
  gather_kernel<<<blocks_for(count * dim), 256, 0, stream()>>>(y, ids, table, count, dim);
  PYDL_CUDA_LAUNCHED("embedding_forward");
}

void embedding_backward_cuda(float* dtable, const float* dy, const int64_t* ids, int64_t count, int64_t dim) {
  if (count * dim == 0) return;
  // Two (keys, positions) buffers, ping-ponged by the merge passes.
  const size_t vec = round_up(sizeof(int64_t) * size_t(count));
  char* base = static_cast<char*>(scratch(4 * vec));
  int64_t* keys[2] = {reinterpret_cast<int64_t*>(base), reinterpret_cast<int64_t*>(base + vec)};
  int64_t* pos[2] = {reinterpret_cast<int64_t*>(base + 2 * vec), reinterpret_cast<int64_t*>(base + 3 * vec)};
  init_pairs_kernel<<<blocks_for(count), 256, 0, stream()>>>(keys[0], pos[0], ids, count);
  PYDL_CUDA_LAUNCHED("embedding_backward");
  int cur = 0;
  for (int64_t width = 1; width < count; width *= 2, cur ^= 1) {
    merge_pass_kernel<<<blocks_for(count), 256, 0, stream()>>>(keys[cur ^ 1], pos[cur ^ 1], keys[cur], pos[cur], count,
                                                               width);
    PYDL_CUDA_LAUNCHED("embedding_backward");
  }
  segment_add_kernel<<<blocks_for(count * dim), 256, 0, stream()>>>(dtable, dy, keys[cur], pos[cur], count, dim);
  PYDL_CUDA_LAUNCHED("embedding_backward");
}

PYDL_CUDA_KERNEL(embedding_ids, embedding_ids_cuda);
PYDL_CUDA_KERNEL(embedding_ids_into, embedding_ids_into_cuda);
PYDL_CUDA_KERNEL(embedding_forward, embedding_forward_cuda);
PYDL_CUDA_KERNEL(embedding_backward, embedding_backward_cuda);

}  // namespace pydl::cuda

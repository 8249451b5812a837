// parallel_range: the one way kernels split loops over threads. Chunk boundaries depend on
// n and grain alone, so per-chunk results never depend on the thread count. Small loops
// never enter an OpenMP region: even a region with if(false) costs libgomp a team
// allocation, which dominates the steps of small models.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace pydl {

// Calls f(lo, hi) for consecutive chunks [lo, hi) of [0, n), each of `grain` items (the last
// may be shorter); in parallel when there are at least two chunks and more than one thread.
template <typename F>
void parallel_range(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks < 2 || omp_get_max_threads() < 2) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}

}  // namespace pydl

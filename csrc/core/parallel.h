// parallel_range: the one way kernels split loops over threads. Chunk boundaries depend on
// n and grain alone, so per-chunk results never depend on the thread count. Small loops
// never enter an OpenMP region: even a region with if(false) costs libgomp a team
// allocation, which dominates the steps of small models.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace pydl {

// Parallel regions that really ran on more than one thread, since the process started: lets
// tests prove that work was split (a "1 vs 2 threads" test means nothing otherwise).
inline std::atomic<int64_t>& split_regions() {
  static std::atomic<int64_t> count{0};
  return count;
}

// Work below this many flops runs on one thread: waking another costs more (on the shared
// 2-core machine, batch-1 inference of a 784x256 layer: 32 us on one thread, 112 us on two).
constexpr double kForkFlops = 4.0e6;

// Calls f(lo, hi) for consecutive chunks [lo, hi) of [0, n), each of `grain` items (the last
// may be shorter); in parallel when there are at least two chunks and more than one thread.
template <typename F>
void parallel_range(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  // Inside a region already (a kernel's own split over threads): run here, nested regions
  // would only add a team per call.
  if (chunks < 2 || omp_get_max_threads() < 2 || omp_in_parallel()) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    if (omp_get_thread_num() == 0 && omp_get_num_threads() > 1)
      split_regions().fetch_add(1, std::memory_order_relaxed);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
  }
}

}  // namespace pydl

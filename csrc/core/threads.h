// One thread pool for the whole library: OpenMP. BLAS runs single-threaded inside the
// work we split over OpenMP threads, so the two never oversubscribe the cores.
#pragma once

namespace pydl {

void set_num_threads(int n);  // 1 <= n <= max_num_threads(), else ValueError
int max_num_threads();         // 4x the cores
int get_num_threads();
int default_num_threads();    // the machine's cores

}  // namespace pydl

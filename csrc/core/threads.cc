#include "core/threads.h"

#include <omp.h>

#include <thread>

#include "core/errors.h"

namespace pydl {
namespace {

int initial_threads() {
  // OpenMP's own default: the cores, or OMP_NUM_THREADS when the user set it (bounded like
  // set_num_threads; pydl/__init__.py warns when it had to clamp).
  const int limit = 4 * default_num_threads();
  if (omp_get_max_threads() > limit) omp_set_num_threads(limit);
  return omp_get_max_threads();
}

int g_threads = initial_threads();

}  // namespace

int default_num_threads() {
  int n = static_cast<int>(std::thread::hardware_concurrency());
  return n > 0 ? n : 1;
}

int max_num_threads() { return 4 * default_num_threads(); }

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: expected n >= 1, got " + std::to_string(n));
  // Far more threads than cores only slows kernels down, and thousands make libgomp fail to
  // create its team later, killing the process.
  if (n > max_num_threads())
    throw ValueError("set_num_threads: expected at most " + std::to_string(max_num_threads()) +
                     " (4x this machine's " + std::to_string(default_num_threads()) + " cores), got " +
                     std::to_string(n));
  g_threads = n;
  omp_set_num_threads(n);
}

int get_num_threads() { return g_threads; }

}  // namespace pydl

// Peak FLOP/s probe (see peak.h). The chains must cover FMA latency x FMA ports (about 8
// vectors) and still fit the register file with the two constants: 8 zmm of 16 floats on
// AVX-512 (32 registers), 12 ymm on AVX2 (16 registers; 16 would spill), 12 xmm on SSE2.
#include "kernels/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/simd.h"
#include "core/threads.h"

namespace pydl {
namespace {

// reps rounds of acc = acc * mul + add over N floats; mul < 1 makes each chain converge to
// add / (1 - mul), so no value overflows or goes subnormal. Returns a sum so nothing is dead.
template <int N>
PYDL_ALWAYS_INLINE float chains(int64_t reps, float mul, float add) {
  float acc[N];
  for (int i = 0; i < N; ++i) acc[i] = float(i) * 1e-3f;
  for (int64_t r = 0; r < reps; ++r) {
#pragma GCC unroll 128
    for (int i = 0; i < N; ++i) acc[i] = acc[i] * mul + add;
  }
  float sum = 0;
  for (int i = 0; i < N; ++i) sum += acc[i];
  return sum;
}

// Floats per round for this CPU: the register budget of the clone the loader picks.
int chain_floats() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx512f")) return 128;
  if (__builtin_cpu_supports("avx2")) return 96;
#endif
  return 48;
}

PYDL_SIMD_CLONES float fma_chains(int floats, int64_t reps, float mul, float add) {
  if (floats == 128) return chains<128>(reps, mul, add);
  if (floats == 96) return chains<96>(reps, mul, add);
  return chains<48>(reps, mul, add);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double peak_flops(double seconds, int threads) {
  if (!(seconds > 0) || seconds > 60)
    throw ValueError("peak_flops: expected 0 < seconds <= 60, got " + std::to_string(seconds));
  if (threads < 1 || threads > max_num_threads())
    throw ValueError("peak_flops: expected 1 <= threads <= " + std::to_string(max_num_threads()) + ", got " +
                     std::to_string(threads));
  // A volatile multiplier keeps the compiler from folding the chains away.
  volatile float mul = 0.999999f, add = 1e-6f;
  volatile float sink = 0;
  const int floats = chain_floats();
  // Calibrate on one thread: double the rounds until a run takes a measurable 10 ms.
  int64_t reps = 1 << 12;
  double took = 0;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    sink = sink + fma_chains(floats, reps, mul, add);
    took = seconds_since(t0);
    if (took > 0.01 || reps > (int64_t(1) << 40)) break;
    reps *= 2;
  }
  // Five rounds of a fifth of the time each, the fastest kept: on a shared machine a round
  // in which another process took a core reads low, and the peak is what the units can do.
  constexpr int kRounds = 5;
  const int64_t target = std::max<int64_t>(1, int64_t(double(reps) * seconds / took / kRounds));
  std::vector<float> sums(threads);
  double best = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Not parallel_range: every thread runs the whole chain set (nothing is split), on exactly
    // the requested team, whatever pydl's thread setting is.
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    sums[omp_get_thread_num()] = fma_chains(floats, target, mul, add);
    const double wall = seconds_since(t0);
    for (float s : sums) sink = sink + s;
    best = std::max(best, 2.0 * floats * double(target) * double(threads) / wall);
  }
  return best;
}

}  // namespace pydl

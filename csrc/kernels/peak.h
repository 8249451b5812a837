// The machine's measured peak float32 FLOP/s: the ceiling `pydl bench` reports each library's
// share of. Each thread runs independent multiply-add chains held in registers (no memory
// traffic, no dependence between chains longer than one FMA's latency), compiled for the best
// ISA the CPU has (PYDL_SIMD_CLONES), so the figure is what the FMA units can sustain, not
// the datasheet's. An FMA counts as 2 FLOPs, as GEMM FLOP counts (2 M N K) do.
#pragma once

namespace pydl {

// Runs the chains on `threads` threads for about `seconds` (calibrated on one thread first,
// then five parallel rounds) and returns the FLOPs over the wall time of the fastest round.
// ValueError unless seconds > 0 and 1 <= threads <= max_num_threads().
double peak_flops(double seconds, int threads);

}  // namespace pydl

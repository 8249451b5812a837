// PYDL_SIMD_CLONES: compile a hot loop for AVX-512, AVX2 and baseline x86-64, and pick the
// best one at load time by CPU features (GCC/Clang function multi-versioning, ifunc). The
// loop body goes in an always_inline template so each clone inlines it with its own ISA.
// The clone's own pointer parameters must carry __restrict where the body relies on it: GCC
// drops an inlined function's restrict, and a loop over several arrays it cannot prove apart
// stays scalar (the LSTM/GRU cells did, at 8x the cost, until their clones said restrict).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(__linux__)
#define PYDL_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYDL_SIMD_CLONES
#endif

#define PYDL_ALWAYS_INLINE [[gnu::always_inline]] inline

// MMEFF_CPU_CLONES: compile a CPU function for AVX-512, AVX2 and baseline x86-64 and pick the
// version at load time (GCC target_clones); a no-op elsewhere.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MMEFF_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MMEFF_CPU_CLONES
#endif

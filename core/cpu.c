/* CPU feature detection through GCC's __builtin_cpu_supports (CPUID, read once by
 * __builtin_cpu_init; calling it again is cheap and makes the answer safe before constructors). */
#include "core/cpu.h"

bool dpt_cpu_avx512(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512cd");
#else
    return false;
#endif
}

bool dpt_cpu_avx2_fma(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* CPU feature detection: which instruction sets this machine has, for choosing kernels (BLIS's
 * kernel set in core/blas.c, dptrain's own kernels in core/gemm_small.c and core/gemm_packed.c).
 * Each answer is the same for the whole process. */
#ifndef DPT_CPU_H
#define DPT_CPU_H

#include <stdbool.h>

/* Whether this CPU has the AVX-512 subsets of x86-64-v4 (F, DQ, BW, VL, CD): the 'skx' BLIS
 * kernels and dptrain's own 64-byte-vector kernels need them.  False off x86-64. */
bool dpt_cpu_avx512(void);

/* Whether this CPU has AVX2 and FMA (x86-64-v3): the 'haswell' BLIS kernels need them. */
bool dpt_cpu_avx2_fma(void);

#endif

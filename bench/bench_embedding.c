/* How an embedding layer's step scales with the vocabulary (docs/performance.md, "Embeddings"):
 * for V = 1k, 10k, 100k at B = 64 samples of T = 100 ids and D = 64, the fastest time of the
 * layer's forward and backward (a scatter-add: should not grow with V) next to the parts of a
 * step that are dense in V x D (zeroing the gradients, an Adam update).  The fastest of REPS runs:
 * the machine this was measured on was shared, and interference only adds.  Threads:
 * OMP_NUM_THREADS.
 *   bench_embedding [REPS] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/trace.h"
#include "core/util.h"

enum { B = 64, T = 100, D = 64 };

/* The fastest of reps runs, seconds, of one part (0 forward, 1 backward, 2 zero grads, 3 adam). */
static double time_part(int part, dpt_model *m, dpt_optim *o, const int32_t *ids, const float *dy,
                        int reps) {
    double best = 1e30;
    dpt_layer *l = &m->layers[0];
    for (int r = 0; r < reps; r++) {
        double t0 = dpt_now_s();
        if (part == 0) dpt_model_forward_ids(m, ids, B, NULL);
        if (part == 1)
            l->type->backward(l, (const float *)(const void *)ids, NULL, dy, NULL, B, NULL);
        if (part == 2) dpt_model_zero_grads(m);
        if (part == 3) dpt_optim_step(o, m->params, m->grads, 1e-3f);
        double dt = dpt_now_s() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 30;
    if (reps < 1) reps = 1;
    int32_t *ids = dpt_calloc((size_t)B * T, sizeof *ids);
    float *dy = dpt_alloc_floats((size_t)B * T * D); /* (B, T, D) */
    dpt_rng rng;
    dpt_rng_seed(&rng, 1, 0);
    for (size_t i = 0; i < (size_t)B * T * D; i++) dy[i] = dpt_rng_uniform(&rng) - 0.5f;
    printf("threads %d, B*T = %d ids, D = %d; fastest of %d runs, microseconds\n",
           omp_get_max_threads(), B * T, D, reps);
    printf("%8s %10s %10s %12s %10s\n", "V", "forward", "backward", "zero_grads", "adam");
    const int vocab[3] = {1000, 10000, 100000};
    for (int v = 0; v < 3; v++) {
        char line[96], err[512];
        snprintf(line, sizeof line, "embedding vocab_size=%d dim=%d", vocab[v], D);
        dpt_layer_spec s;
        dpt_shape in = dpt_shape_1d(T);
        in.dtype = DPT_I32;
        dpt_model m;
        if (dpt_layer_spec_parse(&s, line, err, sizeof err) ||
            dpt_model_build(&m, &s, 1, &in, B, err, sizeof err)) {
            fprintf(stderr, "bench_embedding: %s\n", err);
            return 1;
        }
        dpt_model_init_params(&m, 1);
        for (size_t i = 0; i < (size_t)B * T; i++)
            ids[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)vocab[v]);
        dpt_optim_spec os;
        dpt_optim_spec_defaults(&os, "adam");
        dpt_optim o;
        if (dpt_optim_init(&o, &os, m.nparams, err, sizeof err)) return 1;
        double us[4];
        for (int p = 0; p < 4; p++) us[p] = 1e6 * time_part(p, &m, &o, ids, dy, reps);
        printf("%8d %10.1f %10.1f %12.1f %10.1f\n", vocab[v], us[0], us[1], us[2], us[3]);
        dpt_optim_free(&o);
        dpt_model_free(&m);
    }
    free(ids);
    free(dy);
    return 0;
}

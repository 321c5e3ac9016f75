/* `dptrain evaluate MODEL DATA` and `dptrain predict MODEL DATA OUT.h5`: the model and this
 * rank's rows of DATA come from the trainer library (train/eval.h); here the loss and metrics are
 * printed (evaluate) or the predictions gathered to rank 0 and written (predict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "io/modelio.h"
#include "io/predictions.h"
#include "parallel/dist.h"
#include "train/eval.h"

static int parse(int argc, char **argv, int npos, const char **pos, const char *usage) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            if (dpt_world.rank == 0) printf("usage: %s\n", usage);
            return 1;
        }
        if (argv[i][0] == '-' || n == npos) {
            if (dpt_world.rank == 0)
                fprintf(stderr, "dptrain: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            return -1;
        }
        pos[n++] = argv[i];
    }
    if (n == npos) return 0;
    if (dpt_world.rank == 0) fprintf(stderr, "usage: %s\n", usage);
    return -1;
}

int dpt_cmd_evaluate(int argc, char **argv) {
    const char *pos[2];
    int rc = parse(argc, argv, 2, pos, "dptrain evaluate MODEL DATA");
    if (rc) return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    dpt_infer *r = dpt_calloc(1, sizeof *r);
    dpt_infer_init(r, pos[0], pos[1], true);
    dpt_totals t;
    dpt_infer_totals(r, &t);
    if (dpt_world.rank == 0) {
        printf("n=%lld loss=%.6f", (long long)t.samples, dpt_totals_loss(&t));
        for (int i = 0; i < r->nmetrics; i++)
            printf(" %s=%.6f", r->metrics[i]->name, dpt_totals_metric(&t, i));
        printf("\n");
        fflush(stdout);
    }
    dpt_infer_free(r);
    free(r);
    return DPT_EXIT_OK;
}

/* Class of each output row for classifiers (softmax: argmax; sigmoid with K = 1: p > 0.5). */
static void classes(const float *pred, int64_t n, int K, int32_t *labels) {
    for (int64_t i = 0; i < n; i++) {
        const float *p = pred + i * K;
        int best = 0;
        if (K == 1) best = p[0] > 0.5f;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        labels[i] = best;
    }
}

/* Gathers every rank's (nrows, w) block to rank 0 in row order. */
static float *gather_rows(const float *local, int64_t nrows, size_t w, int64_t ntotal) {
    int P = dpt_world.size;
    int *counts = dpt_calloc((size_t)P, sizeof(int)), *displs = dpt_calloc((size_t)P, sizeof(int));
    if ((double)ntotal * (double)w > 2147483647.0)
        dpt_fatal("predict: %lld rows x %zu outputs exceed the 2^31 floats one gather can move",
                  (long long)ntotal, w);
    int mine = (int)((size_t)nrows * w);
    MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, dpt_world.comm);
    for (int i = 1; i < P; i++) displs[i] = displs[i - 1] + counts[i - 1];
    float *all = dpt_world.rank == 0 ? dpt_alloc_floats((size_t)ntotal * w + 1) : NULL;
    MPI_Gatherv(local, mine, MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, dpt_world.comm);
    free(counts);
    free(displs);
    return all;
}

int dpt_cmd_predict(int argc, char **argv) {
    const char *pos[3];
    int rc = parse(argc, argv, 3, pos, "dptrain predict MODEL DATA OUT.h5");
    if (rc) return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    dpt_infer *r = dpt_calloc(1, sizeof *r);
    dpt_infer_init(r, pos[0], pos[1], false);
    int K = r->model.out_features, T = r->model.out_steps;
    size_t w = (size_t)T * K;
    int64_t nrows = r->data.shard.nrows, n = r->info.n;
    float *mine = dpt_alloc_floats((size_t)nrows * w + 1);
    dpt_infer_predict(r, mine);
    float *all = gather_rows(mine, nrows, w, n);
    if (dpt_world.rank == 0) {
        bool classifier = r->loss->output != NULL;
        int32_t *labels = classifier ? dpt_calloc((size_t)n * T + 1, sizeof(int32_t)) : NULL;
        if (labels) classes(all, n * T, K, labels);
        char err[1024];
        if (dpt_h5_write_predictions_seq(pos[2], all, n, T, K, labels, err, sizeof err))
            dpt_fatal("%s", err);
        printf("predictions of %lld rows written to %s\n", (long long)n, pos[2]);
        fflush(stdout);
        free(labels);
    }
    MPI_Barrier(dpt_world.comm);
    free(all);
    free(mine);
    dpt_infer_free(r);
    free(r);
    return DPT_EXIT_OK;
}

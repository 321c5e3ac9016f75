/* `dptrain evaluate MODEL DATA` and `dptrain predict MODEL DATA OUT.h5`: load a trained model on
 * every rank, read this rank's rows of DATA, apply the stored normalisation, and reduce the loss
 * and metrics (evaluate) or gather de-normalised predictions to rank 0 (predict). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/blas.h"
#include "core/util.h"
#include "io/modelio.h"
#include "io/predictions.h"
#include "parallel/dist.h"

typedef struct infer_run {
    dpt_config cfg;
    dpt_model model;
    dpt_norm xnorm, ynorm;
    const dpt_loss *loss;
    const dpt_metric *metrics[DPT_MAX_METRICS];
    int nmetrics;
    dpt_h5info info;
    dpt_data data;
    float *pred; /* (max_batch, K) */
} infer_run;

enum { INFER_BATCH = 256 };

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

static void load(infer_run *r, const char *model_path, const char *data_path, bool need_y) {
    char err[1024];
    int threads = dpt_dist_pick_threads(0);
    omp_set_num_threads(threads);
    dpt_blas_setup(threads);
    if (dpt_model_load(model_path, &r->cfg, &r->model, INFER_BATCH, &r->xnorm, &r->ynorm, err,
                       sizeof err))
        dpt_fatal("%s", err);
    r->loss = dpt_loss_find(r->cfg.loss);
    if (!r->loss) dpt_fatal("%s: unknown loss '%s' in the stored config", model_path, r->cfg.loss);
    r->nmetrics = dpt_resolve_metrics(&r->cfg, r->metrics);
    const char *yname = need_y ? r->cfg.y_name : NULL;
    const char *lname = r->cfg.lengths_name;
    if (dpt_h5_inspect_seq(&r->info, data_path, r->cfg.x_name, yname, lname, dpt_world.comm, err,
                           sizeof err))
        dpt_fatal("%s", err);
    const dpt_model *m = &r->model;
    if (r->info.F != m->in_features || r->info.T != m->in_steps)
        dpt_fatal("%s: '%s' has %d step(s) x %d features but the model expects %d x %d", data_path,
                  r->cfg.x_name, r->info.T, r->info.F, m->in_steps, m->in_features);
    int K = m->out_features;
    dpt_check_input(&r->info, data_path, r->cfg.x_name, m);
    if (need_y) dpt_check_targets(&r->info, data_path, r->cfg.x_name, r->cfg.y_name, r->loss, m);
    int nclasses = r->info.labels ? K : 0;
    if (dpt_h5_read_shard_seq(&r->data.shard, data_path, r->cfg.x_name, yname, lname, 0, r->info.n,
                              nclasses, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    dpt_data_normalise(&r->data, &r->xnorm, &r->ynorm);
    r->pred = dpt_alloc_floats((size_t)INFER_BATCH * (size_t)m->out_steps * (size_t)K);
}

static void free_run(infer_run *r) {
    free(r->pred);
    free(r->data.y_norm);
    dpt_shard_free(&r->data.shard);
    dpt_model_free(&r->model);
    dpt_norm_free(&r->xnorm);
    dpt_norm_free(&r->ynorm);
    dpt_config_free(&r->cfg);
}

int dpt_cmd_evaluate(int argc, char **argv) {
    const char *pos[2];
    int rc = parse(argc, argv, 2, pos, "dptrain evaluate MODEL DATA");
    if (rc) return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    infer_run *r = dpt_calloc(1, sizeof *r);
    load(r, pos[0], pos[1], true);
    int M = r->nmetrics;
    double sums[DPT_MAX_METRICS + 3];
    dpt_eval e = {r->loss, r->metrics, M, &r->ynorm};
    dpt_eval_sums(&r->model, &e, &r->data, r->pred, sums);
    dpt_allreduce_sum_f64(sums, (size_t)M + 3);
    double n = sums[1 + M], rows = sums[2 + M] > 0 ? sums[2 + M] : 1;
    if (dpt_world.rank == 0) {
        printf("n=%lld loss=%.6f", (long long)n, sums[0] / (n > 0 ? n : 1));
        for (int i = 0; i < M; i++) printf(" %s=%.6f", r->metrics[i]->name, sums[1 + i] / rows);
        printf("\n");
        fflush(stdout);
    }
    free_run(r);
    free(r);
    return DPT_EXIT_OK;
}

/* Predictions of this rank's samples into out (nrows, out_steps, K); padded steps are 0. */
static void predict_rows(infer_run *r, float *out) {
    const dpt_shard *s = &r->data.shard;
    int K = r->model.out_features, T = r->model.out_steps;
    size_t w = (size_t)T * K; /* floats per sample */
    for (int64_t i = 0; i < s->nrows; i += INFER_BATCH) {
        int B = (int)(s->nrows - i < INFER_BATCH ? s->nrows - i : INFER_BATCH);
        const int32_t *len = dpt_data_lengths(&r->data, i);
        dpt_step_ctx ctx = {.training = false, .lengths = len};
        const float *o = dpt_model_forward(&r->model, s->x + i * s->info.T * s->info.F, B, &ctx);
        float *p = out + (size_t)i * w; /* (B, T, K) */
        memcpy(p, o, sizeof(float) * (size_t)B * w);
        dpt_outputs_to_predictions(r->loss, &r->ynorm, p, (int64_t)B * T, K);
        const int32_t *olen = dpt_model_output_lengths(&r->model, len);
        for (int b = 0; olen && b < B; b++)
            memset(p + (size_t)b * w + (size_t)olen[b] * K, 0,
                   sizeof(float) * (size_t)(T - olen[b]) * K);
    }
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
    infer_run *r = dpt_calloc(1, sizeof *r);
    load(r, pos[0], pos[1], false);
    int K = r->model.out_features, T = r->model.out_steps;
    size_t w = (size_t)T * K;
    int64_t nrows = r->data.shard.nrows, n = r->info.n;
    float *mine = dpt_alloc_floats((size_t)nrows * w + 1);
    predict_rows(r, mine);
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
    free_run(r);
    free(r);
    return DPT_EXIT_OK;
}

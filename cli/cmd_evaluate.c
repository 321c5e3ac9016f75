/* `dptrain evaluate MODEL DATA` and `dptrain predict MODEL DATA OUT.h5 [--output-layer NAME]`:
 * the model and this rank's rows of DATA come from the trainer library (train/eval.h); here the
 * loss and metrics are printed (evaluate) or the predictions (or a named layer's outputs)
 * gathered to rank 0 and written (predict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "io/modelio.h"
#include "io/predictions.h"
#include "io/vocab.h"
#include "parallel/dist.h"
#include "train/eval.h"

/* An option that takes a value, and where it goes (NULL: not given). */
typedef struct opt {
    const char *name;
    const char **val;
} opt;

/* Positional arguments into pos (npos of them), option values into opts (nopts).  0, 1 for
 * --help, -1 on a usage error (printed by rank 0). */
static int parse_opts(int argc, char **argv, int npos, const char **pos, const char *usage,
                      const opt *opts, int nopts) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            if (dpt_world.rank == 0) printf("usage: %s\n", usage);
            return 1;
        }
        const opt *o = NULL;
        for (int j = 0; j < nopts && !o; j++)
            if (!strcmp(argv[i], opts[j].name)) o = &opts[j];
        if (o) {
            if (i + 1 == argc) {
                if (dpt_world.rank == 0)
                    fprintf(stderr, "dptrain: %s needs a value\nusage: %s\n", o->name, usage);
                return -1;
            }
            *o->val = argv[++i];
            continue;
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

/* --decode greedy | beam:K (K in 2..64) into o; end_id from the model's vocabulary. */
static int decode_opts(const char *text, const dpt_infer *r, dpt_decode_opts *o,
                       const char *usage) {
    memset(o, 0, sizeof *o);
    o->beam = 1;
    o->end_id = r->end_id;
    char *end = NULL;
    if (strcmp(text, "greedy") == 0) return 0;
    if (strncmp(text, "beam:", 5) == 0) {
        long k = strtol(text + 5, &end, 10);
        if (end != text + 5 && *end == '\0' && k >= 2 && k <= 64) {
            o->beam = (int)k;
            return 0;
        }
    }
    if (dpt_world.rank == 0)
        fprintf(stderr,
                "dptrain: --decode: expected 'greedy' or 'beam:K' with K in 2..64, got '%s'\n"
                "usage: %s\n",
                text, usage);
    return -1;
}

/* Decodes every rank's rows and prints the share that matches the targets exactly. */
static void evaluate_decoded(dpt_infer *r, const dpt_decode_opts *o) {
    int64_t rows = r->data.shard.nrows, n = 0;
    int T = r->model.out_steps;
    int32_t *tokens = dpt_calloc((size_t)(rows * T + 1), sizeof *tokens);
    int32_t *lens = dpt_calloc((size_t)rows + 1, sizeof *lens);
    dpt_infer_decode(r, o, tokens, lens);
    int64_t exact = dpt_infer_exact(r, tokens, lens, &n);
    if (dpt_world.rank == 0)
        printf(" exact_match=%.6f (%lld of %lld, %s)", n ? (double)exact / (double)n : 0.0,
               (long long)exact, (long long)n,
               dpt_decode_input(&r->model) < 0 ? "per-step argmax"
               : o->beam > 1                   ? "beam search"
                                               : "greedy");
    free(tokens);
    free(lens);
}

int dpt_cmd_evaluate(int argc, char **argv) {
    static const char usage[] = "dptrain evaluate MODEL DATA [--decode greedy|beam:K]";
    const char *pos[2], *decode = NULL;
    opt opts[] = {{"--decode", &decode}};
    int rc = parse_opts(argc, argv, 2, pos, usage, opts, 1);
    if (rc) return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    dpt_infer *r = dpt_calloc(1, sizeof *r);
    dpt_infer_init(r, pos[0], pos[1], true);
    dpt_decode_opts dopt;
    if (decode && decode_opts(decode, r, &dopt, usage)) {
        dpt_infer_free(r);
        free(r);
        return DPT_EXIT_USAGE;
    }
    dpt_totals t;
    dpt_infer_totals(r, &t);
    if (dpt_world.rank == 0) {
        printf("n=%lld loss=%.6f", (long long)t.samples, dpt_totals_loss(&t));
        for (int i = 0; i < r->nmetrics; i++)
            printf(" %s=%.6f", r->metrics[i]->name, dpt_totals_metric(&t, i));
    }
    if (decode) evaluate_decoded(r, &dopt);
    if (dpt_world.rank == 0) {
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

/* Gathers every rank's (nrows, w) int32 block to rank 0 in row order. */
static int32_t *gather_ids(const int32_t *local, int64_t nrows, size_t w, int64_t ntotal) {
    float *all = gather_rows((const float *)(const void *)local, nrows, w, ntotal); /* 4 bytes */
    return (int32_t *)(void *)all;
}

/* predict --decode: the decoded sequences (and their text, with a vocabulary) to out. */
static void predict_decoded(dpt_infer *r, const dpt_decode_opts *o, const char *out) {
    int64_t rows = r->data.shard.nrows, n = r->info.n;
    int T = r->model.out_steps;
    int32_t *tokens = dpt_calloc((size_t)(rows * T + 1), sizeof *tokens);
    int32_t *lens = dpt_calloc((size_t)rows + 1, sizeof *lens);
    dpt_infer_decode(r, o, tokens, lens);
    int32_t *all = gather_ids(tokens, rows, (size_t)T, n), *all_len = gather_ids(lens, rows, 1, n);
    if (dpt_world.rank == 0) {
        char **texts = r->cfg.vocab ? dpt_calloc((size_t)n + 1, sizeof *texts) : NULL;
        for (int64_t i = 0; texts && i < n; i++) {
            const int32_t *ids = all + (size_t)i * T;
            size_t need = dpt_vocab_decode(r->cfg.vocab, ids, all_len[i], NULL, 0);
            texts[i] = dpt_calloc(need + 1, 1);
            dpt_vocab_decode(r->cfg.vocab, ids, all_len[i], texts[i], need + 1);
        }
        char err[1024];
        if (dpt_h5_write_decoded(out, all, all_len, n, T, (const char *const *)texts, err,
                                 sizeof err))
            dpt_fatal("%s", err);
        printf("decoded sequences of %lld rows written to %s\n", (long long)n, out);
        fflush(stdout);
        for (int64_t i = 0; texts && i < n; i++) free(texts[i]);
        free(texts);
    }
    MPI_Barrier(dpt_world.comm);
    free(all);
    free(all_len);
    free(tokens);
    free(lens);
}

int dpt_cmd_predict(int argc, char **argv) {
    static const char usage[] =
        "dptrain predict MODEL DATA OUT.h5 [--output-layer NAME | --decode greedy|beam:K]";
    const char *pos[3], *layer_name = NULL, *decode = NULL;
    opt opts[] = {{"--output-layer", &layer_name}, {"--decode", &decode}};
    int rc = parse_opts(argc, argv, 3, pos, usage, opts, 2);
    if (rc) return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    if (layer_name && decode) {
        if (dpt_world.rank == 0)
            fprintf(stderr, "dptrain: --output-layer and --decode exclude each other\nusage: %s\n",
                    usage);
        return DPT_EXIT_USAGE;
    }
    dpt_infer *r = dpt_calloc(1, sizeof *r);
    dpt_infer_init(r, pos[0], pos[1], false);
    dpt_decode_opts dopt;
    if (decode) {
        rc = decode_opts(decode, r, &dopt, usage);
        if (rc == 0) predict_decoded(r, &dopt, pos[2]);
        dpt_infer_free(r);
        free(r);
        return rc ? DPT_EXIT_USAGE : DPT_EXIT_OK;
    }
    int layer = layer_name ? dpt_infer_layer(r, layer_name, pos[0]) : -1;
    /* What a row of the file holds: the model's output, or the named layer's raw outputs. */
    dpt_shape shape = layer >= 0 ? r->model.layers[layer].out_shape : r->model.out_shape;
    int K = dpt_shape_last(&shape), T = (int)dpt_shape_outer(&shape);
    size_t w = (size_t)T * K;
    int64_t nrows = r->data.shard.nrows, n = r->info.n;
    float *mine = dpt_alloc_floats((size_t)nrows * w + 1);
    if (layer >= 0)
        dpt_infer_activations(r, layer, mine);
    else
        dpt_infer_predict(r, mine);
    float *all = gather_rows(mine, nrows, w, n);
    if (dpt_world.rank == 0) {
        bool classifier = layer < 0 && r->loss->output != NULL;
        int32_t *labels = classifier ? dpt_calloc((size_t)n * T + 1, sizeof(int32_t)) : NULL;
        if (labels) classes(all, n * T, K, labels);
        char err[1024];
        if (dpt_h5_write_predictions_shape(pos[2], all, n, &shape, labels, err, sizeof err))
            dpt_fatal("%s", err);
        if (layer >= 0)
            printf("outputs of layer %s of %lld rows written to %s\n", layer_name, (long long)n,
                   pos[2]);
        else
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

/* `dptrain generate MODEL --prompt TEXT --length N [--temperature T] [--seed S] [--beam K]`:
 * text from a trained model with its stored vocabulary (docs/text.md).  A language model (one
 * int32 input whose time axis its output keeps) continues the prompt one token at a time, on a
 * window of its input length; an encoder–decoder (a second input the output feeds back into)
 * reads the prompt as its source and decodes the answer from <start> until <end>.  Rank 0 does
 * the work; other ranks of an mpirun wait. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/rng.h"
#include "core/util.h"
#include "io/modelio.h"
#include "io/vocab.h"
#include "parallel/dist.h"
#include "train/decode.h"

static const char usage_text[] =
    "dptrain generate MODEL --prompt TEXT [--length N] [--temperature T] [--seed S] [--beam K]\n"
    "  --length N       tokens to generate (language models; default 200)\n"
    "  --temperature T  0 = greedy (the most likely token), > 0 samples from softmax(logits/T)\n"
    "                   (default 1)\n"
    "  --seed S         the sampling seed (default 1)\n"
    "  --beam K         encoder-decoder models: beam search of width K (default 1: greedy)";

typedef struct gen_args {
    const char *model, *prompt;
    long length, beam;
    double temperature;
    unsigned long long seed;
} gen_args;

static int usage_error(const char *what, const char *arg) {
    if (dpt_world.rank == 0)
        fprintf(stderr, "dptrain generate: %s%s%s%s\nusage: %s\n", what, arg ? " '" : "",
                arg ? arg : "", arg ? "'" : "", usage_text);
    return -1;
}

static int number(const char *opt, const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) return usage_error(opt, text);
    *out = v;
    return 0;
}

/* 0, 1 for --help, -1 on a usage error. */
static int parse(int argc, char **argv, gen_args *a) {
    *a = (gen_args){.length = 200, .beam = 1, .temperature = 1.0, .seed = 1};
    double v = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            if (dpt_world.rank == 0) printf("usage: %s\n", usage_text);
            return 1;
        }
        bool takes = !strcmp(o, "--prompt") || !strcmp(o, "--length") ||
                     !strcmp(o, "--temperature") || !strcmp(o, "--seed") || !strcmp(o, "--beam");
        if (takes && i + 1 == argc) return usage_error("missing value after", o);
        if (!strcmp(o, "--prompt")) {
            a->prompt = argv[++i];
        } else if (!strcmp(o, "--length")) {
            if (number("bad value for '--length' (expected 1 to 1000000):", argv[++i], 1, 1e6, &v))
                return -1;
            a->length = (long)v;
        } else if (!strcmp(o, "--temperature")) {
            if (number("bad value for '--temperature' (expected 0 to 100):", argv[++i], 0, 100,
                       &a->temperature))
                return -1;
        } else if (!strcmp(o, "--seed")) {
            if (number("bad value for '--seed' (expected 0 to 2^53):", argv[++i], 0, 9.0e15, &v))
                return -1;
            a->seed = (unsigned long long)v;
        } else if (!strcmp(o, "--beam")) {
            if (number("bad value for '--beam' (expected 1 to 64):", argv[++i], 1, 64, &v))
                return -1;
            a->beam = (long)v;
        } else if (o[0] == '-' || a->model) {
            return usage_error("unexpected argument", o);
        } else {
            a->model = o;
        }
    }
    if (!a->model) return usage_error("missing MODEL", NULL);
    if (!a->prompt) return usage_error("missing --prompt TEXT", NULL);
    return 0;
}

/* The prompt as ids, fatal on invalid UTF-8; *n ids (malloc'd). */
static int32_t *encode_prompt(const dpt_vocab *v, const char *prompt, int64_t *n) {
    if (!prompt) dpt_fatal("--prompt: missing");
    size_t len = strlen(prompt), bad = 0;
    int64_t count = dpt_vocab_encode(v, prompt, len, NULL, 0, &bad);
    if (count < 0) dpt_fatal("--prompt: invalid UTF-8 at byte %zu; expected UTF-8 text", bad);
    int32_t *ids = dpt_calloc((size_t)count + 1, sizeof *ids);
    dpt_vocab_encode(v, prompt, len, ids, count, NULL);
    *n = count;
    return ids;
}

static void print_ids(const dpt_vocab *v, const int32_t *ids, int64_t n) {
    size_t need = dpt_vocab_decode(v, ids, n, NULL, 0);
    char *text = dpt_calloc(need + 1, 1);
    dpt_vocab_decode(v, ids, n, text, need + 1);
    fputs(text, stdout);
    free(text);
}

/* A language model: the prompt continued by a->length tokens, each from the logits after the
 * last a window of T tokens ends with. */
static void continue_text(dpt_model *m, const dpt_vocab *v, const gen_args *a) {
    int T = m->inputs[0].shape.dim[0], K = m->out_features, V = v->V; /* tokens: [0, V) */
    int64_t n = 0;
    int32_t *prompt = encode_prompt(v, a->prompt, &n);
    if (n == 0) dpt_fatal("--prompt: empty; expected at least one character or word");
    int64_t cap = n + a->length;
    int32_t *ids = dpt_calloc((size_t)cap, sizeof *ids), *x = dpt_calloc((size_t)T, sizeof *x);
    memcpy(ids, prompt, (size_t)n * sizeof *ids);
    dpt_decode_opts o = {.temperature = (float)a->temperature, .end_id = -1, .beam = 1};
    dpt_rng rng;
    dpt_rng_seed(&rng, a->seed, 0);
    print_ids(v, ids, n);
    for (int64_t i = n; i < cap; i++) {
        int64_t from = i > T ? i - T : 0;
        int32_t len = (int32_t)(i - from);
        memset(x, 0, (size_t)T * sizeof *x);
        memcpy(x, ids + from, (size_t)len * sizeof *x);
        dpt_step_ctx ctx = {.training = false, .lengths = &len};
        const float *out = dpt_model_forward_rows(m, x, 1, &ctx); /* (1, T, V) */
        ids[i] = dpt_decode_pick(out + (size_t)(len - 1) * K, V, &o, &rng);
        print_ids(v, ids + i, 1);
    }
    printf("\n");
    free(prompt);
    free(ids);
    free(x);
}

/* An encoder-decoder: the prompt as the source (input j), the answer decoded into input k. */
static void translate(dpt_model *m, const dpt_vocab *v, int k, const gen_args *a) {
    int j = 1 - k, Tj = m->inputs[j].shape.dim[0], T = m->out_steps;
    if (v->start_id < 0)
        dpt_fatal("%s: the vocabulary has no <start> token to begin decoding with", a->model);
    int64_t n = 0;
    int32_t *src = encode_prompt(v, a->prompt, &n);
    if (n < 1 || n > Tj)
        dpt_fatal("--prompt: %lld tokens; the model's input '%s' takes 1 to %d", (long long)n,
                  m->inputs[j].name, Tj);
    int32_t *x = dpt_calloc(m->in_width, sizeof *x); /* (in_width): one packed row */
    memcpy(x + m->inputs[j].offset, src, (size_t)n * sizeof *x);
    x[m->inputs[k].offset] = v->start_id;
    int32_t lens[2];
    lens[j] = (int32_t)n;
    lens[k] = 1;
    dpt_decode_opts o = {.temperature = a->beam > 1 ? 0.0f : (float)a->temperature,
                         .end_id = v->end_id,
                         .beam = (int)a->beam};
    dpt_rng rng;
    dpt_rng_seed(&rng, a->seed, 0);
    int32_t *out = dpt_calloc((size_t)T, sizeof *out), olen = 0;
    if (a->beam > 1)
        olen = dpt_decode_beam(m, x, lens, &o, out);
    else
        dpt_decode_rows(m, x, lens, 1, &o, &rng, out, &olen);
    print_ids(v, out, olen);
    printf("\n");
    free(src);
    free(x);
    free(out);
}

static void generate(const gen_args *a) {
    dpt_config c;
    dpt_model m;
    dpt_norm xn, yn;
    char err[1024];
    int batch = a->beam > 1 ? (int)a->beam : 1;
    if (dpt_model_load(a->model, &c, &m, batch, &xn, &yn, err, sizeof err)) dpt_fatal("%s", err);
    if (!c.vocab)
        dpt_fatal("%s: the model has no vocabulary (it was not trained on text imported with "
                  "dptrain import text or made by dpt_mkdata addition/reverse)",
                  a->model);
    int k = dpt_decode_input(&m);
    if (k < 0 || m.ninputs > 2 || (m.ninputs == 2 && m.inputs[1 - k].shape.dtype != DPT_I32))
        dpt_fatal("%s: generate needs a language model (int32 tokens in, one output per step) "
                  "or an encoder-decoder with two int32 token inputs; this model has %d input%s "
                  "and does not feed its output back into one",
                  a->model, m.ninputs, m.ninputs > 1 ? "s" : "");
    if (m.out_features < c.vocab->V)
        dpt_fatal("%s: the model outputs %d classes per step but its vocabulary has %d tokens",
                  a->model, m.out_features, c.vocab->V);
    if (m.ninputs == 1)
        continue_text(&m, c.vocab, a);
    else
        translate(&m, c.vocab, k, a);
    fflush(stdout);
    dpt_model_free(&m);
    dpt_norm_free(&xn);
    dpt_norm_free(&yn);
    dpt_config_free(&c);
}

int dpt_cmd_generate(int argc, char **argv) {
    gen_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    if (dpt_world.rank == 0) generate(&a);
    MPI_Barrier(dpt_world.comm);
    return DPT_EXIT_OK;
}

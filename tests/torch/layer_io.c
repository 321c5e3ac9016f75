/* One layer spec (and the activation it may fuse) on random data, for the comparison with
 * PyTorch (tests/torch/run.py): forward in training mode, backward from a random dy with the
 * input gradient of the first layer too, everything written to DIR as raw little-endian float32
 * files plus manifest.json (shapes, layers, tensors with their offsets in params.bin).
 *   dpt_layer_io DIR 'SPEC LINE' IN_SHAPE B SEED [IDS]  e.g.  out 'conv2d filters=4 kernel_size=3'
 * 6,5,2 3 1.  With IDS (an embedding), x is int32 token ids uniform in [0, IDS), written as
 * int32.  Files: x (B, in), params (nparams), state_before and state (nstate: the layers'
 * state tensors before and after the training pass), y (B, out), dy (B, out), dx (B, in), grads
 * (nparams).
 * Several inputs (a merge, attention): one layer built with dpt_layer_build_n, no model:
 *   dpt_layer_io DIR 'SPEC LINE' 'SHAPE;SHAPE[;...]' B SEED [LENGTHS]
 *   e.g.  dpt_layer_io out attention '5,8;7,8' 3 1 '-;7,2,5'
 * LENGTHS: per input '-' (all steps) or B valid steps of its first axis, comma-separated.
 * Files: x0, x1, ... and dx0, dx1, ... (B, shape k), the others as above; manifest.json has
 * in_shapes instead of in_shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/model.h"
#include "core/rng.h"
#include "core/util.h"

/* "6,5,2" -> (6, 5, 2); 0 or -1. */
static int parse_shape(const char *text, dpt_shape *s) {
    int d[DPT_SHAPE_MAX_RANK], n = 0;
    const char *p = text;
    while (*p && n < DPT_SHAPE_MAX_RANK) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1) return -1;
        d[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    if (*p || n == 0) return -1;
    *s = n == 1   ? dpt_shape_1d(d[0])
         : n == 2 ? dpt_shape_2d(d[0], d[1])
                  : dpt_shape_3d(d[0], d[1], d[2]);
    return 0;
}

static void fill(float *v, size_t n, float lo, float hi, dpt_rng *rng) {
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * dpt_rng_uniform(rng);
}

static void write_floats(const char *dir, const char *name, const float *v, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(v, sizeof *v, n, f) != n) || fclose(f)) {
        fprintf(stderr, "dpt_layer_io: cannot write %s\n", path);
        exit(1);
    }
}

static void json_dims(FILE *f, const int *dim, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", dim[i]);
    fputc(']', f);
}

static void json_tensors(FILE *f, const dpt_param_tensor *list, int n) {
    for (int t = 0; t < n; t++) {
        fprintf(f, "%s{\"name\": \"%s\", \"offset\": %zu, \"dims\": ", t ? ", " : "", list[t].name,
                list[t].offset);
        json_dims(f, list[t].dim, list[t].ndim);
        fputc('}', f);
    }
}

static void write_manifest(const char *dir, const dpt_model *m, int B) {
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) exit(1);
    fprintf(f, "{\"B\": %d, \"in_shape\": ", B);
    json_dims(f, m->in_shape.dim, m->in_shape.rank);
    fprintf(f, ", \"out_shape\": ");
    json_dims(f, m->out_shape.dim, m->out_shape.rank);
    fprintf(f, ", \"nparams\": %zu, \"nstate\": %zu, \"layers\": [", m->nparams, m->nstate);
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        fprintf(f, "%s{\"name\": \"%s\", \"type\": \"%s\", \"tensors\": [", i ? ", " : "", l->name,
                l->type->name);
        json_tensors(f, l->tensors, l->ntensors);
        fprintf(f, "], \"states\": [");
        json_tensors(f, l->states, l->nstates);
        fprintf(f, "]}");
    }
    fprintf(f, "]}\n");
    if (fclose(f)) exit(1);
}

/* Forward through every layer in training mode, then backward with dx of layer 0 as well. */
static void run(dpt_model *m, const float *x, float *y, const float *dy, float *dx, int B,
                uint64_t seed) {
    size_t width = 0; /* the widest activation per sample */
    for (int i = 0; i <= m->nlayers; i++) {
        const dpt_shape *s = i < m->nlayers ? &m->layers[i].in_shape : &m->out_shape;
        if (dpt_shape_size(s) > width) width = dpt_shape_size(s);
    }
    float **acts = dpt_calloc((size_t)m->nlayers + 1, sizeof *acts);
    float *delta[2] = {dpt_alloc_floats((size_t)B * width), dpt_alloc_floats((size_t)B * width)};
    int64_t *ids = dpt_calloc((size_t)B, sizeof *ids);
    for (int b = 0; b < B; b++) ids[b] = 1000 + b;
    dpt_step_ctx ctx = {.training = true, .seed = seed, .step = 3, .sample_ids = ids};
    acts[0] = (float *)x;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        acts[i + 1] =
            i + 1 == m->nlayers ? y : dpt_alloc_floats((size_t)B * dpt_shape_size(&l->out_shape));
        l->type->forward(l, acts[i], acts[i + 1], B, &ctx);
    }
    const float *d = dy;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        dpt_layer *l = &m->layers[i];
        float *out = i == 0 ? dx : delta[i & 1];
        l->type->backward(l, acts[i], acts[i + 1], d, out, B, &ctx);
        d = out;
    }
    for (int i = 1; i < m->nlayers; i++) free(acts[i]);
    free(acts);
    free(delta[0]);
    free(delta[1]);
    free(ids);
}

static int main_inputs(int argc, char **argv);

int main(int argc, char **argv) {
    if ((argc == 6 || argc == 7) && strchr(argv[3], ';')) return main_inputs(argc, argv);
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: dpt_layer_io DIR 'SPEC LINE' IN_SHAPE B SEED [IDS]\n"
                        "       dpt_layer_io DIR 'SPEC LINE' 'S1;S2[;..]' B SEED [LENGTHS]\n");
        return 2;
    }
    const char *dir = argv[1];
    dpt_layer_spec spec;
    dpt_shape in;
    char err[1024];
    int B = atoi(argv[4]);
    uint64_t seed = strtoull(argv[5], NULL, 10);
    int ids = argc == 7 ? atoi(argv[6]) : 0; /* > 0: x holds int32 ids in [0, ids) */
    if (dpt_layer_spec_parse(&spec, argv[2], err, sizeof err) || parse_shape(argv[3], &in) ||
        B < 1 || (argc == 7 && ids < 1)) {
        fprintf(stderr, "dpt_layer_io: bad arguments: %s\n", err);
        return 2;
    }
    if (ids) in.dtype = DPT_I32;
    dpt_model m;
    if (dpt_model_build(&m, &spec, 1, &in, B, err, sizeof err)) {
        fprintf(stderr, "dpt_layer_io: %s\n", err);
        return 1;
    }
    size_t nin = (size_t)B * dpt_shape_size(&in), nout = (size_t)B * dpt_shape_size(&m.out_shape);
    float *x = dpt_alloc_floats(nin), *dx = dpt_alloc_floats(nin);
    float *y = dpt_alloc_floats(nout), *dy = dpt_alloc_floats(nout);
    dpt_rng rng;
    dpt_rng_seed(&rng, seed, 0);
    fill(x, nin, -2.0f, 2.0f, &rng);
    int32_t *xi = (int32_t *)(void *)x; /* the same 4 bytes per value */
    for (size_t i = 0; ids && i < nin; i++) xi[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)ids);
    fill(dy, nout, -1.0f, 1.0f, &rng);
    fill(m.params, m.nparams, -0.5f, 0.5f, &rng);
    fill(m.state, m.nstate, 0.5f, 1.5f, &rng); /* moving statistics: a variance must be > 0 */
    write_floats(dir, "params", m.params, m.nparams); /* before: a layer may update state */
    write_floats(dir, "state_before", m.state, m.nstate);
    dpt_model_zero_grads(&m);
    run(&m, x, y, dy, dx, B, seed);
    write_floats(dir, "x", x, nin);
    write_floats(dir, "y", y, nout);
    write_floats(dir, "dy", dy, nout);
    write_floats(dir, "dx", dx, nin);
    write_floats(dir, "grads", m.grads, m.nparams);
    write_floats(dir, "state", m.state, m.nstate);
    write_manifest(dir, &m, B);
    free(x);
    free(dx);
    free(y);
    free(dy);
    dpt_model_free(&m);
    return 0;
}

/* ---- several inputs: one layer with forward_n / backward_n ---- */

/* "5,8;7,8" -> n shapes; 0 or -1. */
static int parse_shapes(const char *text, dpt_shape *s, int *n) {
    char buf[256];
    if (strlen(text) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ";", &save); tok;
         tok = strtok_r(NULL, ";", &save)) {
        if (*n == DPT_LAYER_MAX_INPUTS || parse_shape(tok, &s[*n])) return -1;
        (*n)++;
    }
    return *n ? 0 : -1;
}

/* "-;7,2,5" -> per input NULL or B lengths in [1, first dimension] (owned by the caller). */
static int parse_lengths(const char *text, const dpt_shape *s, int n, int B, int32_t **len) {
    const char *p = text;
    for (int k = 0; k < n; k++) {
        len[k] = NULL;
        if (*p == '-') {
            p++;
        } else {
            len[k] = dpt_calloc((size_t)B, sizeof *len[k]);
            for (int b = 0; b < B; b++) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p || v < 1 || v > s[k].dim[0]) return -1;
                len[k][b] = (int32_t)v;
                p = end + (*end == ',' && b + 1 < B);
            }
        }
        if (*p != (k + 1 < n ? ';' : '\0')) return -1;
        p += k + 1 < n;
    }
    return 0;
}

static void write_manifest_n(const char *dir, const dpt_layer *l, int B) {
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) exit(1);
    fprintf(f, "{\"B\": %d, \"in_shapes\": [", B);
    for (int k = 0; k < l->ninputs; k++) {
        fprintf(f, "%s", k ? ", " : "");
        json_dims(f, l->in_shapes[k].dim, l->in_shapes[k].rank);
    }
    fprintf(f, "], \"out_shape\": ");
    json_dims(f, l->out_shape.dim, l->out_shape.rank);
    fprintf(f, ", \"nparams\": %zu, \"nstate\": 0, \"layers\": [{\"name\": \"%s\", ", l->nparams,
            l->name);
    fprintf(f, "\"type\": \"%s\", \"tensors\": [", l->type->name);
    json_tensors(f, l->tensors, l->ntensors);
    fprintf(f, "], \"states\": []}]}\n");
    if (fclose(f)) exit(1);
}

/* Builds the layer for inputs in (n), parameters at offsets from 0. */
static int build_n(dpt_layer *l, const dpt_layer_spec *spec, const dpt_shape *in, int n, int B,
                   char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->spec = *spec;
    l->type = dpt_layer_find(spec->type);
    l->index = 1;
    snprintf(l->name, sizeof l->name, "%s", spec->name[0] ? spec->name : spec->type);
    if (!l->type || !l->type->forward_n)
        return snprintf(err, errlen, "%s: not a type with several inputs", spec->type), -1;
    if (dpt_layer_build_n(l, in, n, err, errlen)) return -1;
    if (l->nstates) return snprintf(err, errlen, "state tensors are not supported here"), -1;
    for (int t = 0; t < l->ntensors; t++) {
        l->tensors[t].offset = l->nparams;
        l->nparams += l->tensors[t].size;
    }
    l->params = dpt_alloc_floats(l->nparams);
    l->grads = dpt_alloc_floats(l->nparams);
    l->cache = dpt_alloc_floats(l->cache_fixed + (size_t)B * l->cache_per_sample);
    return 0;
}

static int main_inputs(int argc, char **argv) {
    const char *dir = argv[1];
    dpt_layer_spec spec;
    dpt_shape in[DPT_LAYER_MAX_INPUTS];
    int32_t *len[DPT_LAYER_MAX_INPUTS] = {NULL};
    char err[1024] = "", name[32];
    int n = 0, B = atoi(argv[4]);
    uint64_t seed = strtoull(argv[5], NULL, 10);
    if (dpt_layer_spec_parse(&spec, argv[2], err, sizeof err) || parse_shapes(argv[3], in, &n) ||
        B < 1 || (argc == 7 && parse_lengths(argv[6], in, n, B, len))) {
        fprintf(stderr, "dpt_layer_io: bad arguments: %s\n", err);
        return 2;
    }
    dpt_layer l;
    if (build_n(&l, &spec, in, n, B, err, sizeof err)) {
        fprintf(stderr, "dpt_layer_io: %s\n", err);
        return 1;
    }
    dpt_rng rng;
    dpt_rng_seed(&rng, seed, 0);
    dpt_layer_io io = {.n = n};
    for (int k = 0; k < n; k++) {
        size_t m = (size_t)B * dpt_shape_size(&in[k]);
        float *x = dpt_alloc_floats(m);
        fill(x, m, -2.0f, 2.0f, &rng);
        io.x[k] = x;
        io.dx[k] = dpt_alloc_floats(m);
        io.lengths[k] = len[k];
    }
    size_t nout = (size_t)B * dpt_shape_size(&l.out_shape);
    float *y = dpt_alloc_floats(nout), *dy = dpt_alloc_floats(nout);
    fill(dy, nout, -1.0f, 1.0f, &rng);
    fill(l.params, l.nparams, -0.5f, 0.5f, &rng);
    write_floats(dir, "params", l.params, l.nparams);
    dpt_step_ctx ctx = {.training = true, .seed = seed, .step = 3, .lengths = len[0]};
    l.type->forward_n(&l, &io, y, B, &ctx);
    l.type->backward_n(&l, &io, y, dy, B, &ctx);
    for (int k = 0; k < n; k++) {
        size_t m = (size_t)B * dpt_shape_size(&in[k]);
        snprintf(name, sizeof name, "x%d", k);
        write_floats(dir, name, io.x[k], m);
        snprintf(name, sizeof name, "dx%d", k);
        write_floats(dir, name, io.dx[k], m);
        free((void *)io.x[k]);
        free(io.dx[k]);
        free(len[k]);
    }
    write_floats(dir, "y", y, nout);
    write_floats(dir, "dy", dy, nout);
    write_floats(dir, "grads", l.grads, l.nparams);
    write_manifest_n(dir, &l, B);
    free(y);
    free(dy);
    free(l.params);
    free(l.grads);
    free(l.cache);
    return 0;
}

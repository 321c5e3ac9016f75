/* One layer spec (and the activation it may fuse) on random data, for the comparison with
 * PyTorch (tests/torch/run.py): forward in training mode, backward from a random dy with the
 * input gradient of the first layer too, everything written to DIR as raw little-endian float32
 * files plus manifest.json (shapes, layers, tensors with their offsets in params.bin).
 *   dpt_layer_io DIR 'SPEC LINE' IN_SHAPE B SEED [IDS]  e.g.  out 'conv2d filters=4 kernel_size=3'
 * 6,5,2 3 1.  With IDS (an embedding), x is int32 token ids uniform in [0, IDS), written as
 * int32.  Files: x (B, in), params (nparams), state_before and state (nstate: the layers'
 * state tensors before and after the training pass), y (B, out), dy (B, out), dx (B, in), grads
 * (nparams). */
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

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: dpt_layer_io DIR 'SPEC LINE' IN_SHAPE B SEED [IDS]\n");
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

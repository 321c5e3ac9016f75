/* The layer-type registry (the list is core/layer_types.h) and the generic handling of layer
 * specs: defaults, setting a key from text, reading one back, all through the type's key table. */
#include "core/layer.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define DPT_LAYER_TYPE(id) extern const dpt_layer_type dpt_layer_##id##_type;
#include "core/layer_types.h"
#undef DPT_LAYER_TYPE

static const dpt_layer_type *const layer_types[] = {
#define DPT_LAYER_TYPE(id) &dpt_layer_##id##_type,
#include "core/layer_types.h"
#undef DPT_LAYER_TYPE
};
#define NTYPES (sizeof layer_types / sizeof layer_types[0])

static const char *const layer_names[NTYPES + 1] = {
#define DPT_LAYER_TYPE(id) #id,
#include "core/layer_types.h"
#undef DPT_LAYER_TYPE
    NULL};

const dpt_layer_type *dpt_layer_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(layer_types[i]->name, name) == 0) return layer_types[i];
    return NULL;
}

const char *const *dpt_layer_names(void) {
    return layer_names;
}

bool dpt_layer_type_has(const dpt_layer_type *t, unsigned flag) {
    return t && (t->flags & flag) == flag;
}

dpt_dtype dpt_layer_input_dtype(const dpt_layer_type *t) {
    return dpt_layer_type_has(t, DPT_LAYER_INT_INPUT) ? DPT_I32 : DPT_F32;
}

int dpt_layer_min_inputs(const dpt_layer_type *t) {
    return t->min_inputs > 0 ? t->min_inputs : 1;
}

int dpt_layer_max_inputs(const dpt_layer_type *t) {
    return t->max_inputs > 0 ? t->max_inputs : 1;
}

/* Input 0 is of the type's element type; every other input is float32. */
static int check_dtype(const dpt_layer *l, const dpt_shape *in, int k, char *err, size_t errlen) {
    dpt_dtype want = k == 0 ? dpt_layer_input_dtype(l->type) : DPT_F32;
    char buf[64];
    if (in->dtype == want) return 0;
    if (want == DPT_F32)
        return dpt_err(err, errlen,
                       "%s reads float32 input; %s holds int32 token ids: put an embedding layer "
                       "in between",
                       l->type->name, k == 0 ? "its input" : "another input");
    return dpt_err(err, errlen, "%s reads int32 token ids, got %s input", l->type->name,
                   dpt_shape_str(in, buf, sizeof buf));
}

int dpt_layer_build_n(dpt_layer *l, const dpt_shape *in, int n, char *err, size_t errlen) {
    DPT_ASSERT(l->type && n >= 1 && n <= DPT_LAYER_MAX_INPUTS);
    int lo = dpt_layer_min_inputs(l->type), hi = dpt_layer_max_inputs(l->type);
    if (n < lo || n > hi) {
        if (lo == hi)
            return dpt_err(err, errlen, "%s takes %d input%s, got %d", l->type->name, lo,
                           lo == 1 ? "" : "s", n);
        return dpt_err(err, errlen, "%s takes %d to %d inputs, got %d", l->type->name, lo, hi, n);
    }
    for (int k = 0; k < n; k++) {
        DPT_ASSERT(in[k].rank >= 1 && in[k].rank <= DPT_SHAPE_MAX_RANK);
        if (check_dtype(l, &in[k], k, err, errlen)) return -1;
        l->in_shapes[k] = in[k];
    }
    l->ninputs = n;
    l->in_shape = in[0];
    l->in = dpt_shape_last(&in[0]);
    l->steps_in = (int)dpt_shape_outer(&in[0]);
    l->state_size = 0;
    memset(&l->out_shape, 0, sizeof l->out_shape);
    if (l->type->build(l, err, errlen)) return -1;
    const dpt_shape *out = &l->out_shape;
    DPT_ASSERT(dpt_shape_check(out, NULL, 0) == 0 && out->dtype == DPT_F32);
    DPT_ASSERT(l->state_size >= 0);
    l->out = dpt_shape_last(out);
    l->steps_out = (int)dpt_shape_outer(out);
    return 0;
}

int dpt_layer_build(dpt_layer *l, const dpt_shape *in, char *err, size_t errlen) {
    return dpt_layer_build_n(l, in, 1, err, errlen);
}

size_t dpt_layer_piece_start(const dpt_layer *l, int p) {
    int n = l->grad_pieces > 1 ? l->grad_pieces : 1;
    DPT_ASSERT(p >= 0 && p <= n);
    if (p == n) return l->nparams;
    const dpt_param_tensor *t = &l->tensors[0];
    return (size_t)((int64_t)t->dim[0] * p / n) * (size_t)t->dim[1];
}

/* ---- specs ---- */

int dpt_layer_spec_init(dpt_layer_spec *s, const char *type, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    snprintf(s->type, sizeof s->type, "%s", type ? type : "");
    const dpt_layer_type *t = dpt_layer_find(s->type);
    if (!t) {
        char names[256];
        return dpt_err(err, errlen, "unknown layer type '%s' (expected one of: %s)", s->type,
                       dpt_join_names(names, sizeof names, layer_names));
    }
    DPT_ASSERT(t->args_size <= DPT_LAYER_ARGS_MAX && t->nkeys <= DPT_LAYER_KEYS_MAX);
    return dpt_key_defaults(t->keys, t->nkeys, s->args.bytes, err, errlen);
}

static const dpt_key name_key = {.name = "name",
                                 .kind = DPT_KEY_STRING,
                                 DPT_FIELD(dpt_layer_spec, name),
                                 .what = "a layer name",
                                 .help = "unique name in model files (default <type>_<i>)"};

/* One name of `inputs` or `initial_state`: [start, end) of text, trimmed, into out. */
static int graph_name(const char *key, const char *start, const char *end, char *out, char *err,
                      size_t errlen) {
    while (start < end && (*start == ' ' || *start == '\t')) start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t n = (size_t)(end - start);
    if (n == 0) return dpt_err(err, errlen, "%s: expected a layer or model input name, got ''", key);
    if (n >= DPT_NAME_MAX)
        return dpt_err(err, errlen, "%s: a name of %zu characters (expected at most %d)", key, n,
                       DPT_NAME_MAX - 1);
    memcpy(out, start, n);
    out[n] = '\0';
    return 0;
}

/* inputs: "a" or "[a, b, ...]" (the config reader renders a YAML list that way). */
static int set_inputs(dpt_layer_spec *s, const char *text, char *err, size_t errlen) {
    const char *p = text, *end = text + strlen(text);
    if (*p == '[') {
        if (end == p + 1 || end[-1] != ']')
            return dpt_err(err, errlen, "inputs: expected a name or a list of names, got '%s'",
                           text);
        p++, end--;
    }
    s->ninputs = 0;
    memset(s->inputs, 0, sizeof s->inputs);
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (s->ninputs == DPT_LAYER_MAX_INPUTS)
            return dpt_err(err, errlen, "inputs: more than %d names", DPT_LAYER_MAX_INPUTS);
        if (graph_name("inputs", p, stop, s->inputs[s->ninputs], err, errlen)) return -1;
        s->ninputs++;
        p = stop + 1;
    }
    return 0;
}

int dpt_layer_spec_set(dpt_layer_spec *s, const char *key, const char *text, char *err,
                       size_t errlen) {
    char msg[768];
    const dpt_layer_type *t = dpt_layer_find(s->type);
    if (strcmp(key, "inputs") == 0) return set_inputs(s, text ? text : "", err, errlen);
    if (strcmp(key, "initial_state") == 0) {
        if (!dpt_layer_type_has(t, DPT_LAYER_INITIAL_STATE))
            return dpt_err(err, errlen, "initial_state: unknown key for a %s layer", s->type);
        memset(s->initial_state, 0, sizeof s->initial_state);
        if (!text || !text[0]) return 0;
        return graph_name("initial_state", text, text + strlen(text), s->initial_state, err,
                          errlen);
    }
    if (strcmp(key, "name") == 0) {
        if (dpt_key_parse(&name_key, s, text, NULL, msg, sizeof msg))
            return dpt_err(err, errlen, "name: %s", msg);
        return 0;
    }
    const dpt_key *k = t ? dpt_key_find(t->keys, t->nkeys, key) : NULL;
    if (!k) return dpt_err(err, errlen, "%s: unknown key for a %s layer", key, s->type);
    if (dpt_key_parse(k, s->args.bytes, text, NULL, msg, sizeof msg))
        return dpt_err(err, errlen, "%s: %s", key, msg);
    return 0;
}

int dpt_layer_spec_parse(dpt_layer_spec *s, const char *line, char *err, size_t errlen) {
    char buf[512], *save = NULL;
    if (snprintf(buf, sizeof buf, "%s", line) >= (int)sizeof buf)
        return dpt_err(err, errlen, "layer line longer than %zu characters", sizeof buf - 1);
    char *word = strtok_r(buf, " ", &save);
    if (dpt_layer_spec_init(s, word, err, errlen)) return -1;
    while ((word = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(word, '=');
        if (!eq) return dpt_err(err, errlen, "expected key=value, got '%s'", word);
        *eq = '\0';
        if (dpt_layer_spec_set(s, word, eq + 1, err, errlen)) return -1;
    }
    return 0;
}

/* "" (none), "a", or "[a, b]". */
static void inputs_text(const dpt_layer_spec *s, char *buf, size_t n) {
    size_t len = 0;
    if (n) buf[0] = '\0';
    if (s->ninputs == 1) {
        snprintf(buf, n, "%s", s->inputs[0]);
        return;
    }
    for (int k = 0; k < s->ninputs && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", k ? ", " : "[", s->inputs[k]);
    if (s->ninputs > 1 && len < n) snprintf(buf + len, n - len, "]");
}

void dpt_layer_spec_get(const dpt_layer_spec *s, const char *key, char *buf, size_t n) {
    const dpt_layer_type *t = dpt_layer_find(s->type);
    const dpt_key *k = t ? dpt_key_find(t->keys, t->nkeys, key) : NULL;
    if (strcmp(key, "type") == 0)
        snprintf(buf, n, "%s", s->type);
    else if (strcmp(key, "name") == 0)
        snprintf(buf, n, "%s", s->name);
    else if (strcmp(key, "initial_state") == 0)
        snprintf(buf, n, "%s", s->initial_state);
    else if (strcmp(key, "inputs") == 0)
        inputs_text(s, buf, n);
    else if (k)
        dpt_key_format(k, s->args.bytes, buf, n);
    else if (n)
        buf[0] = '\0';
}

int dpt_layer_spec_copy(dpt_layer_spec *dst, const dpt_layer_spec *src, const char *key) {
    const dpt_layer_type *td = dpt_layer_find(dst->type), *ts = dpt_layer_find(src->type);
    const dpt_key *kd = td ? dpt_key_find(td->keys, td->nkeys, key) : NULL;
    const dpt_key *ks = ts ? dpt_key_find(ts->keys, ts->nkeys, key) : NULL;
    if (!kd || !ks || kd->kind != ks->kind || kd->size != ks->size) return -1;
    memcpy(dst->args.bytes + kd->offset, src->args.bytes + ks->offset, kd->size);
    return 0;
}

int dpt_layer_split_activation(const dpt_layer_spec *s, dpt_layer_spec out[2]) {
    const dpt_layer_type *t = dpt_layer_find(s->type);
    const dpt_key *k = t ? dpt_key_find(t->keys, t->nkeys, "activation") : NULL;
    DPT_ASSERT(k && k->kind == DPT_KEY_NAME);
    const char *act = (const char *)dpt_layer_args(s) + k->offset;
    out[0] = *s;
    if (!act[0] || strcmp(act, "linear") == 0) return 1;
    ((char *)dpt_layer_args_mut(&out[0]))[k->offset] = '\0';
    DPT_ASSERT(dpt_layer_spec_init(&out[1], "activation", NULL, 0) == 0);
    DPT_ASSERT(dpt_layer_spec_copy(&out[1], s, "activation") == 0);
    DPT_ASSERT(dpt_layer_spec_copy(&out[1], s, "alpha") == 0);
    out[1].line = s->line;
    return 2;
}

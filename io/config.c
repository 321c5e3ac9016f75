/* The run configuration: the YAML tree (io/yaml_tree.c) is read in one validation pass into
 * dpt_config.  Keys are read generically from their declarations (io/config_keys.c for the
 * sections, each layer type's own table for model.layers); the rules between keys are the
 * explicit code here.  Every message names file, line and key. */
#include "io/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keys.h"
#include "core/loss.h"
#include "core/util.h"
#include "io/vocab.h"
#include "io/yaml_tree.h"

#define MAX_SECTION_KEYS 24

/* ---------------------------------------------------------------------------------------------
 * Reading values.  A field is a value found in a mapping, with its full key path. */

typedef struct field {
    const dpt_ynode *v;
    char path[DPT_YPATH_LEN];
} field;

/* The field of entry e (the value of key, found under prefix). */
static void field_of(const dpt_yentry *e, const char *prefix, const char *key, field *f) {
    f->v = e->val;
    dpt_yjoin_path(f->path, prefix, key);
}

static bool get(const dpt_ynode *m, const char *prefix, const char *key, field *f) {
    const dpt_yentry *e = dpt_yfind(m, key);
    if (!e) return false;
    field_of(e, prefix, key, f);
    return true;
}

/* A declared key (core/keys.h) from the value of field f into base. */
/* A list of scalars as "[a, b]" for a key that takes a list (DPT_KEY_INTS); NULL when an item
 * is not a scalar or it does not fit. */
static const char *list_text(const dpt_ynode *v, char *buf, size_t n) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < v->n && len < n; i++) {
        if (v->items[i]->kind != DPT_YSCALAR) return NULL;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", v->items[i]->text);
    }
    if (len + 2 > n) return NULL;
    snprintf(buf + len, n - len, "]");
    return buf;
}

static int to_key(const dpt_yctx *x, const field *f, const dpt_key *k, void *base) {
    char b[96], msg[1024], lb[128];
    const dpt_ynode *v = f->v;
    const char *text = v->kind != DPT_YSCALAR ? NULL : dpt_yis_null(v) ? "" : v->text;
    if (v->kind == DPT_YSEQ && k->kind == DPT_KEY_INTS) text = list_text(v, lb, sizeof lb);
    if (dpt_key_parse(k, base, text, dpt_ygot(v, b, sizeof b), msg, sizeof msg))
        return dpt_yfail(x, v->at, f->path, "%s", msg);
    return 0;
}

/* A name that must be one of names (listed in the message when it is not). */
static int to_name(const dpt_yctx *x, const field *f, const char *const *names, char *out,
                   size_t cap) {
    char b[96], list[512];
    const dpt_ynode *v = f->v;
    if (v->kind != DPT_YSCALAR || dpt_yis_null(v) || strlen(v->text) >= cap ||
        !dpt_yin_list(names, v->text)) {
        dpt_yjoin_names(names, list, sizeof list);
        return dpt_yfail(x, v->at, f->path, "expected one of: %s; got %s", list,
                         dpt_ygot(v, b, sizeof b));
    }
    memcpy(out, v->text, strlen(v->text) + 1);
    return 0;
}

/* Every key of m must be in allowed; `why` starts the message ("unknown key", ...). */
static int check_keys(const dpt_yctx *x, const dpt_ynode *m, const char *prefix,
                      const char *const *allowed, const char *why) {
    for (int i = 0; i < m->n; i++) {
        if (dpt_yin_list(allowed, m->ents[i].key)) continue;
        char path[DPT_YPATH_LEN], list[512];
        dpt_yjoin_path(path, prefix, m->ents[i].key);
        dpt_yjoin_names(allowed, list, sizeof list);
        return dpt_yfail(x, m->ents[i].at, path, "%s; allowed keys: %s", why, list);
    }
    return 0;
}

/* Where `key` is written in m, else where m starts: the place to report a key missing below it. */
static dpt_yloc key_loc(const dpt_ynode *m, const char *key) {
    const dpt_yentry *e = dpt_yfind(m, key);
    return e ? e->at : m->at;
}

/* The mapping of top-level section `key`: NULL when absent or empty, -1 on error. */
static int section(const dpt_yctx *x, const dpt_ynode *root, const char *key,
                   const char *const *allowed, const dpt_ynode **out) {
    char b[96];
    const dpt_yentry *e = dpt_yfind(root, key);
    *out = NULL;
    if (!e || dpt_yis_null(e->val)) return 0;
    if (e->val->kind != DPT_YMAP)
        return dpt_yfail(x, e->val->at, key, "expected a mapping, got %s",
                         dpt_ygot(e->val, b, sizeof b));
    *out = e->val;
    return check_keys(x, *out, key, allowed, "unknown key");
}

/* ---------------------------------------------------------------------------------------------
 * model: each layer's keys come from its type (core/layer_<type>.c) */

/* The keys a layer of type t takes: type, name, then its own (NULL-terminated). */
static void layer_keys(const dpt_layer_type *t, const char *out[DPT_LAYER_KEYS_MAX + 5]) {
    int n = 0;
    out[n++] = "type";
    out[n++] = "name";
    for (int i = 0; i < t->nkeys; i++) out[n++] = t->keys[i].name;
    out[n++] = "inputs";
    if (dpt_layer_type_has(t, DPT_LAYER_INITIAL_STATE)) out[n++] = "initial_state";
    out[n] = NULL;
}

static const dpt_key layer_name_key = {.name = "name",
                                       .kind = DPT_KEY_STRING,
                                       DPT_FIELD(dpt_layer_spec, name),
                                       .what = "a layer name"};

/* inputs (a name or a list of names) or initial_state (a name), through the spec's own parser. */
static int graph_key(const dpt_yctx *x, const field *f, const char *key, dpt_layer_spec *s) {
    char b[96], text[DPT_LAYER_MAX_INPUTS * (DPT_NAME_MAX + 2) + 8], msg[768];
    const dpt_ynode *v = f->v;
    const char *t = NULL;
    if (v->kind == DPT_YSCALAR && !dpt_yis_null(v) && v->text[0] && !strchr(v->text, ','))
        t = v->text;
    else if (v->kind == DPT_YSEQ && v->n > 0 && strcmp(key, "inputs") == 0)
        t = list_text(v, text, sizeof text);
    if (!t)
        return dpt_yfail(x, v->at, f->path, "expected %s, got %s",
                         strcmp(key, "inputs") == 0
                             ? "a layer or model input name, or a list of names"
                             : "the name of a recurrent layer",
                         dpt_ygot(v, b, sizeof b));
    if (dpt_layer_spec_set(s, key, t, msg, sizeof msg)) {
        const char *colon = strstr(msg, ": ");
        return dpt_yfail(x, v->at, f->path, "%s", colon ? colon + 2 : msg);
    }
    return 0;
}

/* The keys of one layer item, read by its type's key table. */
static int layer_fields(const dpt_yctx *x, const dpt_ynode *v, const char *p,
                        const dpt_layer_type *t, dpt_layer_spec *s) {
    field f;
    if (get(v, p, "name", &f) && to_key(x, &f, &layer_name_key, s)) return -1;
    if (get(v, p, "inputs", &f) && graph_key(x, &f, "inputs", s)) return -1;
    if (get(v, p, "initial_state", &f) && graph_key(x, &f, "initial_state", s)) return -1;
    for (int i = 0; i < t->nkeys; i++)
        if (get(v, p, t->keys[i].name, &f) && to_key(x, &f, &t->keys[i], dpt_layer_args_mut(s)))
            return -1;
    return 0;
}

/* The item's type, its keys checked against the type's table, its required keys present. */
static int layer_type(const dpt_yctx *x, const dpt_ynode *v, const char *p, dpt_layer_spec *s,
                      const dpt_layer_type **type) {
    char list[512], why[96], err[256];
    const char *keys[DPT_LAYER_KEYS_MAX + 5];
    field f;
    if (!get(v, p, "type", &f)) {
        dpt_yjoin_names(dpt_layer_names(), list, sizeof list);
        dpt_yjoin_path(f.path, p, "type");
        return dpt_yfail(x, v->at, f.path, "missing key; expected one of: %s", list);
    }
    char name[sizeof s->type];
    if (to_name(x, &f, dpt_layer_names(), name, sizeof name)) return -1;
    const dpt_layer_type *t = *type = dpt_layer_find(name);
    DPT_ASSERT(t); /* to_name accepted only registered names */
    if (dpt_layer_spec_init(s, name, err, sizeof err))
        return dpt_yfail(x, f.v->at, f.path, "defaults of a %s layer: %s", name, err);
    snprintf(why, sizeof why, "unknown key for a %s layer", name);
    layer_keys(t, keys);
    if (check_keys(x, v, p, keys, why)) return -1;
    for (int k = 0; k < t->nkeys; k++) {
        if (!t->keys[k].required || dpt_yfind(v, t->keys[k].name)) continue;
        dpt_yjoin_path(f.path, p, t->keys[k].name);
        return dpt_yfail(x, v->at, f.path, "missing key (required for a %s layer); expected %s",
                         name, t->keys[k].required);
    }
    return 0;
}

static int read_layer(const dpt_yctx *x, const dpt_ynode *v, int i, dpt_layer_spec *s) {
    char p[DPT_YPATH_LEN], b[96];
    const dpt_layer_type *t = NULL;
    dpt_yjoin_index(p, "model.layers", i);
    if (v->kind != DPT_YMAP)
        return dpt_yfail(x, v->at, p, "expected a mapping with a 'type' key, got %s",
                         dpt_ygot(v, b, sizeof b));
    memset(s, 0, sizeof *s); /* defined bytes everywhere, so specs compare with memcmp */
    if (layer_type(x, v, p, s, &t)) return -1;
    s->line = v->at.line;
    return layer_fields(x, v, p, t, s);
}
/* Explicit names end up as dataset names in the model file, so they must be unique. */
static int check_layer_names(const dpt_yctx *x, const dpt_ynode *layers, const dpt_config *c) {
    for (int i = 0; i < c->nlayers; i++) {
        if (!c->layers[i].name[0]) continue;
        for (int j = 0; j < i; j++) {
            if (strcmp(c->layers[i].name, c->layers[j].name) != 0) continue;
            field f;
            char p[DPT_YPATH_LEN];
            dpt_yjoin_index(p, "model.layers", i);
            bool named = get(layers->items[i], p, "name", &f);
            DPT_ASSERT(named); /* a non-empty name came from this key */
            return dpt_yfail(x, f.v->at, f.path,
                             "layer name '%s' is already used by model.layers.%d",
                             c->layers[i].name, j);
        }
    }
    return 0;
}

/* One name of model.inputs: it names a dataset and is what layers' inputs refer to. */
static int input_name(const dpt_yctx *x, const dpt_ynode *v, const char *path, dpt_config *c) {
    char b[96];
    if (v->kind != DPT_YSCALAR || dpt_yis_null(v) || !v->text[0] ||
        strlen(v->text) >= DPT_NAME_MAX || strpbrk(v->text, "/,[] "))
        return dpt_yfail(x, v->at, path,
                         "expected a name (at most %d characters, no '/', ',', '[', ']' or "
                         "spaces), got %s",
                         DPT_NAME_MAX - 1, dpt_ygot(v, b, sizeof b));
    for (int k = 0; k < c->ninputs; k++)
        if (strcmp(c->inputs[k], v->text) == 0)
            return dpt_yfail(x, v->at, path, "input '%s' is listed twice", v->text);
    snprintf(c->inputs[c->ninputs++], DPT_NAME_MAX, "%s", v->text);
    return 0;
}

static int read_inputs(const dpt_yctx *x, const dpt_ynode *m, dpt_config *c) {
    char b[96], p[DPT_YPATH_LEN];
    const dpt_yentry *e = dpt_yfind(m, "inputs");
    if (!e) return 0;
    const dpt_ynode *v = e->val;
    if (v->kind == DPT_YSCALAR) return input_name(x, v, "model.inputs", c);
    if (v->kind != DPT_YSEQ || v->n == 0 || v->n > DPT_MODEL_MAX_INPUTS)
        return dpt_yfail(x, v->at, "model.inputs",
                         "expected a list of 1 to %d input names (each a dataset of the data "
                         "files), got %s",
                         DPT_MODEL_MAX_INPUTS, dpt_ygot(v, b, sizeof b));
    for (int i = 0; i < v->n; i++) {
        dpt_yjoin_index(p, "model.inputs", i);
        if (input_name(x, v->items[i], p, c)) return -1;
    }
    return 0;
}

void dpt_config_inputs_text(const dpt_config *c, char *buf, size_t n) {
    size_t len = 0;
    if (n) buf[0] = '\0';
    for (int k = 0; k < c->ninputs && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", k ? ", " : "[", c->inputs[k]);
    if (c->ninputs && len < n) snprintf(buf + len, n - len, "]");
}

static int read_model(const dpt_yctx *x, const dpt_ynode *root, dpt_config *c) {
    static const char *const keys[] = {"layers", "inputs", NULL};
    char b[96];
    const dpt_ynode *m;
    if (section(x, root, "model", keys, &m)) return -1;
    if (!m)
        return dpt_yfail(x, root->at, "model", "missing section; expected a mapping with 'layers'");
    if (read_inputs(x, m, c)) return -1;
    const dpt_yentry *e = dpt_yfind(m, "layers");
    if (!e)
        return dpt_yfail(x, key_loc(root, "model"), "model.layers",
                         "missing key; expected a list of layers");
    const dpt_ynode *ls = e->val;
    if (ls->kind != DPT_YSEQ || ls->n == 0)
        return dpt_yfail(x, ls->at, "model.layers", "expected a non-empty list of layers, got %s",
                         ls->kind == DPT_YSEQ ? "an empty list" : dpt_ygot(ls, b, sizeof b));
    c->layers = dpt_calloc((size_t)ls->n, sizeof *c->layers);
    c->nlayers = ls->n;
    for (int i = 0; i < ls->n; i++)
        if (read_layer(x, ls->items[i], i, &c->layers[i])) return -1;
    return check_layer_names(x, ls, c);
}

/* ---------------------------------------------------------------------------------------------
 * metrics: a name or a list of names (explicit: no single field) */

static int read_metric(const dpt_yctx *x, const field *f, dpt_config *c) {
    char *name = c->metrics[c->nmetrics];
    if (to_name(x, f, dpt_metric_names(), name, sizeof c->metrics[0])) return -1;
    for (int j = 0; j < c->nmetrics; j++)
        if (strcmp(c->metrics[j], name) == 0)
            return dpt_yfail(x, f->v->at, f->path, "metric '%s' is listed twice", name);
    c->nmetrics++;
    return 0;
}

static int read_metrics(const dpt_yctx *x, const dpt_ynode *root, dpt_config *c) {
    field f;
    if (!get(root, "", "metrics", &f) || dpt_yis_null(f.v)) return 0;
    if (f.v->kind == DPT_YSCALAR) return read_metric(x, &f, c); /* "metrics: mae" */
    if (f.v->kind != DPT_YSEQ)
        return dpt_yfail(x, f.v->at, f.path, "expected a list of metric names, got a mapping");
    const dpt_ynode *s = f.v;
    if (s->n > DPT_MAX_METRICS)
        return dpt_yfail(x, s->at, "metrics", "expected at most %d metrics, got %d",
                         DPT_MAX_METRICS, s->n);
    for (int i = 0; i < s->n; i++) {
        field item = {.v = s->items[i]};
        dpt_yjoin_index(item.path, "metrics", i);
        if (read_metric(x, &item, c)) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The sections' keys, read generically from io/config_keys.c */

/* Whether the configured optimizer / schedule reads k (core/optim.c decides). */
static bool key_used(const dpt_config *c, const dpt_key *k) {
    if (dpt_config_key_in(k, "optimizer"))
        return dpt_optim_uses(c->optim.name, dpt_config_key_leaf(k));
    if (dpt_config_key_in(k, "schedule"))
        return dpt_schedule_uses(c->schedule.name, dpt_config_key_leaf(k));
    return true;
}

/* The keys of section sec (only those c's optimizer/schedule reads when used_only), as leaves. */
static void section_keys(const char *sec, const dpt_config *c, bool used_only,
                         const char *out[MAX_SECTION_KEYS + 1]) {
    int n, m = 0;
    const dpt_key *keys = dpt_config_keys(&n);
    static char subs[MAX_SECTION_KEYS][32]; /* first parts of dotted leaves ("augment") */
    int nsubs = 0;
    for (int i = 0; i < n; i++) {
        if (!dpt_config_key_in(&keys[i], sec) || (used_only && !key_used(c, &keys[i]))) continue;
        DPT_ASSERT(m < MAX_SECTION_KEYS);
        const char *leaf = dpt_config_key_leaf(&keys[i]), *dot = strchr(leaf, '.');
        if (!dot) {
            out[m++] = leaf;
            continue;
        }
        /* A row of a sub-mapping (data.augment.translate): the section allows its first part. */
        size_t len = (size_t)(dot - leaf);
        DPT_ASSERT(len < sizeof subs[0] && nsubs < MAX_SECTION_KEYS);
        if (m > 0 && !strncmp(out[m - 1], leaf, len) && out[m - 1][len] == '\0') continue;
        snprintf(subs[nsubs], sizeof subs[0], "%.*s", (int)len, leaf);
        out[m++] = subs[nsubs++];
    }
    out[m] = NULL;
}

/* The rows of sub-mapping sub of section sec (data.augment), as leaves after "sec.sub.". */
static void sub_keys(const char *sec, const char *sub, const char *out[MAX_SECTION_KEYS + 1]) {
    char prefix[64];
    int n, m = 0, len = snprintf(prefix, sizeof prefix, "%s.%s.", sec, sub);
    const dpt_key *keys = dpt_config_keys(&n);
    for (int i = 0; i < n; i++)
        if (!strncmp(keys[i].name, prefix, (size_t)len)) out[m++] = keys[i].name + len;
    out[m] = NULL;
}

/* A rule between keys checked before k's value is read: a key that only matters with another's
 * value is refused whatever its value. */
static int before_key(const dpt_yctx *x, const field *f, const dpt_key *k, const dpt_config *c) {
    if (!strcmp(k->name, "training.max_nonfinite_skips") && !c->nonfinite_skip)
        return dpt_yfail(x, f->v->at, f->path, "only used with training.on_nonfinite: skip");
    return 0;
}

/* A rule between keys checked right after k's value is read. */
static int after_key(const dpt_yctx *x, const field *f, const dpt_key *k, const dpt_config *c) {
    if (!strcmp(k->name, "schedule.min_lr") && c->schedule.min_lr > c->optim.lr)
        return dpt_yfail(x, f->v->at, f->path, "expected a number <= optimizer.lr (%g), got '%s'",
                         (double)c->optim.lr, f->v->text);
    return 0;
}

/* Reads the rows of section sec present in m (mapping) in table order; `skip` is a row read
 * already (the optimizer's or schedule's name) or NULL. */
static int read_rows(const dpt_yctx *x, const dpt_ynode *m, const char *sec, const dpt_key *skip,
                     dpt_config *c) {
    int n;
    const dpt_key *keys = dpt_config_keys(&n);
    field f;
    for (int i = 0; i < n; i++) {
        const dpt_key *k = &keys[i];
        if (k == skip || !dpt_config_key_in(k, sec) || (k->flags & DPT_CONFIG_KEY_EXPLICIT))
            continue;
        const char *leaf = dpt_config_key_leaf(k), *dot = strchr(leaf, '.');
        if (dot) { /* in a sub-mapping, checked by read_subs */
            char sub[32], prefix[64];
            snprintf(sub, sizeof sub, "%.*s", (int)(dot - leaf), leaf);
            const dpt_yentry *e = dpt_yfind(m, sub);
            if (!e || e->val->kind != DPT_YMAP) continue;
            snprintf(prefix, sizeof prefix, "%s.%s", sec, sub);
            if (!get(e->val, prefix, dot + 1, &f)) continue;
        } else if (!get(m, sec, leaf, &f))
            continue;
        if (before_key(x, &f, k, c) || to_key(x, &f, k, c) || after_key(x, &f, k, c)) return -1;
    }
    return 0;
}

/* A required key of sec missing (m NULL: the whole section is): reported where sec is written. */
static int check_required(const dpt_yctx *x, const dpt_ynode *root, const dpt_ynode *m,
                          const char *sec) {
    int n;
    const dpt_key *keys = dpt_config_keys(&n);
    for (int i = 0; i < n; i++) {
        const dpt_key *k = &keys[i];
        if (!k->required || !dpt_config_key_in(k, sec) || dpt_yfind(m, dpt_config_key_leaf(k)))
            continue;
        return dpt_yfail(x, key_loc(root, sec), k->name, "missing key; expected %s", k->required);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Rules between keys, and the sections they shape */

/* "optimizer: sgd" or a mapping; the optimizer's own defaults (core/optim.c) come with its name,
 * and keys it does not read are refused, not silently dropped. */
static int read_optimizer(const dpt_yctx *x, const dpt_ynode *root, dpt_config *c) {
    const char *all[MAX_SECTION_KEYS + 1], *used[MAX_SECTION_KEYS + 1];
    const dpt_key *name_key = dpt_config_key("optimizer.name");
    char why[96];
    field f;
    const dpt_ynode *m = NULL;
    const dpt_yentry *e = dpt_yfind(root, "optimizer");
    section_keys("optimizer", c, false, all);
    if (e && e->val->kind == DPT_YSCALAR && !dpt_yis_null(e->val)) { /* "optimizer: sgd" */
        field_of(e, "", "optimizer", &f);
        if (to_key(x, &f, name_key, c)) return -1;
    } else {
        if (section(x, root, "optimizer", all, &m)) return -1;
        if (m && get(m, "optimizer", "name", &f) && to_key(x, &f, name_key, c)) return -1;
    }
    char name[sizeof c->optim.name];
    memcpy(name, c->optim.name, sizeof name);
    dpt_optim_spec_defaults(&c->optim, name);
    if (!m) return 0;
    snprintf(why, sizeof why, "not used by optimizer '%s'", name);
    section_keys("optimizer", c, true, used);
    if (check_keys(x, m, "optimizer", used, why)) return -1;
    return read_rows(x, m, "optimizer", name_key, c);
}

static int read_schedule(const dpt_yctx *x, const dpt_ynode *root, dpt_config *c) {
    const char *all[MAX_SECTION_KEYS + 1], *used[MAX_SECTION_KEYS + 1];
    const dpt_key *name_key = dpt_config_key("schedule.name");
    char why[96];
    field f;
    const dpt_ynode *m = NULL;
    const dpt_yentry *e = dpt_yfind(root, "schedule");
    if (e && e->val->kind == DPT_YSCALAR && !dpt_yis_null(e->val)) { /* "schedule: cosine" */
        field_of(e, "", "schedule", &f);
        if (to_key(x, &f, name_key, c)) return -1;
        if (strcmp(c->schedule.name, "step") == 0)
            return dpt_yfail(x, f.v->at, "schedule.step_epochs",
                             "missing key (required for the step schedule); write schedule: "
                             "{name: step, step_epochs: N}");
        return 0;
    }
    section_keys("schedule", c, false, all);
    if (section(x, root, "schedule", all, &m)) return -1;
    if (!m) return 0;
    if (get(m, "schedule", "name", &f) && to_key(x, &f, name_key, c)) return -1;
    snprintf(why, sizeof why, "not used by the %s schedule", c->schedule.name);
    section_keys("schedule", c, true, used);
    if (check_keys(x, m, "schedule", used, why) || read_rows(x, m, "schedule", name_key, c))
        return -1;
    if (!strcmp(c->schedule.name, "step") && !dpt_yfind(m, "step_epochs"))
        return dpt_yfail(x, key_loc(root, "schedule"), "schedule.step_epochs",
                         "missing key (required for the step schedule); expected an integer >= 1");
    return 0;
}

/* data.lengths given empty means auto; a validation file and a split exclude each other. */
static int data_rules(const dpt_yctx *x, const dpt_ynode *m, dpt_config *c) {
    field f;
    if (get(m, "data", "normalize_y", &f) && c->target_input && c->normalize_y == 1)
        return dpt_yfail(x, f.v->at, f.path,
                         "cannot be true with data.target: input (the target is the input, "
                         "standardised as data.normalize_x says)");
    if (get(m, "data", "lengths", &f)) c->lengths_explicit = c->lengths_name[0] != '\0';
    if (get(m, "data", "validation_split", &f) && c->val_split > 0 && c->val_file[0])
        return dpt_yfail(x, f.v->at, f.path,
                         "cannot be used together with data.validation_file; give one of them");
    return 0;
}

/* checkpoint.dir "" (or absent) means "<output.dir>/checkpoints", so it follows output.dir. */
static int checkpoint_dir(const dpt_yctx *x, const dpt_ynode *root, dpt_config *c) {
    if (c->ckpt_dir[0]) return 0;
    int n = snprintf(c->ckpt_dir, sizeof c->ckpt_dir, "%s/checkpoints", c->output_dir);
    if (n < (int)sizeof c->ckpt_dir) return 0;
    const dpt_yentry *out = dpt_yfind(root, "output");
    const dpt_yentry *dir = out ? dpt_yfind(out->val, "dir") : NULL;
    return dpt_yfail(x, dir ? dir->val->at : root->at, "output.dir",
                     "too long to hold the default checkpoint.dir '<output.dir>/checkpoints' (at "
                     "most %zu characters)",
                     sizeof c->ckpt_dir - sizeof "/checkpoints");
}

/* The sub-mappings of section m (data.augment): a mapping (or null) of their declared keys. */
static int read_subs(const dpt_yctx *x, const dpt_ynode *m, const char *sec) {
    char b[96], path[64];
    for (int i = 0; i < m->n; i++) {
        const char *allowed[MAX_SECTION_KEYS + 1];
        sub_keys(sec, m->ents[i].key, allowed);
        if (!allowed[0]) continue; /* a plain key */
        const dpt_ynode *v = m->ents[i].val;
        snprintf(path, sizeof path, "%s.%s", sec, m->ents[i].key);
        if (dpt_yis_null(v)) continue;
        if (v->kind != DPT_YMAP)
            return dpt_yfail(x, v->at, path, "expected a mapping, got %s",
                             dpt_ygot(v, b, sizeof b));
        if (check_keys(x, v, path, allowed, "unknown key")) return -1;
    }
    return 0;
}

/* A section of plain keys: regularization, clip, data, training, output, checkpoint, parallel. */
static int read_plain(const dpt_yctx *x, const dpt_ynode *root, const char *sec, dpt_config *c) {
    const char *all[MAX_SECTION_KEYS + 1];
    const dpt_ynode *m;
    section_keys(sec, c, false, all);
    if (section(x, root, sec, all, &m) || check_required(x, root, m, sec)) return -1;
    if (m && (read_subs(x, m, sec) || read_rows(x, m, sec, NULL, c))) return -1;
    if (m && !strcmp(sec, "data") && data_rules(x, m, c)) return -1;
    if (!strcmp(sec, "checkpoint")) return checkpoint_dir(x, root, c);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Whole config */

/* "configs/mnist.yaml" -> "mnist" (the default output.dir is runs/<stem>). */
static void file_stem(const char *path, char *out, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (len == 0) {
        snprintf(out, n, "config");
        return;
    }
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), base);
}

/* The table's defaults, through the same parsing as the file's values; the optimizer's come
 * from core/optim.c with its name; output.dir from the file name. */
static int set_defaults(const dpt_yctx *x, dpt_config *c) {
    char stem[256], msg[512];
    int n;
    const dpt_key *keys = dpt_config_keys(&n);
    if (dpt_key_defaults(keys, n, c, msg, sizeof msg)) {
        snprintf(x->err, x->errlen, "%s: %s (a bug in io/config_keys.c)", x->file, msg);
        return -1;
    }
    char name[sizeof c->optim.name];
    memcpy(name, c->optim.name, sizeof name);
    dpt_optim_spec_defaults(&c->optim, name);
    file_stem(c->source, stem, sizeof stem);
    snprintf(c->output_dir, sizeof c->output_dir, "runs/%s", stem);
    return 0;
}

static int read_section(const dpt_yctx *x, const dpt_ynode *root, const char *sec, dpt_config *c) {
    field f;
    if (!strcmp(sec, "model")) return read_model(x, root, c);
    if (!strcmp(sec, "metrics")) return read_metrics(x, root, c);
    if (!strcmp(sec, "optimizer")) return read_optimizer(x, root, c);
    if (!strcmp(sec, "schedule")) return read_schedule(x, root, c);
    if (!strcmp(sec, "loss"))
        return get(root, "", "loss", &f) ? to_key(x, &f, dpt_config_key("loss"), c) : 0;
    return read_plain(x, root, sec, c);
}

static int validate(const dpt_yctx *x, const dpt_ynode *root, dpt_config *c) {
    char b[96];
    if (root->kind != DPT_YMAP)
        return dpt_yfail(x, root->at, "(top level)", "expected a mapping of sections, got %s",
                         dpt_ygot(root, b, sizeof b));
    if (check_keys(x, root, "", dpt_config_sections(), "unknown section")) return -1;
    for (const char *const *sec = dpt_config_sections(); *sec; sec++)
        if (read_section(x, root, *sec, c)) return -1;
    c->schedule.base_lr = c->optim.lr;
    return 0;
}

static int copy_overrides(const dpt_yctx *x, dpt_config *c, const char *const *ov, int n) {
    DPT_ASSERT(n <= 0 || ov);
    if (n < 0 || n > DPT_MAX_OVERRIDES) {
        snprintf(x->err, x->errlen, "--set: at most %d overrides are allowed, got %d",
                 DPT_MAX_OVERRIDES, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        DPT_ASSERT(ov[i]);
        c->overrides[i] = dpt_ystrdup(ov[i], strlen(ov[i]));
        c->noverrides = i + 1;
    }
    return 0;
}

static int load(dpt_yctx *x, dpt_config *c) {
    dpt_ynode *root = NULL;
    if (dpt_yaml_parse(x, c->text, &root)) return -1;
    if (!root)
        root =
            dpt_ynode_new(DPT_YMAP, (dpt_yloc){1, NULL}); /* empty file: report missing sections */
    int rc = 0;
    for (int i = 0; i < c->noverrides && rc == 0; i++)
        rc = dpt_yaml_override(x, root, c->overrides[i]);
    if (rc == 0) {
        rc = set_defaults(x, c) || validate(x, root, c) ? -1 : 0;
    }
    dpt_ynode_free(root);
    return rc;
}

int dpt_config_load_text(dpt_config *c, const char *text, const char *name,
                         const char *const *overrides, int noverrides, char *err, size_t errlen) {
    char dummy[1];
    memset(c, 0, sizeof *c);
    snprintf(c->source, sizeof c->source, "%s", name && *name ? name : "<config>");
    c->text = dpt_ystrdup(text ? text : "", text ? strlen(text) : 0);
    dpt_yctx x = {
        .file = c->source, .err = err ? err : dummy, .errlen = err ? errlen : sizeof dummy};
    if (x.errlen > 0) x.err[0] = '\0';
    if (copy_overrides(&x, c, overrides, noverrides) || load(&x, c)) {
        dpt_config_free(c);
        return -1;
    }
    return 0;
}

/* Whole file as a string; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    DPT_ASSERT(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        cap *= 2;
        buf = realloc(buf, cap);
        DPT_ASSERT(buf);
    }
    int failed = ferror(f), e = errno; /* e.g. EISDIR for a directory */
    fclose(f);
    if (failed) {
        free(buf);
        errno = e ? e : EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int dpt_config_load(dpt_config *c, const char *path, const char *const *overrides, int noverrides,
                    char *err, size_t errlen) {
    size_t len = 0;
    memset(c, 0, sizeof *c);
    char *text = read_file(path, &len);
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read config file: %s", path, strerror(errno));
        return -1;
    }
    if (strlen(text) != len) {
        if (err && errlen)
            snprintf(err, errlen, "%s: not a YAML text file (contains a NUL byte at offset %zu)",
                     path, strlen(text));
        free(text);
        return -1;
    }
    int rc = dpt_config_load_text(c, text, path, overrides, noverrides, err, errlen);
    free(text);
    return rc;
}

void dpt_config_free(dpt_config *c) {
    if (!c) return;
    free(c->text);
    for (int i = 0; i < c->noverrides; i++) free(c->overrides[i]);
    free(c->layers);
    dpt_vocab_free(c->vocab);
    free(c->vocab);
    memset(c, 0, sizeof *c);
}

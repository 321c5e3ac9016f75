/* Comparing two configs (resuming from a checkpoint).  Both sides are turned into lists of
 * (key path, value as text) in a fixed order, each value formatted by its key's declaration; the
 * model part also gives the canonical text whose hash a checkpoint records. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "core/keys.h"
#include "core/util.h"
#include "io/config.h"
#include "io/yaml_tree.h"

typedef struct item {
    char key[DPT_YPATH_LEN];
    char *val; /* owned */
} item;

typedef struct items {
    int n, cap;
    item *v; /* (cap) */
} items;

static void add(items *l, const char *key, const char *val) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
        DPT_ASSERT(l->v);
    }
    item *it = &l->v[l->n++];
    snprintf(it->key, sizeof it->key, "%s", key);
    it->val = dpt_ystrdup(val, strlen(val));
}

static void items_free(items *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i].val);
    free(l->v);
}

/* The row of the config table, formatted. */
static void add_key(items *l, const dpt_config *c, const dpt_key *k) {
    char val[DPT_PATH_MAX + 32];
    dpt_key_format(k, c, val, sizeof val);
    add(l, k->name, val);
}

/* Every key the layer's type takes (type, name, its key table), so the text lists what the
 * config can say. */
static void layer_items(items *l, const dpt_layer_spec *s, int i) {
    const dpt_layer_type *t = dpt_layer_find(s->type);
    DPT_ASSERT(t);
    char prefix[DPT_YPATH_LEN], path[DPT_YPATH_LEN];
    char val[DPT_LAYER_MAX_INPUTS * (DPT_NAME_MAX + 2) + 8];
    dpt_yjoin_index(prefix, "model.layers", i);
    for (int k = -2; k < t->nkeys; k++) {
        const char *key = k == -2 ? "type" : k == -1 ? "name" : t->keys[k].name;
        dpt_yjoin_path(path, prefix, key);
        dpt_layer_spec_get(s, key, val, sizeof val);
        add(l, path, val);
    }
    /* the graph keys only when given: chains keep their text and hash */
    static const char *const graph_keys[] = {"inputs", "initial_state", NULL};
    for (const char *const *key = graph_keys; *key; key++) {
        dpt_layer_spec_get(s, *key, val, sizeof val);
        if (!val[0]) continue;
        dpt_yjoin_path(path, prefix, *key);
        add(l, path, val);
    }
}

/* The order of the canonical model text is frozen: checkpoints store its hash (model_hash), so
 * it is pinned here rather than derived from the table, whose other orders serve the messages.
 * These are exactly the rows flagged DPT_KEY_KEEP (tests/io/test_config.c checks it). */
static const char *const model_text_keys[] = {"loss",
                                              "data.x",
                                              "data.y",
                                              "data.lengths",
                                              "data.normalize_x",
                                              "data.normalize_y",
                                              "training.seed",
                                              "training.shuffle",
                                              "data.mode",
                                              "data.block_rows",
                                              "data.shuffle_buffer",
                                              "optimizer.name",
                                              NULL};
/* Model-defining keys newer than the frozen text: in the text only when set away from their
 * default, so every config that does not use them keeps its text and hash. */
static const char *const model_text_keys_if_set[] = {"data.target", NULL};

/* What a resume must keep: it defines the parameters, what the network sees (datasets,
 * normalisation), the data order and dropout masks (seed, shuffle) or the optimizer state. */
static void model_items(const dpt_config *c, items *l, bool for_text) {
    char n[16], val[64];
    if (c->ninputs > 0) {
        char names[DPT_MODEL_MAX_INPUTS * (DPT_NAME_MAX + 2) + 8];
        dpt_config_inputs_text(c, names, sizeof names);
        add(l, "model.inputs", names);
    }
    snprintf(n, sizeof n, "%d", c->nlayers);
    add(l, "model.layers", n);
    for (int i = 0; i < c->nlayers; i++) layer_items(l, &c->layers[i], i);
    for (const char *const *key = model_text_keys; *key; key++) add_key(l, c, dpt_config_key(*key));
    for (const char *const *key = model_text_keys_if_set; *key; key++) {
        const dpt_key *k = dpt_config_key(*key);
        dpt_key_format(k, c, val, sizeof val);
        if (!for_text || strcmp(val, k->def) != 0) add_key(l, c, k);
    }
}

static void metrics_item(const dpt_config *c, items *l) {
    char b[DPT_MAX_METRICS * 34 + 3] = "[";
    for (int i = 0; i < c->nmetrics; i++) {
        size_t len = strlen(b);
        snprintf(b + len, sizeof b - len, "%s%s", i ? ", " : "", c->metrics[i]);
    }
    strcat(b, "]");
    add(l, "metrics", b);
}

/* Settings a resume may change: the rows without DPT_KEY_KEEP in table order.  Which optimizer
 * and schedule keys are listed follows `shape` (the current config), so both sides give the
 * same keys in the same order. */
static void training_items(const dpt_config *c, const dpt_config *shape, items *l) {
    int n;
    const dpt_key *keys = dpt_config_keys(&n);
    for (int i = 0; i < n; i++) {
        const dpt_key *k = &keys[i];
        const char *leaf = dpt_config_key_leaf(k);
        if (k->flags & DPT_KEY_KEEP) continue;
        if (dpt_config_key_in(k, "optimizer") && !dpt_optim_uses(shape->optim.name, leaf)) continue;
        if (dpt_config_key_in(k, "schedule") && !dpt_schedule_uses(shape->schedule.name, leaf))
            continue;
        if (k->flags & DPT_CONFIG_KEY_EXPLICIT)
            metrics_item(c, l);
        else
            add_key(l, c, k);
    }
}

/* An empty string shows as "" so the message does not end in a bare space. */
static const char *shown(const char *v) {
    return *v ? v : "\"\"";
}

/* Appends to msg (len) without overrunning it; a cut message stays terminated. */
__attribute__((format(printf, 3, 4))) static void append(char *msg, size_t len, const char *fmt,
                                                         ...) {
    size_t used = strlen(msg);
    if (used + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + used, len - used, fmt, ap);
    va_end(ap);
}

char *dpt_config_model_text(const dpt_config *c) {
    items l = {0};
    model_items(c, &l, true);
    size_t len = 1;
    for (int i = 0; i < l.n; i++) len += strlen(l.v[i].key) + strlen(l.v[i].val) + 2;
    char *text = dpt_calloc(len, 1); /* (len) "key=value\n" lines */
    for (int i = 0; i < l.n; i++) append(text, len, "%s=%s\n", l.v[i].key, l.v[i].val);
    items_free(&l);
    return text;
}

int dpt_config_model_diff(const dpt_config *ckpt, const dpt_config *now, char *msg, size_t len) {
    items a = {0}, b = {0};
    model_items(ckpt, &a, false);
    model_items(now, &b, false);
    if (len) msg[0] = '\0';
    int differ = 0;
    /* The layer count and each layer's type come before the keys that depend on them, so the
     * two lists line up until their first difference. */
    for (int i = 0; i < a.n && i < b.n && !differ; i++) {
        DPT_ASSERT(strcmp(a.v[i].key, b.v[i].key) == 0);
        if (strcmp(a.v[i].val, b.v[i].val) == 0) continue;
        differ = 1;
        int count = strcmp(a.v[i].key, "model.layers") == 0;
        append(msg, len, "%s: %s%s in the checkpoint, %s now", a.v[i].key, shown(a.v[i].val),
               count ? " layers" : "", shown(b.v[i].val));
    }
    DPT_ASSERT(differ || a.n == b.n);
    items_free(&a);
    items_free(&b);
    return differ;
}

int dpt_config_training_diff(const dpt_config *ckpt, const dpt_config *now, char *msg, size_t len) {
    items a = {0}, b = {0};
    training_items(ckpt, now, &a);
    training_items(now, now, &b);
    DPT_ASSERT(a.n == b.n);
    if (len) msg[0] = '\0';
    int count = 0;
    for (int i = 0; i < a.n; i++) {
        if (strcmp(a.v[i].val, b.v[i].val) == 0) continue;
        append(msg, len, "%s%s %s -> %s", count ? ", " : "", a.v[i].key, shown(a.v[i].val),
               shown(b.v[i].val));
        count++;
    }
    items_free(&a);
    items_free(&b);
    return count;
}

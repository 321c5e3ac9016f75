/* The run configuration: libyaml's document API turns the text into a small tree whose every
 * key and value remembers its line (or the --set that produced it); the overrides edit that tree;
 * then one validation pass fills dpt_config, so a message can always name file, line and key. */
#include "io/config.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/activation.h"
#include "core/init.h"
#include "core/loss.h"
#include "core/util.h"

#define PATH_LEN  256
#define MAX_DEPTH 32     /* an anchor used inside itself makes a cycle; this ends it */
#define MAX_NODES 100000 /* aliases can multiply a small text into a huge tree */

/* ---------------------------------------------------------------------------------------------
 * The tree */

typedef enum { N_SCALAR, N_SEQ, N_MAP } kind;

/* Where a key or value came from: a line of the file (1-based), or an override string. */
typedef struct loc {
    int line;
    const char *origin; /* "--set" text, NULL for the file */
} loc;

typedef struct node node;

typedef struct entry {
    char *key;
    loc at; /* of the key */
    node *val;
} entry;

struct node {
    kind kind;
    loc at;
    bool plain;   /* unquoted scalar: only those can mean null */
    char *text;   /* scalar (owned) */
    int n, cap;   /* entries or items */
    entry *ents;  /* mapping (n) */
    node **items; /* sequence (n) */
};

static node *node_new(kind k, loc at) {
    node *v = dpt_calloc(1, sizeof *v);
    v->kind = k;
    v->at = at;
    return v;
}

static void node_free(node *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        if (v->kind == N_MAP) {
            free(v->ents[i].key);
            node_free(v->ents[i].val);
        } else {
            node_free(v->items[i]);
        }
    }
    free(v->ents);
    free(v->items);
    free(v->text);
    free(v);
}

static char *copy_str(const char *s, size_t n) {
    char *p = dpt_calloc(n + 1, 1);
    memcpy(p, s, n);
    return p;
}

static void grow(node *v) {
    if (v->n < v->cap) return;
    v->cap = v->cap ? 2 * v->cap : 4;
    if (v->kind == N_MAP) {
        v->ents = realloc(v->ents, (size_t)v->cap * sizeof *v->ents);
        DPT_ASSERT(v->ents);
    } else {
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): items holds pointers */
        v->items = realloc(v->items, (size_t)v->cap * sizeof *v->items);
        DPT_ASSERT(v->items);
    }
}

static entry *map_add(node *m, const char *key, loc at, node *val) {
    grow(m);
    entry *e = &m->ents[m->n++];
    e->key = copy_str(key, strlen(key));
    e->at = at;
    e->val = val;
    return e;
}

static void seq_add(node *s, node *item) {
    grow(s);
    s->items[s->n++] = item;
}

static entry *find(const node *m, const char *key) {
    if (!m || m->kind != N_MAP) return NULL;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->ents[i].key, key) == 0) return &m->ents[i];
    return NULL;
}

static bool is_null(const node *v) {
    if (v->kind != N_SCALAR || !v->plain) return false;
    return v->text[0] == '\0' || strcmp(v->text, "~") == 0 || strcasecmp(v->text, "null") == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Messages */

typedef struct ctx {
    const char *file;   /* name used in messages */
    const char *origin; /* while converting an override's value: that override */
    char *err;
    size_t errlen;
    int nodes; /* converted so far */
} ctx;

/* "<file>:<line>: <path>: <msg>" or "--set <override>: <path>: <msg>"; returns -1. */
__attribute__((format(printf, 4, 5))) static int fail(const ctx *x, loc at, const char *path,
                                                      const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at.origin)
        snprintf(x->err, x->errlen, "--set %s: %s: %s", at.origin, path, msg);
    else if (at.line > 0)
        snprintf(x->err, x->errlen, "%s:%d: %s: %s", x->file, at.line, path, msg);
    else
        snprintf(x->err, x->errlen, "%s: %s: %s", x->file, path, msg);
    return -1;
}

/* What a value looks like, for the ", got ..." part of a message. */
static const char *got(const node *v, char *buf, size_t n) {
    if (v->kind == N_SEQ) return "a list";
    if (v->kind == N_MAP) return "a mapping";
    if (v->plain && v->text[0] == '\0') return "nothing";
    if (strlen(v->text) > 80)
        snprintf(buf, n, "'%.77s...'", v->text);
    else
        snprintf(buf, n, "'%s'", v->text);
    return buf;
}

static void join_names(const char *const *names, char *buf, size_t n) {
    buf[0] = '\0';
    for (const char *const *p = names; p && *p; p++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? ", " : "", *p);
    }
}

/* Key paths only appear in messages, so an absurdly long one is cut with "...". */
static void join_path(char *out, const char *prefix, const char *key) {
    int n = snprintf(out, PATH_LEN, "%s%s%s", prefix, prefix[0] ? "." : "", key);
    if (n >= PATH_LEN) memcpy(out + PATH_LEN - 4, "...", 4);
}

static void join_index(char *out, const char *prefix, int i) {
    int n = snprintf(out, PATH_LEN, "%s.%d", prefix, i);
    if (n >= PATH_LEN) memcpy(out + PATH_LEN - 4, "...", 4);
}

static bool in_list(const char *const *names, const char *s) {
    for (const char *const *p = names; p && *p; p++)
        if (strcmp(*p, s) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * YAML text -> tree */

static loc mark_loc(const ctx *x, yaml_mark_t m) {
    if (x->origin) return (loc){0, x->origin};
    return (loc){(int)m.line + 1, NULL};
}

static int convert(ctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path, int depth,
                   node **out);

static int convert_map(ctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path, int depth,
                       node *m) {
    for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        loc kat = mark_loc(x, k->start_mark);
        if (k->type != YAML_SCALAR_NODE)
            return fail(x, kat, path[0] ? path : "(top level)",
                        "expected plain text as a key, got a %s",
                        k->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
        const char *key = (const char *)k->data.scalar.value;
        char sub[PATH_LEN];
        join_path(sub, path, key);
        entry *prev = find(m, key);
        if (prev && prev->at.line > 0)
            return fail(x, kat, sub, "duplicate key (first given at line %d)", prev->at.line);
        if (prev) return fail(x, kat, sub, "duplicate key");
        node *val = NULL;
        int rc = convert(x, d, yaml_document_get_node(d, p->value), sub, depth + 1, &val);
        map_add(m, key, kat, val); /* added even on failure, so node_free(m) frees val */
        if (rc) return -1;
    }
    return 0;
}

static int convert_seq(ctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path, int depth,
                       node *s) {
    int i = 0;
    for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top;
         it++, i++) {
        char sub[PATH_LEN];
        join_index(sub, path, i);
        node *item = NULL;
        int rc = convert(x, d, yaml_document_get_node(d, *it), sub, depth + 1, &item);
        seq_add(s, item);
        if (rc) return -1;
    }
    return 0;
}

static int convert(ctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path, int depth,
                   node **out) {
    loc at = mark_loc(x, yn->start_mark);
    const char *where = path[0] ? path : "(top level)";
    if (depth > MAX_DEPTH) return fail(x, at, where, "nested too deeply (recursive alias?)");
    if (++x->nodes > MAX_NODES)
        return fail(x, at, where, "more than %d values (aliases expanding?)", MAX_NODES);
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        *out = node_new(N_SCALAR, at);
        (*out)->text = copy_str((const char *)yn->data.scalar.value, yn->data.scalar.length);
        (*out)->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return 0;
    case YAML_SEQUENCE_NODE:
        *out = node_new(N_SEQ, at);
        return convert_seq(x, d, yn, path, depth, *out);
    case YAML_MAPPING_NODE:
        *out = node_new(N_MAP, at);
        return convert_map(x, d, yn, path, depth, *out);
    default:
        return fail(x, at, where, "empty YAML node");
    }
}

/* libyaml's own message, with its line and column. */
static int syntax_error(const ctx *x, const yaml_parser_t *p) {
    char ctxt[160] = "";
    if (p->context)
        snprintf(ctxt, sizeof ctxt, " (%s at line %zu)", p->context, p->context_mark.line + 1);
    const char *problem = p->problem ? p->problem : "out of memory";
    if (p->error == YAML_READER_ERROR)
        snprintf(x->err, x->errlen, "%s%s: invalid YAML text at byte %zu: %s",
                 x->origin ? "--set " : "", x->origin ? x->origin : x->file, p->problem_offset,
                 problem);
    else if (x->origin)
        snprintf(x->err, x->errlen, "--set %s: invalid YAML value: %s%s", x->origin, problem, ctxt);
    else
        snprintf(x->err, x->errlen, "%s:%zu: YAML syntax error at column %zu: %s%s", x->file,
                 p->problem_mark.line + 1, p->problem_mark.column + 1, problem, ctxt);
    return -1;
}

/* Parses one YAML document into *out (NULL when the text holds no document). */
static int parse_yaml(ctx *x, const char *text, node **out) {
    yaml_parser_t p;
    yaml_document_t doc, extra;
    *out = NULL;
    DPT_ASSERT(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    int rc = 0;
    if (!yaml_parser_load(&p, &doc)) {
        rc = syntax_error(x, &p);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root) rc = convert(x, &doc, root, "", 0, out);
        if (rc == 0 && root) {
            if (!yaml_parser_load(&p, &extra)) {
                rc = syntax_error(x, &p);
            } else {
                yaml_node_t *r2 = yaml_document_get_root_node(&extra);
                if (r2)
                    rc = fail(x, mark_loc(x, r2->start_mark), "(document)",
                              "expected a single YAML document, found a second one");
                yaml_document_delete(&extra);
            }
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    if (rc) {
        node_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Overrides: "a.b.c=value" edits the tree before validation */

/* Flow collections and quoted strings go through the YAML parser; anything else is taken
 * verbatim, so paths containing '#', ': ' or a leading '@' need no quoting. */
static int override_value(ctx *x, const char *ov, const char *text, node **out) {
    char c = text[0];
    if (c == '[' || c == '{' || c == '"' || c == '\'') {
        x->origin = ov;
        int rc = parse_yaml(x, text, out);
        x->origin = NULL;
        if (rc) return -1;
    }
    if (!*out) {
        *out = node_new(N_SCALAR, (loc){0, ov});
        (*out)->text = copy_str(text, strlen(text));
        (*out)->plain = true;
    }
    return 0;
}

/* The list index named by key, or -1 with a message. */
static int list_index(const ctx *x, loc at, const node *s, const char *key, const char *path) {
    char *end;
    errno = 0;
    long i = strtol(key, &end, 10);
    bool digits = key[0] >= '0' && key[0] <= '9' && *end == '\0' && errno == 0;
    if (!digits) return fail(x, at, path, "expected a list index, got '%s'", key);
    if (i >= s->n)
        return fail(x, at, path, "index %ld is out of range: the list has %d item%s", i, s->n,
                    s->n == 1 ? "" : "s");
    return (int)i;
}

/* Replaces (or, in a mapping, creates) the child `key` of cur with val. */
static int set_child(const ctx *x, loc at, node *cur, const char *key, const char *path,
                     node *val) {
    if (cur->kind == N_MAP) {
        entry *e = find(cur, key);
        if (e) {
            node_free(e->val);
            e->val = val;
        } else {
            map_add(cur, key, at, val);
        }
        return 0;
    }
    int i = list_index(x, at, cur, key, path);
    if (i < 0) return -1;
    node_free(cur->items[i]);
    cur->items[i] = val;
    return 0;
}

/* The child `key` of cur to descend into; a missing mapping key becomes an empty mapping. */
static node *descend(const ctx *x, loc at, node *cur, const char *key, const char *path) {
    if (cur->kind == N_MAP) {
        entry *e = find(cur, key);
        if (!e) e = map_add(cur, key, at, node_new(N_MAP, at));
        return e->val;
    }
    int i = list_index(x, at, cur, key, path);
    return i < 0 ? NULL : cur->items[i];
}

static int walk_and_set(const ctx *x, loc at, node *cur, char *keys, node *val) {
    char walked[PATH_LEN] = "";
    for (char *key = keys;;) {
        char *dot = strchr(key, '.');
        if (dot) *dot = '\0';
        if (!*key) return fail(x, at, walked[0] ? walked : "(key path)", "empty key in the path");
        if (is_null(cur)) { /* "section:" with nothing after it becomes a mapping */
            free(cur->text);
            cur->text = NULL;
            cur->kind = N_MAP;
            cur->at = at;
        }
        char sub[PATH_LEN];
        join_path(sub, walked, key);
        if (cur->kind == N_SCALAR)
            return fail(x, at, walked[0] ? walked : "(top level)",
                        "expected a mapping or a list to set '%s' in, got '%s'", key, cur->text);
        if (!dot) return set_child(x, at, cur, key, sub, val);
        cur = descend(x, at, cur, key, sub);
        if (!cur) return -1;
        snprintf(walked, sizeof walked, "%s", sub);
        key = dot + 1;
    }
}

static int apply_override(ctx *x, node *root, const char *ov) {
    loc at = {0, ov};
    const char *eq = strchr(ov, '=');
    if (!eq || eq == ov) return fail(x, at, "(key path)", "expected key.path=value");
    char keys[PATH_LEN];
    if ((size_t)(eq - ov) >= sizeof keys)
        return fail(x, at, "(key path)", "key path longer than %d characters", PATH_LEN - 1);
    memcpy(keys, ov, (size_t)(eq - ov));
    keys[eq - ov] = '\0';
    node *val = NULL;
    if (override_value(x, ov, eq + 1, &val)) return -1;
    if (walk_and_set(x, at, root, keys, val)) {
        node_free(val);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading typed values.  A field is a value found in a mapping, with its full key path. */

typedef struct field {
    const node *v;
    char path[PATH_LEN];
} field;

static bool get(const node *m, const char *prefix, const char *key, field *f) {
    const entry *e = find(m, key);
    if (!e) return false;
    f->v = e->val;
    join_path(f->path, prefix, key);
    return true;
}

typedef enum { R_ANY, R_GT0, R_GE0, R_UNIT, R_GAMMA } range;

static const char *range_desc(range r) {
    switch (r) {
    case R_GT0:
        return "a number > 0";
    case R_GE0:
        return "a number >= 0";
    case R_UNIT:
        return "a number in [0, 1)";
    case R_GAMMA:
        return "a number in (0, 1]";
    default:
        return "a number";
    }
}

static bool in_range(float v, range r) {
    switch (r) {
    case R_GT0:
        return v > 0;
    case R_GE0:
        return v >= 0;
    case R_UNIT:
        return v >= 0 && v < 1;
    case R_GAMMA:
        return v > 0 && v <= 1;
    default:
        return true;
    }
}

/* strtod on the whole text; "inf", "nan" and hex are refused (only [0-9+-.eE] allowed). */
static bool parse_double(const char *s, double *out) {
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s)) return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || end == s || errno == ERANGE || !isfinite(d)) return false;
    *out = d;
    return true;
}

static bool parse_int(const char *s, long long *out) {
    double d;
    if (!parse_double(s, &d)) return false;
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = i;
        return true;
    }
    /* "1e3" or "10.0": fine as long as it is integral and exactly representable */
    if (d != floor(d) || fabs(d) > 9.0e15) return false;
    *out = (long long)d;
    return true;
}

static int to_num(const ctx *x, const field *f, range r, float *out) {
    char b[96];
    double d;
    const char *want = range_desc(r);
    if (f->v->kind != N_SCALAR || !parse_double(f->v->text, &d))
        return fail(x, f->v->at, f->path, "expected %s, got %s", want, got(f->v, b, sizeof b));
    if (fabs(d) > FLT_MAX || !in_range((float)d, r))
        return fail(x, f->v->at, f->path, "expected %s, got %s", want, got(f->v, b, sizeof b));
    *out = (float)d;
    return 0;
}

static int to_int(const ctx *x, const field *f, long long lo, long long hi, long long *out) {
    char b[96];
    long long i;
    if (f->v->kind != N_SCALAR || !parse_int(f->v->text, &i) || i < lo)
        return fail(x, f->v->at, f->path, "expected an integer >= %lld, got %s", lo,
                    got(f->v, b, sizeof b));
    if (i > hi)
        return fail(x, f->v->at, f->path, "expected an integer <= %lld, got %s", hi,
                    got(f->v, b, sizeof b));
    *out = i;
    return 0;
}

static int to_int32(const ctx *x, const field *f, int lo, int *out) {
    long long i;
    if (to_int(x, f, lo, INT_MAX, &i)) return -1;
    /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign): fail() returns -1 */
    *out = (int)i;
    return 0;
}

/* 1 / 0, or -1 for text that is not a boolean. */
static int parse_bool(const char *s) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return 1;
        if (strcasecmp(s, no[i]) == 0) return 0;
    }
    return -1;
}

static int to_bool(const ctx *x, const field *f, bool *out) {
    char b[96];
    int v = f->v->kind == N_SCALAR ? parse_bool(f->v->text) : -1;
    if (v < 0)
        return fail(x, f->v->at, f->path, "expected a boolean (true/false), got %s",
                    got(f->v, b, sizeof b));
    *out = v == 1;
    return 0;
}

/* A string of at most cap-1 bytes; null counts as "" (so --set key= clears an optional one). */
static int to_str(const ctx *x, const field *f, const char *what, bool nonempty, char *out,
                  size_t cap) {
    char b[96];
    const node *v = f->v;
    if (v->kind != N_SCALAR)
        return fail(x, v->at, f->path, "expected %s, got %s", what, got(v, b, sizeof b));
    const char *s = is_null(v) ? "" : v->text;
    if (nonempty && !*s)
        return fail(x, v->at, f->path, "expected %s (non-empty), got %s", what,
                    got(v, b, sizeof b));
    if (strlen(s) >= cap)
        return fail(x, v->at, f->path, "expected %s of at most %zu characters, got %zu", what,
                    cap - 1, strlen(s));
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

typedef bool (*known_fn)(const char *name);

/* A name that must be one of a registry's names (listed in the message when it is not). */
static int to_name(const ctx *x, const field *f, known_fn known, const char *const *names,
                   char *out, size_t cap) {
    char b[96], list[512];
    const node *v = f->v;
    if (v->kind != N_SCALAR || is_null(v) || strlen(v->text) >= cap || !known(v->text)) {
        join_names(names, list, sizeof list);
        return fail(x, v->at, f->path, "expected one of: %s; got %s", list, got(v, b, sizeof b));
    }
    memcpy(out, v->text, strlen(v->text) + 1);
    return 0;
}

static bool is_layer(const char *s) {
    return dpt_layer_find(s) != NULL;
}
static bool is_activation(const char *s) {
    return dpt_activation_find(s) != NULL;
}
static bool is_init(const char *s) {
    return dpt_init_find(s) != NULL;
}
static bool is_loss(const char *s) {
    return dpt_loss_find(s) != NULL;
}
static bool is_metric(const char *s) {
    return dpt_metric_find(s) != NULL;
}
static bool is_optim(const char *s) {
    return in_list(dpt_optim_names(), s);
}
static bool is_schedule(const char *s) {
    return in_list(dpt_schedule_names(), s);
}

/* Every key of m must be in allowed; `why` starts the message ("unknown key", ...). */
static int check_keys(const ctx *x, const node *m, const char *prefix, const char *const *allowed,
                      const char *why) {
    for (int i = 0; i < m->n; i++) {
        if (in_list(allowed, m->ents[i].key)) continue;
        char path[PATH_LEN], list[512];
        join_path(path, prefix, m->ents[i].key);
        join_names(allowed, list, sizeof list);
        return fail(x, m->ents[i].at, path, "%s; allowed keys: %s", why, list);
    }
    return 0;
}

/* Where `key` is written in m, else where m starts: the place to report a key missing below it. */
static loc key_loc(const node *m, const char *key) {
    const entry *e = find(m, key);
    return e ? e->at : m->at;
}

/* The mapping of top-level section `key`: NULL when absent or empty, -1 on error. */
static int section(const ctx *x, const node *root, const char *key, const char *const *allowed,
                   const node **out) {
    char b[96];
    const entry *e = find(root, key);
    *out = NULL;
    if (!e || is_null(e->val)) return 0;
    if (e->val->kind != N_MAP)
        return fail(x, e->val->at, key, "expected a mapping, got %s", got(e->val, b, sizeof b));
    *out = e->val;
    return check_keys(x, *out, key, allowed, "unknown key");
}

/* ---------------------------------------------------------------------------------------------
 * model: */

static const char *const dense_keys[] = {"type",     "name",        "units",     "activation",
                                         "alpha",    "kernel_init", "bias_init", "init_scale",
                                         "use_bias", NULL};
static const char *const activation_keys[] = {"type", "name", "activation", "alpha", NULL};
static const char *const dropout_keys[] = {"type", "name", "rate", NULL};
static const char *const rnn_keys[] = {
    "type",       "name",        "units",     "activation", "return_sequences", "bidirectional",
    "bptt_steps", "kernel_init", "bias_init", "init_scale", "use_bias",         NULL};
/* lstm and gru have their gate functions built in: no activation key */
static const char *const gated_keys[] = {
    "type",          "name",       "units",       "return_sequences",
    "bidirectional", "bptt_steps", "kernel_init", "bias_init",
    "init_scale",    "use_bias",   NULL};
static const char *const repeat_keys[] = {"type", "name", "steps", NULL};

typedef struct layer_kind {
    const char *type;
    const char *const *keys;
    const char *required; /* key without a sensible default */
    const char *expect;   /* what that key takes, for the message */
} layer_kind;

static const layer_kind layer_kinds[] = {
    {"dense", dense_keys, "units", "an integer >= 1"},
    {"activation", activation_keys, "activation", "an activation function name"},
    {"dropout", dropout_keys, "rate", "a number in [0, 1)"},
    {"rnn", rnn_keys, "units", "an integer >= 1 (hidden units)"},
    {"lstm", gated_keys, "units", "an integer >= 1 (hidden units)"},
    {"gru", gated_keys, "units", "an integer >= 1 (hidden units)"},
    {"repeat", repeat_keys, "steps", "an integer >= 1 (output time steps)"},
};

/* NULL keys when core/ registers a type this file has no table for (a bug, reported as such). */
static layer_kind kind_of(const char *type) {
    for (size_t i = 0; i < sizeof layer_kinds / sizeof *layer_kinds; i++)
        if (strcmp(layer_kinds[i].type, type) == 0) return layer_kinds[i];
    return (layer_kind){type, NULL, NULL, NULL};
}

static const char *const rnn_activations[] = {"tanh", "relu", NULL};

static bool is_rnn_activation(const char *s) {
    return in_list(rnn_activations, s);
}

/* Keys of the dense-like layers (dense, activation, dropout). */
static int plain_fields(const ctx *x, const node *v, const char *p, dpt_layer_spec *s) {
    field f;
    if (get(v, p, "activation", &f) &&
        to_name(x, &f, is_activation, dpt_activation_names(), s->activation, sizeof s->activation))
        return -1;
    if (get(v, p, "alpha", &f) && to_num(x, &f, R_ANY, &s->alpha)) return -1;
    if (get(v, p, "rate", &f) && to_num(x, &f, R_UNIT, &s->rate)) return -1;
    return 0;
}

/* Keys of the recurrent layers; an rnn without an activation gets tanh written in, so the
 * spec says what runs. */
static int recurrent_fields(const ctx *x, const node *v, const char *p, dpt_layer_spec *s) {
    field f;
    if (strcmp(s->type, "rnn") == 0) snprintf(s->activation, sizeof s->activation, "tanh");
    if (get(v, p, "activation", &f) &&
        to_name(x, &f, is_rnn_activation, rnn_activations, s->activation, sizeof s->activation))
        return -1;
    if (get(v, p, "return_sequences", &f) && to_bool(x, &f, &s->return_sequences)) return -1;
    if (get(v, p, "bidirectional", &f) && to_bool(x, &f, &s->bidirectional)) return -1;
    if (get(v, p, "bptt_steps", &f) && to_int32(x, &f, 0, &s->bptt_steps)) return -1;
    return 0;
}

static int init_fields(const ctx *x, const node *v, const char *p, dpt_layer_spec *s) {
    field f;
    if (get(v, p, "kernel_init", &f) &&
        to_name(x, &f, is_init, dpt_init_names(), s->kernel_init, sizeof s->kernel_init))
        return -1;
    if (get(v, p, "bias_init", &f) &&
        to_name(x, &f, is_init, dpt_init_names(), s->bias_init, sizeof s->bias_init))
        return -1;
    if (get(v, p, "init_scale", &f) && to_num(x, &f, R_GT0, &s->init_scale)) return -1;
    if (get(v, p, "use_bias", &f) && to_bool(x, &f, &s->use_bias)) return -1;
    return 0;
}

/* Optional fields of one layer item; check_keys has already refused keys of other types. */
static int layer_fields(const ctx *x, const node *v, const char *p, dpt_layer_spec *s) {
    field f;
    bool recurrent = !strcmp(s->type, "rnn") || !strcmp(s->type, "lstm") || !strcmp(s->type, "gru");
    if (get(v, p, "name", &f) && to_str(x, &f, "a layer name", false, s->name, sizeof s->name))
        return -1;
    if (get(v, p, "units", &f) && to_int32(x, &f, 1, &s->units)) return -1;
    if (get(v, p, "steps", &f) && to_int32(x, &f, 1, &s->steps)) return -1;
    if (recurrent ? recurrent_fields(x, v, p, s) : plain_fields(x, v, p, s)) return -1;
    return init_fields(x, v, p, s);
}

static int read_layer(const ctx *x, const node *v, int i, dpt_layer_spec *s) {
    char p[PATH_LEN], b[96], list[512], why[96];
    field f;
    join_index(p, "model.layers", i);
    if (v->kind != N_MAP)
        return fail(x, v->at, p, "expected a mapping with a 'type' key, got %s",
                    got(v, b, sizeof b));
    memset(s, 0, sizeof *s); /* defined bytes everywhere, so specs compare with memcmp */
    dpt_layer_spec_defaults(s);
    s->line = v->at.line;
    if (!get(v, p, "type", &f)) {
        join_names(dpt_layer_names(), list, sizeof list);
        join_path(f.path, p, "type");
        return fail(x, v->at, f.path, "missing key; expected one of: %s", list);
    }
    if (to_name(x, &f, is_layer, dpt_layer_names(), s->type, sizeof s->type)) return -1;
    layer_kind k = kind_of(s->type);
    if (!k.keys)
        return fail(x, f.v->at, f.path,
                    "layer type '%s' is registered in core/ but io/config.c has no key table for "
                    "it (a bug: add it to layer_kinds)",
                    s->type);
    snprintf(why, sizeof why, "unknown key for a %s layer", s->type);
    if (check_keys(x, v, p, k.keys, why)) return -1;
    if (k.required && !find(v, k.required)) {
        join_path(f.path, p, k.required);
        return fail(x, v->at, f.path, "missing key (required for a %s layer); expected %s", s->type,
                    k.expect);
    }
    return layer_fields(x, v, p, s);
}

/* Explicit names end up as dataset names in the model file, so they must be unique. */
static int check_layer_names(const ctx *x, const node *layers, const dpt_config *c) {
    for (int i = 0; i < c->nlayers; i++) {
        if (!c->layers[i].name[0]) continue;
        for (int j = 0; j < i; j++) {
            if (strcmp(c->layers[i].name, c->layers[j].name) != 0) continue;
            field f;
            char p[PATH_LEN];
            join_index(p, "model.layers", i);
            get(layers->items[i], p, "name", &f);
            /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): the key exists */
            return fail(x, f.v->at, f.path, "layer name '%s' is already used by model.layers.%d",
                        c->layers[i].name, j);
        }
    }
    return 0;
}

static int read_model(const ctx *x, const node *root, dpt_config *c) {
    static const char *const keys[] = {"layers", NULL};
    char b[96];
    const node *m;
    if (section(x, root, "model", keys, &m)) return -1;
    if (!m) return fail(x, root->at, "model", "missing section; expected a mapping with 'layers'");
    const entry *e = find(m, "layers");
    if (!e)
        return fail(x, key_loc(root, "model"), "model.layers",
                    "missing key; expected a list of layers");
    const node *ls = e->val;
    if (ls->kind != N_SEQ || ls->n == 0)
        return fail(x, ls->at, "model.layers", "expected a non-empty list of layers, got %s",
                    ls->kind == N_SEQ ? "an empty list" : got(ls, b, sizeof b));
    c->layers = dpt_calloc((size_t)ls->n, sizeof *c->layers);
    c->nlayers = ls->n;
    for (int i = 0; i < ls->n; i++)
        if (read_layer(x, ls->items[i], i, &c->layers[i])) return -1;
    return check_layer_names(x, ls, c);
}

/* ---------------------------------------------------------------------------------------------
 * loss:, metrics: */

static int read_loss(const ctx *x, const node *root, dpt_config *c) {
    field f;
    if (!get(root, "", "loss", &f)) return 0;
    return to_name(x, &f, is_loss, dpt_loss_names(), c->loss, sizeof c->loss);
}

static int read_metric(const ctx *x, const field *f, dpt_config *c) {
    char *name = c->metrics[c->nmetrics];
    if (to_name(x, f, is_metric, dpt_metric_names(), name, sizeof c->metrics[0])) return -1;
    for (int j = 0; j < c->nmetrics; j++)
        if (strcmp(c->metrics[j], name) == 0)
            return fail(x, f->v->at, f->path, "metric '%s' is listed twice", name);
    c->nmetrics++;
    return 0;
}

static int read_metrics(const ctx *x, const node *root, dpt_config *c) {
    field f;
    if (!get(root, "", "metrics", &f) || is_null(f.v)) return 0;
    if (f.v->kind == N_SCALAR) return read_metric(x, &f, c); /* "metrics: mae" */
    if (f.v->kind != N_SEQ)
        return fail(x, f.v->at, f.path, "expected a list of metric names, got a mapping");
    const node *s = f.v;
    if (s->n > DPT_MAX_METRICS)
        return fail(x, s->at, "metrics", "expected at most %d metrics, got %d", DPT_MAX_METRICS,
                    s->n);
    for (int i = 0; i < s->n; i++) {
        field item = {.v = s->items[i]};
        join_index(item.path, "metrics", i);
        if (read_metric(x, &item, c)) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * optimizer:, schedule: — keys the chosen algorithm ignores are refused, not silently dropped */

static const char *const optim_keys[] = {"name",  "lr",  "momentum",     "rho", "beta1",
                                         "beta2", "eps", "weight_decay", NULL};
static const char *const sgd_keys[] = {"name", "lr", "momentum", NULL};
static const char *const rmsprop_keys[] = {"name", "lr", "rho", "eps", NULL};
static const char *const adam_keys[] = {"name", "lr", "beta1", "beta2", "eps", NULL};
static const char *const adamw_keys[] = {"name", "lr",           "beta1", "beta2",
                                         "eps",  "weight_decay", NULL};

static const char *const *optim_used_keys(const char *name) {
    if (!strcmp(name, "sgd") || !strcmp(name, "momentum") || !strcmp(name, "nesterov"))
        return sgd_keys;
    if (!strcmp(name, "rmsprop")) return rmsprop_keys;
    if (!strcmp(name, "adam")) return adam_keys;
    if (!strcmp(name, "adamw")) return adamw_keys;
    return optim_keys;
}

static int optim_fields(const ctx *x, const node *m, dpt_optim_spec *o) {
    field f;
    if (get(m, "optimizer", "lr", &f) && to_num(x, &f, R_GT0, &o->lr)) return -1;
    if (get(m, "optimizer", "momentum", &f) && to_num(x, &f, R_UNIT, &o->momentum)) return -1;
    if (get(m, "optimizer", "rho", &f) && to_num(x, &f, R_UNIT, &o->rho)) return -1;
    if (get(m, "optimizer", "beta1", &f) && to_num(x, &f, R_UNIT, &o->beta1)) return -1;
    if (get(m, "optimizer", "beta2", &f) && to_num(x, &f, R_UNIT, &o->beta2)) return -1;
    if (get(m, "optimizer", "eps", &f) && to_num(x, &f, R_GT0, &o->eps)) return -1;
    if (get(m, "optimizer", "weight_decay", &f) && to_num(x, &f, R_GE0, &o->weight_decay))
        return -1;
    return 0;
}

static int read_optimizer(const ctx *x, const node *root, dpt_config *c) {
    char name[sizeof c->optim.name] = "adam", why[96];
    field f;
    const node *m = NULL;
    const entry *e = find(root, "optimizer");
    if (e && e->val->kind == N_SCALAR && !is_null(e->val)) { /* "optimizer: sgd" */
        get(root, "", "optimizer", &f);
        if (to_name(x, &f, is_optim, dpt_optim_names(), name, sizeof name)) return -1;
    } else {
        if (section(x, root, "optimizer", optim_keys, &m)) return -1;
        if (m && get(m, "optimizer", "name", &f) &&
            to_name(x, &f, is_optim, dpt_optim_names(), name, sizeof name))
            return -1;
    }
    memset(&c->optim, 0, sizeof c->optim);
    dpt_optim_spec_defaults(&c->optim, name);
    if (!m) return 0;
    snprintf(why, sizeof why, "not used by optimizer '%s'", name);
    if (check_keys(x, m, "optimizer", optim_used_keys(name), why)) return -1;
    return optim_fields(x, m, &c->optim);
}

static const char *const schedule_keys[] = {"name",  "warmup_steps", "step_epochs",
                                            "gamma", "min_lr",       NULL};
static const char *const constant_keys[] = {"name", "warmup_steps", NULL};
static const char *const step_keys[] = {"name", "warmup_steps", "step_epochs", "gamma", NULL};
static const char *const cosine_keys[] = {"name", "warmup_steps", "min_lr", NULL};

static const char *const *schedule_used_keys(const char *name) {
    if (!strcmp(name, "constant")) return constant_keys;
    if (!strcmp(name, "step")) return step_keys;
    if (!strcmp(name, "cosine")) return cosine_keys;
    return schedule_keys;
}

/* sec: where "schedule:" is written */
static int schedule_fields(const ctx *x, const node *m, loc sec, dpt_config *c) {
    dpt_schedule *s = &c->schedule;
    field f;
    if (get(m, "schedule", "warmup_steps", &f) && to_int32(x, &f, 0, &s->warmup_steps)) return -1;
    if (get(m, "schedule", "step_epochs", &f) && to_int32(x, &f, 1, &s->step_epochs)) return -1;
    if (get(m, "schedule", "gamma", &f) && to_num(x, &f, R_GAMMA, &s->gamma)) return -1;
    if (get(m, "schedule", "min_lr", &f)) {
        if (to_num(x, &f, R_GE0, &s->min_lr)) return -1;
        if (s->min_lr > c->optim.lr)
            return fail(x, f.v->at, f.path, "expected a number <= optimizer.lr (%g), got '%s'",
                        (double)c->optim.lr, f.v->text);
    }
    if (!strcmp(s->name, "step") && !find(m, "step_epochs"))
        return fail(x, sec, "schedule.step_epochs",
                    "missing key (required for the step schedule); expected an integer >= 1");
    return 0;
}

static int read_schedule(const ctx *x, const node *root, dpt_config *c) {
    dpt_schedule *s = &c->schedule;
    char why[96];
    field f;
    const node *m = NULL;
    const entry *e = find(root, "schedule");
    bool shorthand = e && e->val->kind == N_SCALAR && !is_null(e->val); /* "schedule: cosine" */
    if (shorthand) {
        get(root, "", "schedule", &f);
        if (to_name(x, &f, is_schedule, dpt_schedule_names(), s->name, sizeof s->name)) return -1;
        if (strcmp(s->name, "step") == 0)
            return fail(x, f.v->at, "schedule.step_epochs",
                        "missing key (required for the step schedule); write schedule: {name: "
                        "step, step_epochs: N}");
        return 0;
    }
    if (section(x, root, "schedule", schedule_keys, &m)) return -1;
    if (!m) return 0;
    if (get(m, "schedule", "name", &f) &&
        to_name(x, &f, is_schedule, dpt_schedule_names(), s->name, sizeof s->name))
        return -1;
    snprintf(why, sizeof why, "not used by the %s schedule", s->name);
    if (check_keys(x, m, "schedule", schedule_used_keys(s->name), why)) return -1;
    return schedule_fields(x, m, key_loc(root, "schedule"), c);
}

/* ---------------------------------------------------------------------------------------------
 * regularization:, clip:, data:, training:, output: */

static int read_penalties(const ctx *x, const node *root, dpt_config *c) {
    static const char *const reg_keys[] = {"l2", NULL}, *const clip_keys[] = {"norm", "value",
                                                                              NULL};
    const node *m;
    field f;
    if (section(x, root, "regularization", reg_keys, &m)) return -1;
    if (m && get(m, "regularization", "l2", &f) && to_num(x, &f, R_GE0, &c->l2)) return -1;
    if (section(x, root, "clip", clip_keys, &m)) return -1;
    if (m && get(m, "clip", "norm", &f) && to_num(x, &f, R_GE0, &c->clip_norm)) return -1;
    if (m && get(m, "clip", "value", &f) && to_num(x, &f, R_GE0, &c->clip_value)) return -1;
    return 0;
}

/* A boolean or 'auto' (-1). */
static int to_bool_auto(const ctx *x, const field *f, int *out) {
    char b[96];
    int v = f->v->kind == N_SCALAR ? parse_bool(f->v->text) : -1;
    if (f->v->kind == N_SCALAR && strcasecmp(f->v->text, "auto") == 0) {
        *out = -1;
        return 0;
    }
    if (v < 0)
        return fail(x, f->v->at, f->path, "expected a boolean or 'auto', got %s",
                    got(f->v, b, sizeof b));
    *out = v;
    return 0;
}

static const char *const data_modes[] = {"in_memory", "streaming", NULL};

static bool is_data_mode(const char *s) {
    return in_list(data_modes, s);
}

/* data.mode and the streaming knobs (docs/data.md). */
static int stream_fields(const ctx *x, const node *m, dpt_config *c) {
    char mode[16] = "in_memory";
    field f;
    if (get(m, "data", "mode", &f) && to_name(x, &f, is_data_mode, data_modes, mode, sizeof mode))
        return -1;
    c->streaming = strcmp(mode, "streaming") == 0;
    if (get(m, "data", "block_rows", &f) && to_int32(x, &f, 0, &c->block_rows)) return -1;
    if (get(m, "data", "shuffle_buffer", &f) && to_int32(x, &f, 0, &c->shuffle_buffer)) return -1;
    if (get(m, "data", "prefetch", &f) && to_int32(x, &f, 1, &c->prefetch)) return -1;
    return 0;
}

static int data_fields(const ctx *x, const node *m, dpt_config *c) {
    field f;
    if (get(m, "data", "validation_file", &f) &&
        to_str(x, &f, "a file path", false, c->val_file, sizeof c->val_file))
        return -1;
    if (get(m, "data", "x", &f) &&
        to_str(x, &f, "a dataset name", true, c->x_name, sizeof c->x_name))
        return -1;
    if (get(m, "data", "y", &f) &&
        to_str(x, &f, "a dataset name", true, c->y_name, sizeof c->y_name))
        return -1;
    if (get(m, "data", "lengths", &f)) {
        if (to_str(x, &f, "a dataset name", false, c->lengths_name, sizeof c->lengths_name))
            return -1;
        c->lengths_explicit = c->lengths_name[0] != '\0'; /* "" / null: back to auto */
    }
    if (get(m, "data", "normalize_x", &f) && to_bool(x, &f, &c->normalize_x)) return -1;
    if (get(m, "data", "normalize_y", &f) && to_bool_auto(x, &f, &c->normalize_y)) return -1;
    if (stream_fields(x, m, c)) return -1;
    if (get(m, "data", "validation_split", &f)) {
        if (to_num(x, &f, R_UNIT, &c->val_split)) return -1;
        if (c->val_split > 0 && c->val_file[0])
            return fail(x, f.v->at, f.path,
                        "cannot be used together with data.validation_file; give one of them");
    }
    return 0;
}

static int read_data(const ctx *x, const node *root, dpt_config *c) {
    static const char *const keys[] = {
        "train", "validation_file", "validation_split", "x",
        "y",     "lengths",         "normalize_x",      "normalize_y",
        "mode",  "block_rows",      "shuffle_buffer",   "prefetch",
        NULL};
    const node *m;
    field f;
    if (section(x, root, "data", keys, &m)) return -1;
    if (!m || !get(m, "data", "train", &f))
        return fail(x, key_loc(root, "data"), "data.train",
                    "missing key; expected the path of the training HDF5 file");
    if (to_str(x, &f, "a file path", true, c->train_file, sizeof c->train_file)) return -1;
    return data_fields(x, m, c);
}

static const char *const nonfinite_actions[] = {"abort", "skip", NULL};

static bool is_nonfinite_action(const char *s) {
    return in_list(nonfinite_actions, s);
}

/* training.on_nonfinite and the limit that only the skip action uses. */
static int nonfinite_fields(const ctx *x, const node *m, dpt_config *c) {
    char action[8] = "abort";
    field f;
    if (get(m, "training", "on_nonfinite", &f) &&
        to_name(x, &f, is_nonfinite_action, nonfinite_actions, action, sizeof action))
        return -1;
    c->nonfinite_skip = strcmp(action, "skip") == 0;
    if (!get(m, "training", "max_nonfinite_skips", &f)) return 0;
    if (!c->nonfinite_skip)
        return fail(x, f.v->at, f.path, "only used with training.on_nonfinite: skip");
    return to_int32(x, &f, 1, &c->max_nonfinite_skips);
}

static int read_training(const ctx *x, const node *root, dpt_config *c) {
    static const char *const keys[] = {
        "epochs",       "batch_size",          "seed", "threads", "shuffle",
        "on_nonfinite", "max_nonfinite_skips", NULL};
    const node *m;
    field f;
    long long seed;
    if (section(x, root, "training", keys, &m)) return -1;
    if (!m) return 0;
    if (get(m, "training", "epochs", &f) && to_int32(x, &f, 1, &c->epochs)) return -1;
    if (get(m, "training", "batch_size", &f) && to_int32(x, &f, 1, &c->batch_size)) return -1;
    if (get(m, "training", "threads", &f) && to_int32(x, &f, 0, &c->threads)) return -1;
    if (get(m, "training", "shuffle", &f) && to_bool(x, &f, &c->shuffle)) return -1;
    if (get(m, "training", "seed", &f)) {
        if (to_int(x, &f, 0, LLONG_MAX, &seed)) return -1;
        c->seed = (uint64_t)seed;
    }
    return nonfinite_fields(x, m, c);
}

static int read_parallel(const ctx *x, const node *root, dpt_config *c) {
    static const char *const keys[] = {"overlap", "bucket_mb", NULL};
    const node *m;
    field f;
    if (section(x, root, "parallel", keys, &m)) return -1;
    if (m && get(m, "parallel", "overlap", &f) && to_bool_auto(x, &f, &c->overlap)) return -1;
    if (m && get(m, "parallel", "bucket_mb", &f) && to_num(x, &f, R_GT0, &c->bucket_mb)) return -1;
    return 0;
}

static int read_output(const ctx *x, const node *root, dpt_config *c) {
    static const char *const keys[] = {"dir", "trace", NULL};
    const node *m;
    field f;
    if (section(x, root, "output", keys, &m)) return -1;
    if (m && get(m, "output", "trace", &f) && to_bool(x, &f, &c->trace)) return -1;
    if (m && get(m, "output", "dir", &f) &&
        to_str(x, &f, "a directory path", true, c->output_dir, sizeof c->output_dir))
        return -1;
    return 0;
}

/* A number >= 0 kept as a double (seconds). */
static int to_seconds(const ctx *x, const field *f, double *out) {
    char b[96];
    double d;
    if (f->v->kind != N_SCALAR || !parse_double(f->v->text, &d) || d < 0)
        return fail(x, f->v->at, f->path, "expected a number of seconds >= 0, got %s",
                    got(f->v, b, sizeof b));
    *out = d;
    return 0;
}

/* checkpoint.dir "" (or absent) means "<output.dir>/checkpoints", so it follows output.dir. */
static int checkpoint_dir(const ctx *x, const node *root, dpt_config *c) {
    if (c->ckpt_dir[0]) return 0;
    int n = snprintf(c->ckpt_dir, sizeof c->ckpt_dir, "%s/checkpoints", c->output_dir);
    if (n < (int)sizeof c->ckpt_dir) return 0;
    const entry *out = find(root, "output");
    const entry *dir = out ? find(out->val, "dir") : NULL;
    return fail(x, dir ? dir->val->at : root->at, "output.dir",
                "too long to hold the default checkpoint.dir '<output.dir>/checkpoints' (at most "
                "%zu characters)",
                sizeof c->ckpt_dir - sizeof "/checkpoints");
}

static int read_checkpoint(const ctx *x, const node *root, dpt_config *c) {
    static const char *const keys[] = {"dir",           "every_steps", "every_epochs",
                                       "every_seconds", "keep",        NULL};
    const node *m;
    field f;
    if (section(x, root, "checkpoint", keys, &m)) return -1;
    if (m && get(m, "checkpoint", "dir", &f) &&
        to_str(x, &f, "a directory path", false, c->ckpt_dir, sizeof c->ckpt_dir))
        return -1;
    if (m && get(m, "checkpoint", "every_steps", &f) && to_int32(x, &f, 0, &c->ckpt_every_steps))
        return -1;
    if (m && get(m, "checkpoint", "every_epochs", &f) && to_int32(x, &f, 0, &c->ckpt_every_epochs))
        return -1;
    if (m && get(m, "checkpoint", "every_seconds", &f) && to_seconds(x, &f, &c->ckpt_every_seconds))
        return -1;
    if (m && get(m, "checkpoint", "keep", &f) && to_int32(x, &f, 1, &c->ckpt_keep)) return -1;
    return checkpoint_dir(x, root, c);
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

static void set_defaults(dpt_config *c) {
    char stem[256];
    snprintf(c->loss, sizeof c->loss, "mse");
    dpt_optim_spec_defaults(&c->optim, "adam");
    snprintf(c->schedule.name, sizeof c->schedule.name, "constant");
    c->schedule.step_epochs = 1;
    c->schedule.gamma = 0.1f;
    snprintf(c->x_name, sizeof c->x_name, "X");
    snprintf(c->y_name, sizeof c->y_name, "y");
    c->normalize_x = true;
    c->normalize_y = -1;
    c->epochs = 10;
    c->batch_size = 32;
    c->seed = 42;
    c->shuffle = true;
    c->max_nonfinite_skips = 10;
    c->ckpt_every_epochs = 1;
    c->ckpt_keep = 3;
    c->prefetch = 2;
    c->overlap = -1;
    c->bucket_mb = 1.0f;
    file_stem(c->source, stem, sizeof stem);
    snprintf(c->output_dir, sizeof c->output_dir, "runs/%s", stem);
}

static int validate(const ctx *x, const node *root, dpt_config *c) {
    static const char *const top_keys[] = {"model",    "loss",           "metrics",    "optimizer",
                                           "schedule", "regularization", "clip",       "data",
                                           "training", "output",         "checkpoint", "parallel",
                                           NULL};
    char b[96];
    if (root->kind != N_MAP)
        return fail(x, root->at, "(top level)", "expected a mapping of sections, got %s",
                    got(root, b, sizeof b));
    if (check_keys(x, root, "", top_keys, "unknown section")) return -1;
    if (read_model(x, root, c) || read_loss(x, root, c) || read_metrics(x, root, c) ||
        read_optimizer(x, root, c) || read_schedule(x, root, c) || read_penalties(x, root, c) ||
        read_data(x, root, c) || read_training(x, root, c) || read_output(x, root, c) ||
        read_checkpoint(x, root, c) || read_parallel(x, root, c))
        return -1;
    c->schedule.base_lr = c->optim.lr;
    return 0;
}

static int copy_overrides(const ctx *x, dpt_config *c, const char *const *ov, int n) {
    DPT_ASSERT(n <= 0 || ov);
    if (n < 0 || n > DPT_MAX_OVERRIDES) {
        snprintf(x->err, x->errlen, "--set: at most %d overrides are allowed, got %d",
                 DPT_MAX_OVERRIDES, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        DPT_ASSERT(ov[i]);
        c->overrides[i] = copy_str(ov[i], strlen(ov[i]));
        c->noverrides = i + 1;
    }
    return 0;
}

static int load(ctx *x, dpt_config *c) {
    node *root = NULL;
    if (parse_yaml(x, c->text, &root)) return -1;
    if (!root) root = node_new(N_MAP, (loc){1, NULL}); /* empty file: report missing sections */
    int rc = 0;
    for (int i = 0; i < c->noverrides && rc == 0; i++)
        rc = apply_override(x, root, c->overrides[i]);
    if (rc == 0) {
        set_defaults(c);
        rc = validate(x, root, c);
    }
    node_free(root);
    return rc;
}

int dpt_config_load_text(dpt_config *c, const char *text, const char *name,
                         const char *const *overrides, int noverrides, char *err, size_t errlen) {
    char dummy[1];
    memset(c, 0, sizeof *c);
    snprintf(c->source, sizeof c->source, "%s", name && *name ? name : "<config>");
    c->text = copy_str(text ? text : "", text ? strlen(text) : 0);
    ctx x = {.file = c->source, .err = err ? err : dummy, .errlen = err ? errlen : sizeof dummy};
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
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------------------------------------
 * Comparing two configs (resuming from a checkpoint).  Both sides are turned into lists of
 * (key path, value as text) in a fixed order; the model part also gives the canonical text whose
 * hash a checkpoint records. */

typedef struct item {
    char key[PATH_LEN];
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
    it->val = copy_str(val, strlen(val));
}

static void items_free(items *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i].val);
    free(l->v);
}

/* The shortest text that reads back as the same float, so equal text means equal value. */
static void fmt_float(float v, char *buf, size_t n) {
    if (isnan(v)) {
        snprintf(buf, n, "default");
        return;
    }
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

static void add_num(items *l, const char *key, double v) {
    char b[32];
    fmt_float((float)v, b, sizeof b);
    add(l, key, b);
}

static void add_int(items *l, const char *key, long long v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    add(l, key, b);
}

static void add_bool(items *l, const char *key, bool v) {
    add(l, key, v ? "true" : "false");
}

/* The value of one key of a layer's key table, as text. */
static void layer_value(const dpt_layer_spec *s, const char *key, char *buf, size_t n) {
    if (!strcmp(key, "type"))
        snprintf(buf, n, "%s", s->type);
    else if (!strcmp(key, "name"))
        snprintf(buf, n, "%s", s->name);
    else if (!strcmp(key, "activation"))
        snprintf(buf, n, "%s", s->activation);
    else if (!strcmp(key, "kernel_init"))
        snprintf(buf, n, "%s", s->kernel_init);
    else if (!strcmp(key, "bias_init"))
        snprintf(buf, n, "%s", s->bias_init);
    else if (!strcmp(key, "units"))
        snprintf(buf, n, "%d", s->units);
    else if (!strcmp(key, "bptt_steps"))
        snprintf(buf, n, "%d", s->bptt_steps);
    else if (!strcmp(key, "steps"))
        snprintf(buf, n, "%d", s->steps);
    else if (!strcmp(key, "alpha"))
        fmt_float(s->alpha, buf, n);
    else if (!strcmp(key, "rate"))
        fmt_float(s->rate, buf, n);
    else if (!strcmp(key, "init_scale"))
        fmt_float(s->init_scale, buf, n);
    else if (!strcmp(key, "use_bias"))
        snprintf(buf, n, "%s", s->use_bias ? "true" : "false");
    else if (!strcmp(key, "return_sequences"))
        snprintf(buf, n, "%s", s->return_sequences ? "true" : "false");
    else if (!strcmp(key, "bidirectional"))
        snprintf(buf, n, "%s", s->bidirectional ? "true" : "false");
    else
        DPT_ASSERT(!"a layer key table names a key layer_value does not know");
}

/* Every key the layer's type takes (its key table), so the text lists what the config can say. */
static void layer_items(items *l, const dpt_layer_spec *s, int i) {
    layer_kind k = kind_of(s->type);
    DPT_ASSERT(k.keys);
    for (const char *const *key = k.keys; *key; key++) {
        char path[PATH_LEN], prefix[PATH_LEN], val[DPT_NAME_MAX + 32];
        join_index(prefix, "model.layers", i);
        join_path(path, prefix, *key);
        layer_value(s, *key, val, sizeof val);
        add(l, path, val);
    }
}

/* What a resume must keep: it defines the parameters, what the network sees (datasets,
 * normalisation), the data order and dropout masks (seed, shuffle) or the optimizer state. */
static void model_items(const dpt_config *c, items *l) {
    add_int(l, "model.layers", c->nlayers);
    for (int i = 0; i < c->nlayers; i++) layer_items(l, &c->layers[i], i);
    add(l, "loss", c->loss);
    add(l, "data.x", c->x_name);
    add(l, "data.y", c->y_name);
    add(l, "data.lengths", c->lengths_name);
    add_bool(l, "data.normalize_x", c->normalize_x);
    add(l, "data.normalize_y", c->normalize_y < 0 ? "auto" : c->normalize_y ? "true" : "false");
    add_int(l, "training.seed", (long long)c->seed);
    add_bool(l, "training.shuffle", c->shuffle);
    add(l, "data.mode", c->streaming ? "streaming" : "in_memory");
    add_int(l, "data.block_rows", c->block_rows);
    add_int(l, "data.shuffle_buffer", c->shuffle_buffer);
    add(l, "optimizer.name", c->optim.name);
}

static float optim_value(const dpt_optim_spec *o, const char *key) {
    if (!strcmp(key, "lr")) return o->lr;
    if (!strcmp(key, "momentum")) return o->momentum;
    if (!strcmp(key, "rho")) return o->rho;
    if (!strcmp(key, "beta1")) return o->beta1;
    if (!strcmp(key, "beta2")) return o->beta2;
    if (!strcmp(key, "eps")) return o->eps;
    DPT_ASSERT(!strcmp(key, "weight_decay"));
    return o->weight_decay;
}

static void schedule_items(const dpt_config *c, const char *const *keys, items *l) {
    const dpt_schedule *s = &c->schedule;
    for (const char *const *key = keys; *key; key++) {
        char path[PATH_LEN];
        join_path(path, "schedule", *key);
        if (!strcmp(*key, "name"))
            add(l, path, s->name);
        else if (!strcmp(*key, "warmup_steps"))
            add_int(l, path, s->warmup_steps);
        else if (!strcmp(*key, "step_epochs"))
            add_int(l, path, s->step_epochs);
        else if (!strcmp(*key, "gamma"))
            add_num(l, path, s->gamma);
        else
            add_num(l, path, s->min_lr);
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

/* Settings a resume may change.  Which optimizer and schedule keys are listed follows `shape`
 * (the current config), so both sides give the same keys in the same order. */
static void training_items(const dpt_config *c, const dpt_config *shape, items *l) {
    add_int(l, "training.epochs", c->epochs);
    add_int(l, "training.batch_size", c->batch_size);
    add_int(l, "training.threads", c->threads);
    add(l, "training.on_nonfinite", c->nonfinite_skip ? "skip" : "abort");
    add_int(l, "training.max_nonfinite_skips", c->max_nonfinite_skips);
    for (const char *const *key = optim_used_keys(shape->optim.name); *key; key++) {
        char path[PATH_LEN];
        join_path(path, "optimizer", *key);
        if (strcmp(*key, "name") != 0) add_num(l, path, optim_value(&c->optim, *key));
    }
    schedule_items(c, schedule_used_keys(shape->schedule.name), l);
    add_num(l, "regularization.l2", c->l2);
    add_num(l, "clip.norm", c->clip_norm);
    add_num(l, "clip.value", c->clip_value);
    metrics_item(c, l);
    add(l, "data.train", c->train_file);
    add(l, "data.validation_file", c->val_file);
    add_num(l, "data.validation_split", c->val_split);
    add(l, "output.dir", c->output_dir);
    add_bool(l, "output.trace", c->trace);
    add_int(l, "data.prefetch", c->prefetch);
    add(l, "parallel.overlap", c->overlap < 0 ? "auto" : c->overlap ? "true" : "false");
    add_num(l, "parallel.bucket_mb", c->bucket_mb);
    add(l, "checkpoint.dir", c->ckpt_dir);
    add_int(l, "checkpoint.every_steps", c->ckpt_every_steps);
    add_int(l, "checkpoint.every_epochs", c->ckpt_every_epochs);
    add_num(l, "checkpoint.every_seconds", c->ckpt_every_seconds);
    add_int(l, "checkpoint.keep", c->ckpt_keep);
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
    model_items(c, &l);
    size_t len = 1;
    for (int i = 0; i < l.n; i++) len += strlen(l.v[i].key) + strlen(l.v[i].val) + 2;
    char *text = dpt_calloc(len, 1); /* (len) "key=value\n" lines */
    for (int i = 0; i < l.n; i++) append(text, len, "%s=%s\n", l.v[i].key, l.v[i].val);
    items_free(&l);
    return text;
}

int dpt_config_model_diff(const dpt_config *ckpt, const dpt_config *now, char *msg, size_t len) {
    items a = {0}, b = {0};
    model_items(ckpt, &a);
    model_items(now, &b);
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

/* YAML text -> tree: libyaml's document API turns the text into a small tree whose every key and
 * value remembers its line (or the --set that produced it); the overrides edit that tree before
 * the config is read from it. */
#include "io/yaml_tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/util.h"

#define MAX_DEPTH 32     /* an anchor used inside itself makes a cycle; this ends it */
#define MAX_NODES 100000 /* aliases can multiply a small text into a huge tree */

/* ---------------------------------------------------------------------------------------------
 * The tree */

dpt_ynode *dpt_ynode_new(dpt_ykind k, dpt_yloc at) {
    dpt_ynode *v = dpt_calloc(1, sizeof *v);
    v->kind = k;
    v->at = at;
    return v;
}

void dpt_ynode_free(dpt_ynode *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        if (v->kind == DPT_YMAP) {
            free(v->ents[i].key);
            dpt_ynode_free(v->ents[i].val);
        } else {
            dpt_ynode_free(v->items[i]);
        }
    }
    free(v->ents);
    free(v->items);
    free(v->text);
    free(v);
}

char *dpt_ystrdup(const char *s, size_t n) {
    char *p = dpt_calloc(n + 1, 1);
    memcpy(p, s, n);
    return p;
}

static void grow(dpt_ynode *v) {
    if (v->n < v->cap) return;
    v->cap = v->cap ? 2 * v->cap : 4;
    if (v->kind == DPT_YMAP) {
        v->ents = realloc(v->ents, (size_t)v->cap * sizeof *v->ents);
        DPT_ASSERT(v->ents);
    } else {
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): items holds pointers */
        v->items = realloc(v->items, (size_t)v->cap * sizeof *v->items);
        DPT_ASSERT(v->items);
    }
}

static dpt_yentry *map_add(dpt_ynode *m, const char *key, dpt_yloc at, dpt_ynode *val) {
    grow(m);
    dpt_yentry *e = &m->ents[m->n++];
    e->key = dpt_ystrdup(key, strlen(key));
    e->at = at;
    e->val = val;
    return e;
}

static void seq_add(dpt_ynode *s, dpt_ynode *item) {
    grow(s);
    s->items[s->n++] = item;
}

dpt_yentry *dpt_yfind(const dpt_ynode *m, const char *key) {
    if (!m || m->kind != DPT_YMAP) return NULL;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->ents[i].key, key) == 0) return &m->ents[i];
    return NULL;
}

bool dpt_yis_null(const dpt_ynode *v) {
    if (v->kind != DPT_YSCALAR || !v->plain) return false;
    return v->text[0] == '\0' || strcmp(v->text, "~") == 0 || strcasecmp(v->text, "null") == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Messages */

/* "<file>:<line>: <path>: <msg>" or "--set <override>: <path>: <msg>". */
void dpt_yfail_format(const dpt_yctx *x, dpt_yloc at, const char *path, const char *fmt, ...) {
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
}

/* What a value looks like, for the ", got ..." part of a message. */
const char *dpt_ygot(const dpt_ynode *v, char *buf, size_t n) {
    if (v->kind == DPT_YSEQ) return "a list";
    if (v->kind == DPT_YMAP) return "a mapping";
    if (v->plain && v->text[0] == '\0') return "nothing";
    if (strlen(v->text) > 80)
        snprintf(buf, n, "'%.77s...'", v->text);
    else
        snprintf(buf, n, "'%s'", v->text);
    return buf;
}

void dpt_yjoin_names(const char *const *names, char *buf, size_t n) {
    buf[0] = '\0';
    for (const char *const *p = names; p && *p; p++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? ", " : "", *p);
    }
}

/* Key paths only appear in messages, so an absurdly long one is cut with "...". */
void dpt_yjoin_path(char *out, const char *prefix, const char *key) {
    int n = snprintf(out, DPT_YPATH_LEN, "%s%s%s", prefix, prefix[0] ? "." : "", key);
    if (n >= DPT_YPATH_LEN) memcpy(out + DPT_YPATH_LEN - 4, "...", 4);
}

void dpt_yjoin_index(char *out, const char *prefix, int i) {
    int n = snprintf(out, DPT_YPATH_LEN, "%s.%d", prefix, i);
    if (n >= DPT_YPATH_LEN) memcpy(out + DPT_YPATH_LEN - 4, "...", 4);
}

bool dpt_yin_list(const char *const *names, const char *s) {
    for (const char *const *p = names; p && *p; p++)
        if (strcmp(*p, s) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * YAML text -> tree */

static dpt_yloc mark_loc(const dpt_yctx *x, yaml_mark_t m) {
    if (x->origin) return (dpt_yloc){0, x->origin};
    return (dpt_yloc){(int)m.line + 1, NULL};
}

static int convert(dpt_yctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path, int depth,
                   dpt_ynode **out);

static int convert_map(dpt_yctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path,
                       int depth, dpt_ynode *m) {
    for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        dpt_yloc kat = mark_loc(x, k->start_mark);
        if (k->type != YAML_SCALAR_NODE)
            return dpt_yfail(x, kat, path[0] ? path : "(top level)",
                             "expected plain text as a key, got a %s",
                             k->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
        const char *key = (const char *)k->data.scalar.value;
        char sub[DPT_YPATH_LEN];
        dpt_yjoin_path(sub, path, key);
        dpt_yentry *prev = dpt_yfind(m, key);
        if (prev && prev->at.line > 0)
            return dpt_yfail(x, kat, sub, "duplicate key (first given at line %d)", prev->at.line);
        if (prev) return dpt_yfail(x, kat, sub, "duplicate key");
        dpt_ynode *val = NULL;
        int rc = convert(x, d, yaml_document_get_node(d, p->value), sub, depth + 1, &val);
        map_add(m, key, kat, val); /* added even on failure, so dpt_ynode_free(m) frees val */
        if (rc) return -1;
    }
    return 0;
}

static int convert_seq(dpt_yctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path,
                       int depth, dpt_ynode *s) {
    int i = 0;
    for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top;
         it++, i++) {
        char sub[DPT_YPATH_LEN];
        dpt_yjoin_index(sub, path, i);
        dpt_ynode *item = NULL;
        int rc = convert(x, d, yaml_document_get_node(d, *it), sub, depth + 1, &item);
        seq_add(s, item);
        if (rc) return -1;
    }
    return 0;
}

static int convert(dpt_yctx *x, yaml_document_t *d, yaml_node_t *yn, const char *path, int depth,
                   dpt_ynode **out) {
    dpt_yloc at = mark_loc(x, yn->start_mark);
    const char *where = path[0] ? path : "(top level)";
    if (depth > MAX_DEPTH) return dpt_yfail(x, at, where, "nested too deeply (recursive alias?)");
    if (++x->nodes > MAX_NODES)
        return dpt_yfail(x, at, where, "more than %d values (aliases expanding?)", MAX_NODES);
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        *out = dpt_ynode_new(DPT_YSCALAR, at);
        (*out)->text = dpt_ystrdup((const char *)yn->data.scalar.value, yn->data.scalar.length);
        (*out)->plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return 0;
    case YAML_SEQUENCE_NODE:
        *out = dpt_ynode_new(DPT_YSEQ, at);
        return convert_seq(x, d, yn, path, depth, *out);
    case YAML_MAPPING_NODE:
        *out = dpt_ynode_new(DPT_YMAP, at);
        return convert_map(x, d, yn, path, depth, *out);
    default:
        return dpt_yfail(x, at, where, "empty YAML dpt_ynode");
    }
}

/* libyaml's own message, with its line and column. */
static int syntax_error(const dpt_yctx *x, const yaml_parser_t *p) {
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
int dpt_yaml_parse(dpt_yctx *x, const char *text, dpt_ynode **out) {
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
                    rc = dpt_yfail(x, mark_loc(x, r2->start_mark), "(document)",
                                   "expected a single YAML document, found a second one");
                yaml_document_delete(&extra);
            }
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    if (rc) {
        dpt_ynode_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Overrides: "a.b.c=value" edits the tree before validation */

/* Flow collections and quoted strings go through the YAML parser; anything else is taken
 * verbatim, so paths containing '#', ': ' or a leading '@' need no quoting. */
static int override_value(dpt_yctx *x, const char *ov, const char *text, dpt_ynode **out) {
    char c = text[0];
    if (c == '[' || c == '{' || c == '"' || c == '\'') {
        x->origin = ov;
        int rc = dpt_yaml_parse(x, text, out);
        x->origin = NULL;
        if (rc) return -1;
    }
    if (!*out) {
        *out = dpt_ynode_new(DPT_YSCALAR, (dpt_yloc){0, ov});
        (*out)->text = dpt_ystrdup(text, strlen(text));
        (*out)->plain = true;
    }
    return 0;
}

/* The list index named by key, or -1 with a message. */
static int list_index(const dpt_yctx *x, dpt_yloc at, const dpt_ynode *s, const char *key,
                      const char *path) {
    char *end;
    errno = 0;
    long i = strtol(key, &end, 10);
    bool digits = key[0] >= '0' && key[0] <= '9' && *end == '\0' && errno == 0;
    if (!digits) return dpt_yfail(x, at, path, "expected a list index, got '%s'", key);
    if (i >= s->n)
        return dpt_yfail(x, at, path, "index %ld is out of range: the list has %d item%s", i, s->n,
                         s->n == 1 ? "" : "s");
    return (int)i;
}

/* Replaces (or, in a mapping, creates) the child `key` of cur with val. */
static int set_child(const dpt_yctx *x, dpt_yloc at, dpt_ynode *cur, const char *key,
                     const char *path, dpt_ynode *val) {
    if (cur->kind == DPT_YMAP) {
        dpt_yentry *e = dpt_yfind(cur, key);
        if (e) {
            dpt_ynode_free(e->val);
            e->val = val;
        } else {
            map_add(cur, key, at, val);
        }
        return 0;
    }
    int i = list_index(x, at, cur, key, path);
    if (i < 0) return -1;
    dpt_ynode_free(cur->items[i]);
    cur->items[i] = val;
    return 0;
}

/* The child `key` of cur to descend into; a missing mapping key becomes an empty mapping. */
static dpt_ynode *descend(const dpt_yctx *x, dpt_yloc at, dpt_ynode *cur, const char *key,
                          const char *path) {
    if (cur->kind == DPT_YMAP) {
        dpt_yentry *e = dpt_yfind(cur, key);
        if (!e) e = map_add(cur, key, at, dpt_ynode_new(DPT_YMAP, at));
        return e->val;
    }
    int i = list_index(x, at, cur, key, path);
    return i < 0 ? NULL : cur->items[i];
}

static int walk_and_set(const dpt_yctx *x, dpt_yloc at, dpt_ynode *cur, char *keys,
                        dpt_ynode *val) {
    char walked[DPT_YPATH_LEN] = "";
    for (char *key = keys;;) {
        char *dot = strchr(key, '.');
        if (dot) *dot = '\0';
        if (!*key)
            return dpt_yfail(x, at, walked[0] ? walked : "(key path)", "empty key in the path");
        if (dpt_yis_null(cur)) { /* "section:" with nothing after it becomes a mapping */
            free(cur->text);
            cur->text = NULL;
            cur->kind = DPT_YMAP;
            cur->at = at;
        }
        char sub[DPT_YPATH_LEN];
        dpt_yjoin_path(sub, walked, key);
        if (cur->kind == DPT_YSCALAR)
            return dpt_yfail(x, at, walked[0] ? walked : "(top level)",
                             "expected a mapping or a list to set '%s' in, got '%s'", key,
                             cur->text);
        if (!dot) return set_child(x, at, cur, key, sub, val);
        cur = descend(x, at, cur, key, sub);
        if (!cur) return -1;
        snprintf(walked, sizeof walked, "%s", sub);
        key = dot + 1;
    }
}

int dpt_yaml_override(dpt_yctx *x, dpt_ynode *root, const char *ov) {
    dpt_yloc at = {0, ov};
    const char *eq = strchr(ov, '=');
    if (!eq || eq == ov) return dpt_yfail(x, at, "(key path)", "expected key.path=value");
    char keys[DPT_YPATH_LEN];
    if ((size_t)(eq - ov) >= sizeof keys)
        return dpt_yfail(x, at, "(key path)", "key path longer than %d characters",
                         DPT_YPATH_LEN - 1);
    memcpy(keys, ov, (size_t)(eq - ov));
    keys[eq - ov] = '\0';
    dpt_ynode *val = NULL;
    if (override_value(x, ov, eq + 1, &val)) return -1;
    if (walk_and_set(x, at, root, keys, val)) {
        dpt_ynode_free(val);
        return -1;
    }
    return 0;
}

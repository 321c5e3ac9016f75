/* The YAML text of a config as a small tree whose every key and value remembers its line (or the
 * --set that produced it), and the --set overrides that edit it.  Private to the config units
 * (io/config*.c); every message names file, line and key path. */
#ifndef DPT_YAML_TREE_H
#define DPT_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h" /* dpt_err_rc */

#define DPT_YPATH_LEN 256 /* key paths in messages; longer ones are cut with "..." */

typedef enum dpt_ykind { DPT_YSCALAR, DPT_YSEQ, DPT_YMAP } dpt_ykind;

/* Where a key or value came from: a line of the file (1-based), or an override string. */
typedef struct dpt_yloc {
    int line;
    const char *origin; /* "--set" text, NULL for the file */
} dpt_yloc;

typedef struct dpt_ynode dpt_ynode;

typedef struct dpt_yentry {
    char *key;
    dpt_yloc at; /* of the key */
    dpt_ynode *val;
} dpt_yentry;

struct dpt_ynode {
    dpt_ykind kind;
    dpt_yloc at;
    bool plain;        /* unquoted scalar: only those can mean null */
    char *text;        /* scalar (owned) */
    int n, cap;        /* entries or items */
    dpt_yentry *ents;  /* mapping (n) */
    dpt_ynode **items; /* sequence (n) */
};

typedef struct dpt_yctx {
    const char *file;   /* name used in messages */
    const char *origin; /* while converting an override's value: that override */
    char *err;
    size_t errlen;
    int nodes; /* converted so far */
} dpt_yctx;

dpt_ynode *dpt_ynode_new(dpt_ykind k, dpt_yloc at);
void dpt_ynode_free(dpt_ynode *v);
char *dpt_ystrdup(const char *s, size_t n); /* n bytes of s and a NUL (dpt_calloc) */
dpt_yentry *dpt_yfind(const dpt_ynode *m, const char *key); /* NULL unless m is a map with key */
bool dpt_yis_null(const dpt_ynode *v);                      /* an unquoted "", "~" or "null" */

/* "<file>:<line>: <path>: <msg>" or "--set <override>: <path>: <msg>" into x->err; evaluates to
 * -1.  The -1 sits outside the variadic function, as in dpt_err (core/util.h), so that static
 * analysis sees every failure path return it. */
__attribute__((format(printf, 4, 5))) void dpt_yfail_format(const dpt_yctx *x, dpt_yloc at,
                                                            const char *path, const char *fmt, ...);
#define dpt_yfail(...) (dpt_yfail_format(__VA_ARGS__), dpt_err_rc())
/* What a value looks like, for the ", got ..." part of a message. */
const char *dpt_ygot(const dpt_ynode *v, char *buf, size_t n);
void dpt_yjoin_names(const char *const *names, char *buf, size_t n); /* "a, b, c" */
void dpt_yjoin_path(char *out, const char *prefix, const char *key); /* out: DPT_YPATH_LEN */
void dpt_yjoin_index(char *out, const char *prefix, int i);          /* out: DPT_YPATH_LEN */
bool dpt_yin_list(const char *const *names, const char *s);

/* Parses one YAML document into *out (NULL when the text holds no document). */
int dpt_yaml_parse(dpt_yctx *x, const char *text, dpt_ynode **out);
/* Applies one "a.b.c=value" override to the tree (list items by index). */
int dpt_yaml_override(dpt_yctx *x, dpt_ynode *root, const char *ov);

#endif

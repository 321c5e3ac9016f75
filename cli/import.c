/* `dptrain import csv|idx|npy|images|text INPUT... OUT.h5`: converts users' data files (folders
 * of images, UTF-8 text) to the HDF5 layout dptrain trains on (io/import/, docs/data.md "Importing
 * data"). Rank 0 does the work; under mpirun the other ranks wait for it without spinning, and a
 * failure ends them all. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "core/trace.h"
#include "io/import/csv.h"
#include "io/import/idx.h"
#include "io/import/images.h"
#include "io/import/npy.h"
#include "io/import/text.h"
#include "parallel/dist.h"

static const char usage_text[] =
    "usage: dptrain import csv IN.csv OUT.h5 [--target COLS | --no-target] [--features COLS]\n"
    "                          [--header auto|yes|no] [--delimiter C] [--labels]\n"
    "       dptrain import idx IMAGES [LABELS] OUT.h5 [--layout flat|seq|image] [--scale F]\n"
    "                          [--dtype float32|uint8]\n"
    "       dptrain import npy X.npy [Y.npy] OUT.h5 [--lengths L.npy] [--float-targets]\n"
    "                          [--dtype float32|uint8]\n"
    "       dptrain import images DIR OUT.h5 [--channels 1|3|4] [--size HxW]\n"
    "                          [--shuffle SEED] [--dtype uint8|float32]\n"
    "       dptrain import text FILE... OUT.h5 [--level char|word] [--lowercase] [--seq-len T]\n"
    "                          [--stride S] [--documents file|line|percent|blank]\n"
    "                          [--holdout F --holdout-out TEST.h5 [--seed S]] [--labels]\n"
    "                          [--vocab FROM.h5] [--max-vocab N]\n"
    "options for all formats: [--x NAME] [--y NAME] [--compress 0-9] [--force]\n"
    "\n"
    "Writes X float32 (N, F), (N, T, F) or (N, H, W, C), y float32 (N, K) or int32 class labels\n"
    "(N), and lengths int32 (N), chunked by rows (about 1 MiB per chunk), gzip'd with\n"
    "--compress N (default 0: none).  An existing OUT.h5 is replaced only with --force.  Inputs\n"
    "are streamed.  --dtype uint8 keeps 8-bit pixels as uint8 (dptrain reads them as v / 255).\n"
    "\n"
    "csv:  --target COLS    target columns, comma-separated names or 0-based indices\n"
    "                       (default: the last column); --no-target: X only\n"
    "      --features COLS  feature columns (default: every column that is not a target)\n"
    "      --header auto    first row is a header if any cell is not a number (yes, no)\n"
    "      --delimiter C    one character (default ','); 'tab' or '\\t' for tabs\n"
    "      --labels         the target is an integer class label >= 0: y int32 (N)\n"
    "      Quoted cells (RFC 4180), blank lines and '#' comment lines are accepted.\n"
    "idx:  IMAGES (N, d1, ...) and LABELS (N), plain or gzip'd\n"
    "      --layout flat    X (N, d1 x d2 x ...) (default); seq: X (N, d1, d2 x ...), rows as\n"
    "                       time steps; image: X (N, H, W, 1) from (N, H, W) images\n"
    "                       ((N, H, W, C) from 4-D IDX files)\n"
    "      --dtype uint8    X uint8, the ubyte values unscaled (default float32)\n"
    "      --scale F        multiplies the image values (a number or a fraction like 1/255);\n"
    "                       default 1/255 for ubyte images (pixels to [0, 1]), else 1\n"
    "npy:  X.npy (N), (N, F) or (N, T, F); Y.npy (N, ...) integer -> int32 labels, float ->\n"
    "      float32; --float-targets: integer Y as float32; --lengths L.npy (N) sequence lengths\n"
    "      X.npy may also be (N, H, W, C) images; --dtype uint8 keeps a |u1 X as uint8\n"
    "images: DIR/CLASS/*.png|jpg|jpeg, one sub-folder per class (names sorted: labels 0..K-1,\n"
    "      stored in the string dataset class_names); X (N, H, W, C) uint8 by default\n"
    "      --channels C     1 grey, 3 RGB, 4 RGBA (default: 1 or 3 from the first image)\n"
    "      --size HxW       resize every image to H x W (default: all must have one size)\n"
    "      --shuffle SEED   rows in an order drawn from SEED (default: class by class)\n";
/* Split in two: ISO C limits a string literal to 4095 characters. */
static const char usage_text2[] =
    "text: UTF-8 files to int32 token ids X (N, T) with the vocabulary (datasets vocab,\n"
    "      vocab_counts); default: language-model windows, y (N, T) = X shifted by one token\n"
    "      --level char     one Unicode character per token (default); word: runs of letters\n"
    "                       and digits, each punctuation character a token\n"
    "      --lowercase      ASCII letters lowercased first\n"
    "      --seq-len T      window length (default 100; with --labels: cap on the text length)\n"
    "      --stride S       a window every S tokens (default T: not overlapping)\n"
    "      --documents M    the documents: file (default), line, percent (fortune files:\n"
    "                       separated by lines holding only '%'), blank (by blank lines)\n"
    "      --holdout F      the fraction F of the documents, drawn by --seed S (default 0),\n"
    "                       goes to --holdout-out TEST.h5; the vocabulary is built without it\n"
    "      --labels         lines LABEL<TAB>TEXT: X padded with 0 (<pad>), lengths (N),\n"
    "                       y (N) int32 labels, class_names\n"
    "      --vocab FROM.h5  use FROM.h5's vocabulary (and class_names) instead of building one\n"
    "      --max-vocab N    keep the N most frequent tokens (specials included); others: <unk>\n"
    "\n"
    "Exit status: 0 done, 1 bad input (the message names the file and line or element), 2 usage.\n";

#define DPT_IMPORT_MAXPOS 4096 /* file arguments (text takes many files) */

typedef struct imp_args {
    const char *fmt;
    const char *pos[DPT_IMPORT_MAXPOS];
    int npos;
    dpt_csv_opts csv;
    dpt_idx_opts idx;
    dpt_npy_opts npy;
    dpt_images_opts img;
    dpt_text_opts text;
    dpt_import_opts io;
} imp_args;

static int usage_error(const char *fmt, const char *what, const char *arg) {
    if (dpt_world.rank == 0)
        fprintf(stderr, "dptrain import%s%s: %s%s%s%s\n%s%s", fmt ? " " : "", fmt ? fmt : "", what,
                arg ? " '" : "", arg ? arg : "", arg ? "'" : "", usage_text, usage_text2);
    return -1;
}

/* "0.5", "1/255": a finite number > 0. */
static int parse_scale(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end == '/') {
        const char *d = end + 1;
        double den = strtod(d, &end);
        v = end == d ? NAN : v / den;
    }
    if (errno || *end || !isfinite(v) || !(v > 0)) return -1;
    *out = v;
    return 0;
}

static int parse_delim(const char *s, char *out) {
    if (!strcmp(s, "tab") || !strcmp(s, "\\t")) s = "\t";
    if (strlen(s) != 1 || strchr("\"\r\n#", s[0])) return -1;
    *out = s[0];
    return 0;
}

static int parse_header(const char *s, int *out) {
    static const char *const names[] = {"auto", "yes", "no"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *out = i; /* DPT_CSV_HEADER_AUTO, _YES, _NO */
            return 0;
        }
    return -1;
}

static int parse_compress(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 9) return -1;
    *out = (int)v;
    return 0;
}

/* "28x28" (height x width, each 1..DPT_IMAGES_MAX_SIDE). */
static int parse_size(const char *s, dpt_images_opts *out) {
    char *end;
    long h = strtol(s, &end, 10), w = 0;
    if (end == s || (*end != 'x' && *end != 'X')) return -1;
    const char *p = end + 1;
    w = strtol(p, &end, 10);
    if (end == p || *end || h < 1 || w < 1 || h > DPT_IMAGES_MAX_SIDE || w > DPT_IMAGES_MAX_SIDE)
        return -1;
    out->height = (int)h;
    out->width = (int)w;
    return 0;
}

/* A seed: a decimal integer >= 0 (up to 2^64 - 1). */
static int parse_seed(const char *s, dpt_images_opts *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno) return -1;
    out->shuffle = true;
    out->seed = v;
    return 0;
}

/* An integer in [1, 2^30]. */
static int parse_count(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > (1L << 30)) return -1;
    *out = (int)v;
    return 0;
}

/* A fraction in (0, 1). */
static int parse_fraction(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v > 0 && v < 1)) return -1;
    *out = v;
    return 0;
}

static int parse_documents(const char *s, dpt_text_docs *out) {
    static const char *const names[] = {"file", "line", "percent", "blank"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (dpt_text_docs)i; /* DPT_TEXT_DOC_FILE, _LINE, _PERCENT, _BLANK */
            return 0;
        }
    return -1;
}

/* fmt is one of the words of list. */
static bool fmt_in(const char *list, const char *fmt) {
    size_t n = strlen(fmt);
    for (const char *p = strstr(list, fmt); p; p = strstr(p + 1, fmt))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
    return false;
}

/* The options: where each one's value goes and which format it belongs to. */
typedef enum {
    OPT_FLAG,
    OPT_STRING,
    OPT_COMPRESS,
    OPT_HEADER,
    OPT_DELIM,
    OPT_SCALE,
    OPT_LAYOUT,
    OPT_DTYPE,
    OPT_CHANNELS,
    OPT_SIZE,
    OPT_SEED,
    OPT_COUNT,
    OPT_FRACTION,
    OPT_LEVEL,
    OPT_DOCS,
    OPT_U64
} opt_kind;

typedef struct opt_def {
    const char *name;
    const char *fmt; /* formats it applies to ("idx npy"); NULL: every format */
    opt_kind kind;
    size_t offset; /* of the field in imp_args */
} opt_def;

static const opt_def options[] = {
    {"--x", NULL, OPT_STRING, offsetof(imp_args, io.x_name)},
    {"--y", NULL, OPT_STRING, offsetof(imp_args, io.y_name)},
    {"--compress", NULL, OPT_COMPRESS, offsetof(imp_args, io.compress)},
    {"--force", NULL, OPT_FLAG, offsetof(imp_args, io.force)},
    {"--target", "csv", OPT_STRING, offsetof(imp_args, csv.target)},
    {"--features", "csv", OPT_STRING, offsetof(imp_args, csv.features)},
    {"--no-target", "csv", OPT_FLAG, offsetof(imp_args, csv.no_target)},
    {"--header", "csv", OPT_HEADER, offsetof(imp_args, csv.header)},
    {"--delimiter", "csv", OPT_DELIM, offsetof(imp_args, csv.delim)},
    {"--labels", "csv", OPT_FLAG, offsetof(imp_args, csv.labels)},
    {"--layout", "idx", OPT_LAYOUT, offsetof(imp_args, idx)},
    {"--dtype", "idx npy images", OPT_DTYPE, offsetof(imp_args, io.x_type)},
    {"--channels", "images", OPT_CHANNELS, offsetof(imp_args, img.channels)},
    {"--size", "images", OPT_SIZE, offsetof(imp_args, img)},
    {"--shuffle", "images", OPT_SEED, offsetof(imp_args, img)},
    {"--scale", "idx", OPT_SCALE, offsetof(imp_args, idx.scale)},
    {"--lengths", "npy", OPT_STRING, offsetof(imp_args, npy.lengths)},
    {"--float-targets", "npy", OPT_FLAG, offsetof(imp_args, npy.float_targets)},
    {"--level", "text", OPT_LEVEL, offsetof(imp_args, text)},
    {"--lowercase", "text", OPT_FLAG, offsetof(imp_args, text.lowercase)},
    {"--seq-len", "text", OPT_COUNT, offsetof(imp_args, text.seq_len)},
    {"--stride", "text", OPT_COUNT, offsetof(imp_args, text.stride)},
    {"--documents", "text", OPT_DOCS, offsetof(imp_args, text.documents)},
    {"--holdout", "text", OPT_FRACTION, offsetof(imp_args, text.holdout)},
    {"--holdout-out", "text", OPT_STRING, offsetof(imp_args, text.holdout_out)},
    {"--seed", "text", OPT_U64, offsetof(imp_args, text.seed)},
    {"--labels", "text", OPT_FLAG, offsetof(imp_args, text.labels)},
    {"--vocab", "text", OPT_STRING, offsetof(imp_args, text.vocab_from)},
    {"--max-vocab", "text", OPT_COUNT, offsetof(imp_args, text.max_vocab)},
};

/* The row of name for format fmt; else its first row (for "option for another format"). */
static const opt_def *find_option(const char *name, const char *fmt) {
    const opt_def *first = NULL;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if (strcmp(name, options[i].name)) continue;
        if (!options[i].fmt || fmt_in(options[i].fmt, fmt)) return &options[i];
        if (!first) first = &options[i];
    }
    return first;
}

/* Stores v (NULL for a flag) in o's field; 0, or -1 for a bad value. */
static int set_option(imp_args *a, const opt_def *o, const char *v) {
    void *field = (char *)a + o->offset;
    switch (o->kind) {
    case OPT_FLAG:
        *(bool *)field = true;
        return 0;
    case OPT_STRING:
        *(const char **)field = v;
        return 0;
    case OPT_COMPRESS:
        return parse_compress(v, field);
    case OPT_HEADER:
        return parse_header(v, field);
    case OPT_DELIM:
        return parse_delim(v, field);
    case OPT_SCALE:
        return parse_scale(v, field);
    case OPT_LAYOUT:
        ((dpt_idx_opts *)field)->seq = !strcmp(v, "seq");
        ((dpt_idx_opts *)field)->image = !strcmp(v, "image");
        return !strcmp(v, "seq") || !strcmp(v, "flat") || !strcmp(v, "image") ? 0 : -1;
    case OPT_DTYPE:
        *(int *)field = !strcmp(v, "uint8")     ? DPT_IMPORT_X_U8
                        : !strcmp(v, "float32") ? DPT_IMPORT_X_F32
                                                : DPT_IMPORT_X_DEFAULT;
        return *(int *)field == DPT_IMPORT_X_DEFAULT ? -1 : 0;
    case OPT_CHANNELS:
        *(int *)field = atoi(v);
        return strlen(v) == 1 && strchr("134", v[0]) ? 0 : -1;
    case OPT_SIZE:
        return parse_size(v, field);
    case OPT_SEED:
        return parse_seed(v, field);
    case OPT_COUNT:
        return parse_count(v, field);
    case OPT_FRACTION:
        return parse_fraction(v, field);
    case OPT_LEVEL:
        ((dpt_text_opts *)field)->level_set = true;
        return dpt_vocab_parse_level(v, &((dpt_text_opts *)field)->level);
    case OPT_DOCS:
        return parse_documents(v, field);
    case OPT_U64: {
        dpt_images_opts tmp;
        if (parse_seed(v, &tmp)) return -1;
        *(uint64_t *)field = tmp.seed;
        return 0;
    }
    }
    return -1;
}

/* One argument at argv[*i] ("--name value", "--name=value", a flag or a file); 0 ok, 1 help,
 * -1 usage error (printed). */
static int parse_one(imp_args *a, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) return 1;
    if (strncmp(arg, "--", 2) != 0) {
        if (a->npos == DPT_IMPORT_MAXPOS)
            return usage_error(a->fmt, "too many file arguments at", arg);
        a->pos[a->npos++] = arg;
        return 0;
    }
    char name[64];
    const char *eq = strchr(arg, '='), *val = eq ? eq + 1 : NULL;
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
    const opt_def *o = find_option(name, a->fmt);
    if (!o || (o->kind == OPT_FLAG && val)) return usage_error(a->fmt, "unknown option", arg);
    if (o->fmt && !fmt_in(o->fmt, a->fmt))
        return usage_error(a->fmt, "option for another format:", name);
    if (o->kind != OPT_FLAG && !val) {
        if (*i + 1 >= argc) return usage_error(a->fmt, "option needs a value:", name);
        val = argv[++*i];
    }
    if (set_option(a, o, val)) return usage_error(a->fmt, "bad value for", name);
    return 0;
}

static int check_text_args(const imp_args *a) {
    const dpt_text_opts *t = &a->text;
    if ((t->holdout > 0) != (t->holdout_out != NULL))
        return usage_error(a->fmt, "--holdout F and --holdout-out FILE go together", NULL);
    if (t->holdout_out && !strcmp(t->holdout_out, a->pos[a->npos - 1]))
        return usage_error(a->fmt, "--holdout-out names the output file", t->holdout_out);
    if (t->labels && (t->documents != DPT_TEXT_DOC_FILE || t->stride))
        return usage_error(a->fmt, "--documents and --stride do not apply to --labels", NULL);
    if (t->vocab_from && t->max_vocab)
        return usage_error(a->fmt,
                           "--max-vocab does not apply to --vocab (the vocabulary is "
                           "read, not built)",
                           NULL);
    if (t->vocab_from && t->lowercase)
        return usage_error(a->fmt,
                           "--lowercase does not apply to --vocab (the vocabulary "
                           "records it)",
                           NULL);
    return 0;
}

static int parse_args(imp_args *a, int argc, char **argv) {
    *a = (imp_args){.io = {.label_max = -1, .attr_name = "dptrain_import"}};
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        if (argc >= 2) return 1;
        return usage_error(NULL, "missing format (csv, idx, npy, images or text)", NULL);
    }
    a->fmt = argv[1];
    if (!fmt_in("csv idx npy images text", a->fmt))
        return usage_error(NULL, "unknown format (expected csv, idx, npy, images or text)", a->fmt);
    for (int i = 2; i < argc; i++) {
        int rc = parse_one(a, argc, argv, &i);
        if (rc) return rc;
    }
    bool csv = !strcmp(a->fmt, "csv"), images = !strcmp(a->fmt, "images");
    bool text = !strcmp(a->fmt, "text");
    int lo = 2, hi = text ? DPT_IMPORT_MAXPOS : csv || images ? 2 : 3;
    if (a->npos < lo || a->npos > hi)
        return usage_error(a->fmt,
                           csv      ? "expected IN.csv OUT.h5"
                           : images ? "expected DIR OUT.h5"
                           : text   ? "expected FILE... OUT.h5"
                                    : "expected 2 or 3 files",
                           NULL);
    if (text) return check_text_args(a);
    if (a->csv.target && a->csv.no_target)
        return usage_error(a->fmt, "--target and --no-target exclude each other", NULL);
    if (a->io.x_type == DPT_IMPORT_X_U8 && a->idx.scale > 0)
        return usage_error(a->fmt, "--scale does not apply to --dtype uint8", NULL);
    return 0;
}

/* ---- running ---- */

static int run_import(const imp_args *a, dpt_import_summary *s, dpt_import_summary *s2, char *err,
                      size_t errlen) {
    const char *out = a->pos[a->npos - 1];
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): parse_args set fmt */
    if (!strcmp(a->fmt, "text"))
        return dpt_import_text(a->pos, a->npos - 1, out, &a->text, &a->io, s, s2, err, errlen);
    if (!strcmp(a->fmt, "csv"))
        return dpt_import_csv(a->pos[0], out, &a->csv, &a->io, s, err, errlen);
    if (!strcmp(a->fmt, "images"))
        return dpt_import_images(a->pos[0], out, &a->img, &a->io, s, err, errlen);
    if (!strcmp(a->fmt, "idx"))
        return dpt_import_idx(a->pos[0], a->npos == 3 ? a->pos[1] : NULL, out, &a->idx, &a->io, s,
                              err, errlen);
    dpt_npy_opts no = a->npy;
    no.y = a->npos == 3 ? a->pos[1] : NULL;
    return dpt_import_npy(a->pos[0], out, &no, &a->io, s, err, errlen);
}

/* "dptrain import idx a.gz b.gz": recorded in the file's root attribute. */
static void describe(char *buf, size_t len, int argc, char **argv) {
    int n = snprintf(buf, len, "dptrain import");
    for (int i = 1; i < argc && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, " %s", argv[i]);
}

/* ", X (60000, 784) float32", and for int32 the range of the values. */
static void print_ds(const dpt_import_ds *d) {
    printf(", %s (", d->name);
    for (int k = 0; k < d->ndim; k++) printf("%s%" PRId64, k ? ", " : "", d->dims[k]);
    printf(") %s", d->is_int ? "int32" : d->is_u8 ? "uint8" : "float32");
    if (d->is_int) printf(" %" PRId64 "..%" PRId64, d->min, d->max);
}

/* "OUT.h5: 60000 rows, X (60000, 784) float32, y (60000) int32 0..9; 180.1 MiB, 0.76 s" */
static void print_summary(const char *out, const dpt_import_summary *s, double secs) {
    printf("%s: %" PRId64 " rows", out, s->ds[0].dims[0]);
    for (int i = 0; i < s->nds; i++) print_ds(&s->ds[i]);
    struct stat st;
    double mib = stat(out, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0.0;
    if (s->note[0]) printf(", %s", s->note);
    printf("; %.1f MiB, %.2f s\n", mib, secs);
    fflush(stdout);
}

/* Ranks other than 0 wait for rank 0 without spinning (a blocking barrier would busy-poll). */
static void wait_for_rank0(void) {
    MPI_Request req;
    MPI_Ibarrier(dpt_world.comm, &req);
    for (int done = 0; !done;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (!done) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
}

int dpt_cmd_import(int argc, char **argv) {
    imp_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc) {
        if (rc > 0 && dpt_world.rank == 0) printf("%s%s", usage_text, usage_text2);
        return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    }
    if (dpt_world.rank != 0) {
        wait_for_rank0();
        return DPT_EXIT_OK;
    }
    char err[2048], desc[2048];
    describe(desc, sizeof desc, argc, argv);
    a.io.attr_value = desc;
    omp_set_num_threads(dpt_dist_pick_threads(0)); /* compression runs on these threads */
    dpt_import_summary s, s2;
    double t0 = dpt_now_s();
    if (run_import(&a, &s, &s2, err, sizeof err)) dpt_fatal("%s", err);
    print_summary(a.pos[a.npos - 1], &s, dpt_now_s() - t0);
    if (a.text.holdout_out) print_summary(a.text.holdout_out, &s2, dpt_now_s() - t0);
    if (dpt_world.size > 1) wait_for_rank0();
    return DPT_EXIT_OK;
}

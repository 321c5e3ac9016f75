/* dpt_mkdata: writes the HDF5 files dptrain trains on (X (N, F) or (N, T, F) float32, y labels
 * or values, optional sequence lengths): small synthetic problems (xor, friedman1, classify,
 * sine, seqclass), Fashion-MNIST converted from its gzip'd IDX files, and deliberately broken
 * files for the bad-input tests.  See docs/data.md. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/util.h"
#include "io/fs.h"
#include "io/import/idx.h"
#include "parallel/dist.h"
#include "tools/mkdata_seq2seq.h"

#define ERRLEN     1024
#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define PI         3.14159265358979323846

static const char usage_text[] =
    "usage: dpt_mkdata xor OUT.h5\n"
    "       dpt_mkdata friedman1 OUT.h5 [--n 1000] [--features 13] [--noise 1.0] [--seed 1]\n"
    "       dpt_mkdata classify OUT.h5 [--n 256] [--features 4] [--classes 3] [--seed 1]\n"
    "       dpt_mkdata sine OUT.h5 [--n 2000] [--steps 50] [--noise 0.3] [--seed 1] [--generate]\n"
    "                              [--variable-lengths]\n"
    "       dpt_mkdata seqclass OUT.h5 [--n 500] [--steps 12] [--features 3] [--classes 3]\n"
    "                                  [--seed 1] [--variable-lengths]\n"
    "       dpt_mkdata resample OUT.h5 [--n 400] [--steps 16] [--out-steps 6] [--noise 0.1]\n"
    "                                  [--seed 1] [--variable-lengths] [--pad 0]\n"
    "       dpt_mkdata shapes OUT.h5 [--n 600] [--size 12] [--channels 1] [--noise 0.1] "
    "[--seed 1]\n"
    "       dpt_mkdata fashion-mnist [--dir " FMNIST_DIR
    "] [--rows|--images] TRAIN.h5 TEST.h5\n" DPT_MKDATA_SEQ2SEQ_USAGE
    "       dpt_mkdata bad KIND OUT.h5      KIND: nan-x inf-x huge-x rows-mismatch x-4d x-int "
    "label-range\n"
    "                                            lengths-range y-steps; valid: x-3d (X (10, 2, "
    "2)),\n"
    "                                            float64 (X stored as float64)\n"
    "Every file holds X (N, F) or (N, T, F) float32 and y: (N) int32 class labels, (N, 1) or\n"
    "(N, T, 1) float32 values; with --variable-lengths also lengths (N) int32.\n"
    "sine --generate: one-to-many, X (N, 3) = (w, sin phi, cos phi), y (N, T, 1) the wave.\n"
    "--rows: Fashion-MNIST X as (N, 28, 28), each image row one time step.\n"
    "--images: Fashion-MNIST X as (N, 28, 28, 1) images, for convolutional networks.\n"
    "shapes: images X (N, S, S, C) of a horizontal bar (class 0), a vertical bar (1) or a\n"
    "square (2) at a random place and brightness per channel, plus noise; y (N) int32.\n"
    "resample: sequence to sequence, X (N, T, 1) a noisy sine wave, y (N, T_out, 1) the clean\n"
    "wave at T_out evenly spaced times; with --variable-lengths also y_lengths (N) int32, and\n"
    "--pad V puts V (instead of 0) in y past each y length (it must not matter).\n"
    "addition, reverse: sequence to sequence as token ids with a character vocabulary:\n"
    "source, target_in, y (and addition's answer) int32 with their *_lengths (docs/data.md).\n";

/* Command-line options; -1 / NAN / NULL mean "not given". */
typedef struct opts {
    int64_t n;
    int64_t features;
    int64_t classes;
    double noise;
    double pad; /* resample: y past each y length */
    int64_t seed;
    int64_t steps;
    int64_t out_steps;     /* resample: T_out */
    int64_t size;          /* shapes: S of the (S, S, C) images */
    int64_t channels;      /* shapes: C */
    bool rows;             /* fashion-mnist: X (N, 28, 28) */
    bool images;           /* fashion-mnist: X (N, 28, 28, 1) */
    bool variable_lengths; /* sine, seqclass: a lengths dataset, zeros after each length */
    bool generate;         /* sine: X is the wave's parameters (N, 3), one-to-many */
    const char *dir;
    int npos;
    const char *pos[4]; /* positional arguments after the subcommand */
} opts;

/* ---- errors and argument parsing ---- */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dpt_mkdata: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return DPT_EXIT_ERROR;
}

static int usage_error(const char *what) {
    fprintf(stderr, "dpt_mkdata: %s\n%s", what, usage_text);
    return DPT_EXIT_USAGE;
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr,
                "dpt_mkdata: %s: expected an integer in [%" PRId64 ", %" PRId64 "], got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_f64(const char *opt, const char *s, double lo, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo) {
        fprintf(stderr, "dpt_mkdata: %s: expected a number >= %g, got '%s'\n", opt, lo, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_option(opts *o, const char *name, const char *val) {
    if (strcmp(name, "--n") == 0) return parse_i64(name, val, 1, INT64_C(1) << 40, &o->n);
    if (strcmp(name, "--features") == 0) return parse_i64(name, val, 1, 1 << 20, &o->features);
    if (strcmp(name, "--classes") == 0) return parse_i64(name, val, 2, 1 << 20, &o->classes);
    if (strcmp(name, "--seed") == 0) return parse_i64(name, val, 0, INT64_MAX, &o->seed);
    if (strcmp(name, "--size") == 0) return parse_i64(name, val, 4, 1 << 12, &o->size);
    if (strcmp(name, "--channels") == 0) return parse_i64(name, val, 1, 64, &o->channels);
    if (strcmp(name, "--steps") == 0) return parse_i64(name, val, 1, 1 << 20, &o->steps);
    if (strcmp(name, "--out-steps") == 0) return parse_i64(name, val, 1, 1 << 20, &o->out_steps);
    if (strcmp(name, "--noise") == 0) return parse_f64(name, val, 0.0, &o->noise);
    if (strcmp(name, "--pad") == 0) return parse_f64(name, val, -1e30, &o->pad);
    if (strcmp(name, "--dir") == 0) {
        o->dir = val;
        return 0;
    }
    fprintf(stderr, "dpt_mkdata: unknown option '%s'\n", name);
    return -1;
}

/* Options that take no value; true when a is one (and is now set). */
static bool set_flag(opts *o, const char *a) {
    if (strcmp(a, "--rows") == 0) return o->rows = true;
    if (strcmp(a, "--images") == 0) return o->images = true;
    if (strcmp(a, "--variable-lengths") == 0) return o->variable_lengths = true;
    if (strcmp(a, "--generate") == 0) return o->generate = true;
    return false;
}

/* Splits argv[2..] into "--name value" / "--name=value" options, flags and positional
 * arguments. */
static int parse_args(opts *o, int argc, char **argv) {
    *o = (opts){.n = -1,
                .features = -1,
                .classes = -1,
                .noise = NAN,
                .seed = -1,
                .steps = -1,
                .out_steps = -1,
                .size = -1,
                .channels = -1};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strlen(a) == 2) {
            if (o->npos == 4) return -1;
            o->pos[o->npos++] = a;
            continue;
        }
        if (set_flag(o, a)) continue;
        const char *eq = strchr(a, '=');
        char name[64];
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            if (set_option(o, name, eq + 1)) return -1;
        } else if (i + 1 < argc) {
            if (set_option(o, a, argv[++i])) return -1;
        } else {
            fprintf(stderr, "dpt_mkdata: option %s needs a value\n", a);
            return -1;
        }
    }
    return 0;
}

/* ---- random numbers (splitmix64: data must not change when core's RNG changes) ---- */

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) {
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static double rng_normal(uint64_t *s) {
    double u1 = 1.0 - rng_uniform(s); /* (0, 1]: log is finite */
    double u2 = rng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

/* ---- HDF5 output, written atomically ---- */

typedef struct h5arr {
    const char *name;
    hid_t memtype;  /* H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE or H5T_NATIVE_INT32 */
    hid_t filetype; /* H5T_IEEE_F32LE, H5T_IEEE_F64LE or H5T_STD_I32LE */
    int ndim;
    hsize_t dim[4];
    const void *data;
} h5arr;

static int write_dataset(hid_t file, const h5arr *a) {
    hsize_t chunk[4];
    size_t row_bytes = H5Tget_size(a->filetype);
    for (int d = 1; d < a->ndim; d++) row_bytes *= a->dim[d];
    hsize_t rows = (hsize_t)(262144 / row_bytes); /* chunks of about 256 KiB */
    chunk[0] = rows < 1 ? 1 : (rows > a->dim[0] ? a->dim[0] : rows);
    for (int d = 1; d < a->ndim; d++) chunk[d] = a->dim[d];

    hid_t space = H5Screate_simple(a->ndim, a->dim, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, a->ndim, chunk);
    hid_t ds = H5Dcreate2(file, a->name, a->filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t st = ds < 0 ? -1 : H5Dwrite(ds, a->memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    return st < 0 ? -1 : 0;
}

/* A string attribute on the root group saying how the file was made. */
static int write_source_attr(hid_t file, const char *desc) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(desc) + 1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(file, "dpt_mkdata", t, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = at < 0 ? -1 : H5Awrite(at, t, desc);
    if (at >= 0) H5Aclose(at);
    H5Sclose(space);
    H5Tclose(t);
    return st < 0 ? -1 : 0;
}

static int write_tmp(const char *tmp, const h5arr *arrs, int narr, const char *desc) {
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return fail("%s: cannot create HDF5 file", tmp);
    int rc = write_source_attr(f, desc);
    for (int i = 0; i < narr && rc == 0; i++) {
        if (write_dataset(f, &arrs[i])) rc = fail("%s: cannot write dataset %s", tmp, arrs[i].name);
    }
    if (H5Fclose(f) < 0 && rc == 0) rc = fail("%s: cannot close HDF5 file", tmp);
    return rc;
}

/* Writes the arrays to path atomically (io/fs.h: temporary name, fsync, rename, directory
 * fsync), making its directory first. */
static int write_h5(const char *path, const h5arr *arrs, int narr, const char *desc) {
    char err[ERRLEN];
    dpt_atomic a;
    if (dpt_mkdirs_for(path, err, sizeof err) || dpt_atomic_begin(&a, path, err, sizeof err))
        return fail("%s", err);
    dpt_atomic_close_stream(&a); /* HDF5 writes the temporary by name */
    if (write_tmp(a.tmp, arrs, narr, desc)) {
        dpt_atomic_abort(&a);
        return -1;
    }
    if (dpt_atomic_commit(&a, err, sizeof err)) return fail("%s", err);
    return 0;
}

static h5arr f32_2d(const char *name, const float *x, int64_t n, int64_t f) {
    return (h5arr){name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, {(hsize_t)n, (hsize_t)f}, x};
}

static h5arr f32_3d(const char *name, const float *x, int64_t n, int64_t t, int64_t f) {
    return (h5arr){name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, {(hsize_t)n, (hsize_t)t, (hsize_t)f},
                   x};
}

static h5arr i32_1d(const char *name, const int32_t *v, int64_t n) {
    return (h5arr){name, H5T_NATIVE_INT32, H5T_STD_I32LE, 1, {(hsize_t)n}, v};
}

static h5arr labels_1d(const int32_t *y, int64_t n) {
    return i32_1d("y", y, n);
}

/* n * a * b values would not fit in memory (or in int64_t): refuse before multiplying. */
static bool too_many(int64_t n, int64_t a, int64_t b) {
    return (double)n * (double)a * (double)b > 0x1.0p40;
}

/* ---- synthetic data sets ---- */

static int cmd_xor(const opts *o) {
    static const float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}; /* (4, 2) */
    static const int32_t y[4] = {0, 1, 1, 0};                      /* (4) */
    if (o->npos != 1) return usage_error("xor takes one output file");
    h5arr a[2] = {f32_2d("X", &x[0][0], 4, 2), labels_1d(y, 4)};
    return write_h5(o->pos[0], a, 2, "xor");
}

/* Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, noise^2). */
static void friedman1_fill(float *x, float *y, int64_t n, int64_t F, double noise, uint64_t s) {
    for (int64_t i = 0; i < n; i++) {
        float *r = x + i * F;
        for (int64_t j = 0; j < F; j++) r[j] = (float)rng_uniform(&s);
        double v = 10.0 * sin(PI * r[0] * r[1]) + 20.0 * (r[2] - 0.5) * (r[2] - 0.5) + 10.0 * r[3] +
                   5.0 * r[4];
        y[i] = (float)(v + noise * rng_normal(&s));
    }
}

static int cmd_friedman1(const opts *o) {
    int64_t n = o->n > 0 ? o->n : 1000, F = o->features > 0 ? o->features : 13;
    double noise = isnan(o->noise) ? 1.0 : o->noise;
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    if (o->npos != 1) return usage_error("friedman1 takes one output file");
    if (F < 5) return fail("friedman1: --features must be at least 5 (got %" PRId64 ")", F);
    float *x = malloc((size_t)(n * F) * sizeof *x); /* (n, F) */
    float *y = malloc((size_t)n * sizeof *y);       /* (n, 1) */
    if (!x || !y) {
        free(x);
        free(y);
        return fail("out of memory for %" PRId64 " x %" PRId64 " values", n, F);
    }
    friedman1_fill(x, y, n, F, noise, seed);
    char desc[256];
    snprintf(desc, sizeof desc,
             "friedman1 n=%" PRId64 " features=%" PRId64 " noise=%g seed=%" PRIu64, n, F, noise,
             seed);
    h5arr a[2] = {f32_2d("X", x, n, F), f32_2d("y", y, n, 1)};
    int rc = write_h5(o->pos[0], a, 2, desc);
    free(x);
    free(y);
    return rc;
}

/* Gaussian blobs: C centres uniform in [-3, 3]^F, unit-variance samples, labels uniform. */
static void blobs_fill(float *x, int32_t *y, int64_t n, int64_t F, int64_t C, uint64_t s) {
    double *ctr = malloc((size_t)(C * F) * sizeof *ctr); /* (C, F) */
    if (!ctr) abort();
    for (int64_t k = 0; k < C * F; k++) ctr[k] = 6.0 * rng_uniform(&s) - 3.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (int64_t)(rng_next(&s) % (uint64_t)C);
        y[i] = (int32_t)c;
        for (int64_t j = 0; j < F; j++) x[i * F + j] = (float)(ctr[c * F + j] + rng_normal(&s));
    }
    free(ctr);
}

static int cmd_classify(const opts *o) {
    int64_t n = o->n > 0 ? o->n : 256, F = o->features > 0 ? o->features : 4;
    int64_t C = o->classes > 0 ? o->classes : 3;
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    if (o->npos != 1) return usage_error("classify takes one output file");
    float *x = malloc((size_t)(n * F) * sizeof *x); /* (n, F) */
    int32_t *y = malloc((size_t)n * sizeof *y);     /* (n) */
    if (!x || !y) {
        free(x);
        free(y);
        return fail("out of memory for %" PRId64 " x %" PRId64 " values", n, F);
    }
    blobs_fill(x, y, n, F, C, seed);
    char desc[256];
    snprintf(desc, sizeof desc,
             "classify n=%" PRId64 " features=%" PRId64 " classes=%" PRId64 " seed=%" PRIu64, n, F,
             C, seed);
    h5arr a[2] = {f32_2d("X", x, n, F), labels_1d(y, n)};
    int rc = write_h5(o->pos[0], a, 2, desc);
    free(x);
    free(y);
    return rc;
}

/* ---- synthetic images (N, S, S, C) ---- */

/* One image (S, S, C): background noise, then class 0 a horizontal bar 2 rows high, class 1 a
 * vertical bar 2 columns wide, class 2 a 3x3 square, each at a random place and with a random
 * brightness per channel, so that a convolution must find the shape wherever it is. */
static void shape_fill(float *img, int32_t cls, int64_t S, int64_t C, double noise, uint64_t *s) {
    for (int64_t i = 0; i < S * S * C; i++) img[i] = (float)(noise * rng_normal(s));
    int64_t r0 = (int64_t)(rng_next(s) % (uint64_t)(S - 3)),
            c0 = (int64_t)(rng_next(s) % (uint64_t)(S - 3));
    int64_t len = S / 2 + (int64_t)(rng_next(s) % (uint64_t)(S / 2 - 1));
    int64_t h = cls == 0 ? 2 : cls == 1 ? len : 3, w = cls == 0 ? len : cls == 1 ? 2 : 3;
    if (cls == 0) c0 = (int64_t)(rng_next(s) % (uint64_t)(S - w + 1));
    if (cls == 1) r0 = (int64_t)(rng_next(s) % (uint64_t)(S - h + 1));
    for (int64_t c = 0; c < C; c++) {
        float v = (float)(0.5 + 0.5 * rng_uniform(s));
        for (int64_t r = r0; r < r0 + h; r++)
            for (int64_t q = c0; q < c0 + w; q++) img[(r * S + q) * C + c] += v;
    }
}

static int cmd_shapes(const opts *o) {
    int64_t n = o->n > 0 ? o->n : 600, S = o->size > 0 ? o->size : 12;
    int64_t C = o->channels > 0 ? o->channels : 1;
    double noise = isnan(o->noise) ? 0.1 : o->noise;
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    if (o->npos != 1) return usage_error("shapes takes one output file");
    if (too_many(n, S * S, C))
        return fail("shapes: %" PRId64 " images of %" PRId64 "x%" PRId64 "x%" PRId64
                    " are too many",
                    n, S, S, C);
    float *x = malloc((size_t)(n * S * S * C) * sizeof *x); /* (n, S, S, C) */
    int32_t *y = malloc((size_t)n * sizeof *y);             /* (n) */
    if (!x || !y) {
        free(x);
        free(y);
        return fail("out of memory for %" PRId64 " images", n);
    }
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(rng_next(&s) % 3);
        shape_fill(x + i * S * S * C, y[i], S, C, noise, &s);
    }
    char desc[256];
    snprintf(desc, sizeof desc,
             "shapes n=%" PRId64 " size=%" PRId64 " channels=%" PRId64 " noise=%g seed=%" PRIu64, n,
             S, C, noise, seed);
    h5arr a[2] = {{"X",
                   H5T_NATIVE_FLOAT,
                   H5T_IEEE_F32LE,
                   4,
                   {(hsize_t)n, (hsize_t)S, (hsize_t)S, (hsize_t)C},
                   x},
                  labels_1d(y, n)};
    int rc = write_h5(o->pos[0], a, 2, desc);
    free(x);
    free(y);
    return rc;
}

/* ---- synthetic sequences (N, T, F); with lengths, every step from a row's length on is 0 ---- */

/* A length in [max(1, T/2), T]. */
static int32_t draw_length(int64_t T, uint64_t *s) {
    int64_t lo = T / 2 > 1 ? T / 2 : 1;
    return (int32_t)(lo + (int64_t)(rng_next(s) % (uint64_t)(T - lo + 1)));
}

/* Denoising: x (n, T, 1) = sin(w t + phi) + N(0, noise^2), y (n, T, 1) = the clean wave, with
 * w uniform in [0.1, 0.4] and phi in [0, 2 pi) per row; len (n) or NULL. */
static void sine_fill(float *x, float *y, int32_t *len, int64_t n, int64_t T, double noise,
                      uint64_t s) {
    for (int64_t i = 0; i < n; i++) {
        double w = 0.1 + 0.3 * rng_uniform(&s), phi = 2.0 * PI * rng_uniform(&s);
        int64_t L = len ? (len[i] = draw_length(T, &s)) : T;
        for (int64_t t = 0; t < T; t++) {
            double clean = sin(w * (double)t + phi), eps = noise * rng_normal(&s);
            y[i * T + t] = t < L ? (float)clean : 0.0f;
            x[i * T + t] = t < L ? (float)(clean + eps) : 0.0f;
        }
    }
}

/* One-to-many: the wave from its parameters.  x (n, 3) = (w, sin phi, cos phi) of the rows
 * sine_fill draws (same seed, same waves), y (n, T, 1) the clean wave. */
static int sine_generate(const opts *o, int64_t n, int64_t T, uint64_t seed) {
    float *p = malloc((size_t)(n * 3) * sizeof *p); /* (n, 3) */
    float *y = malloc((size_t)(n * T) * sizeof *y); /* (n, T, 1) */
    if (!p || !y) {
        free(p);
        free(y);
        return fail("out of memory for %" PRId64 " x %" PRId64 " values", n, T);
    }
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        double w = 0.1 + 0.3 * rng_uniform(&s), phi = 2.0 * PI * rng_uniform(&s);
        p[i * 3] = (float)w, p[i * 3 + 1] = (float)sin(phi), p[i * 3 + 2] = (float)cos(phi);
        for (int64_t t = 0; t < T; t++) y[i * T + t] = (float)sin(w * (double)t + phi);
    }
    char desc[256];
    snprintf(desc, sizeof desc, "sine --generate n=%" PRId64 " steps=%" PRId64 " seed=%" PRIu64, n,
             T, seed);
    h5arr a[2] = {f32_2d("X", p, n, 3), f32_3d("y", y, n, T, 1)};
    int rc = write_h5(o->pos[0], a, 2, desc);
    free(p);
    free(y);
    return rc;
}

static int cmd_sine(const opts *o) {
    int64_t n = o->n > 0 ? o->n : 2000, T = o->steps > 0 ? o->steps : 50;
    double noise = isnan(o->noise) ? 0.3 : o->noise;
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    if (o->npos != 1) return usage_error("sine takes one output file");
    if (too_many(n, T, 1)) return fail("sine: %" PRId64 " x %" PRId64 " values is too many", n, T);
    if (o->generate) return sine_generate(o, n, T, seed);
    float *x = malloc((size_t)(n * T) * sizeof *x);                              /* (n, T, 1) */
    float *y = malloc((size_t)(n * T) * sizeof *y);                              /* (n, T, 1) */
    int32_t *len = o->variable_lengths ? malloc((size_t)n * sizeof *len) : NULL; /* (n) */
    if (!x || !y || (o->variable_lengths && !len)) {
        free(x), free(y), free(len);
        return fail("out of memory for %" PRId64 " x %" PRId64 " values", n, T);
    }
    sine_fill(x, y, len, n, T, noise, seed);
    char desc[256];
    snprintf(desc, sizeof desc, "sine n=%" PRId64 " steps=%" PRId64 " noise=%g seed=%" PRIu64 "%s",
             n, T, noise, seed, len ? " variable-lengths" : "");
    h5arr a[3] = {f32_3d("X", x, n, T, 1), f32_3d("y", y, n, T, 1), i32_1d("lengths", len, n)};
    int rc = write_h5(o->pos[0], a, len ? 3 : 2, desc);
    free(x);
    free(y);
    free(len);
    return rc;
}

/* Sequence to sequence (T_out != T): x (n, T, 1) as sine_fill, y (n, U, 1) the clean wave at
 * times u T / U, u < U; with lengths, y's row i has the steps whose time is before len[i]
 * (ylen, at least 1), zeros after. */
typedef struct resample_data {
    int64_t n, T, U;
    float *x, *y;        /* (n, T, 1), (n, U, 1) */
    float pad;           /* y past each y length */
    int32_t *len, *ylen; /* (n) each, or NULL */
} resample_data;

static void resample_fill(resample_data *d, double noise, uint64_t s) {
    for (int64_t i = 0; i < d->n; i++) {
        double w = 0.1 + 0.3 * rng_uniform(&s), phi = 2.0 * PI * rng_uniform(&s);
        int64_t L = d->len ? (d->len[i] = draw_length(d->T, &s)) : d->T, valid = 0;
        for (int64_t t = 0; t < d->T; t++) {
            double clean = sin(w * (double)t + phi), eps = noise * rng_normal(&s);
            d->x[i * d->T + t] = t < L ? (float)(clean + eps) : 0.0f;
        }
        for (int64_t u = 0; u < d->U; u++) {
            double time = (double)u * (double)d->T / (double)d->U;
            bool in = time < (double)L;
            d->y[i * d->U + u] = in ? (float)sin(w * time + phi) : d->pad;
            valid += in;
        }
        if (d->ylen) d->ylen[i] = (int32_t)valid; /* u = 0 is always in: >= 1 */
    }
}

static int cmd_resample(const opts *o) {
    resample_data d = {o->n > 0 ? o->n : 400,
                       o->steps > 0 ? o->steps : 16,
                       o->out_steps > 0 ? o->out_steps : 6,
                       NULL,
                       NULL,
                       (float)o->pad,
                       NULL,
                       NULL};
    double noise = isnan(o->noise) ? 0.1 : o->noise;
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    if (o->npos != 1) return usage_error("resample takes one output file");
    if (too_many(d.n, d.T + d.U, 1))
        return fail("resample: %" PRId64 " x %" PRId64 " values is too many", d.n, d.T + d.U);
    bool vl = o->variable_lengths;
    d.x = malloc((size_t)(d.n * d.T) * sizeof *d.x);
    d.y = malloc((size_t)(d.n * d.U) * sizeof *d.y);
    d.len = vl ? malloc((size_t)d.n * sizeof *d.len) : NULL;
    d.ylen = vl ? malloc((size_t)d.n * sizeof *d.ylen) : NULL;
    bool allocated = d.x && d.y && (!vl || (d.len && d.ylen));
    int rc = 0;
    if (allocated) {
        resample_fill(&d, noise, seed);
        char desc[256];
        snprintf(desc, sizeof desc,
                 "resample n=%" PRId64 " steps=%" PRId64 " out-steps=%" PRId64
                 " noise=%g seed=%" PRIu64 "%s pad=%g",
                 d.n, d.T, d.U, noise, seed, vl ? " variable-lengths" : "", o->pad);
        h5arr a[4] = {f32_3d("X", d.x, d.n, d.T, 1), f32_3d("y", d.y, d.n, d.U, 1),
                      i32_1d("lengths", d.len, d.n), i32_1d("y_lengths", d.ylen, d.n)};
        rc = write_h5(o->pos[0], a, vl ? 4 : 2, desc);
    }
    free(d.x);
    free(d.y);
    free(d.len);
    free(d.ylen);
    return allocated ? rc : fail("out of memory for %" PRId64 " sequences", d.n);
}

typedef struct seqclass_shape {
    int64_t n, T, F, C;
} seqclass_shape;

/* Noise N(0, 0.3^2) on every valid step; class c adds a bump (1, 2, 1) x sign around a random
 * valid step t0 on feature c % F, sign + for c < F, - otherwise.  Where the bump is varies, so
 * the class must be remembered from t0 to the end: a dense layer on the last step cannot. */
static void seqclass_fill(float *x, int32_t *y, int32_t *len, const seqclass_shape *d, uint64_t s) {
    const int64_t T = d->T, F = d->F;
    for (int64_t i = 0; i < d->n; i++) {
        int64_t c = (int64_t)(rng_next(&s) % (uint64_t)d->C);
        int64_t L = len ? (len[i] = draw_length(T, &s)) : T;
        int64_t t0 = (int64_t)(rng_next(&s) % (uint64_t)L);
        float *r = x + i * T * F; /* (T, F) */
        y[i] = (int32_t)c;
        for (int64_t k = 0; k < T * F; k++) r[k] = k < L * F ? (float)(0.3 * rng_normal(&s)) : 0;
        float sign = c < F ? 1.0f : -1.0f;
        for (int64_t t = t0 - 1; t <= t0 + 1; t++)
            if (t >= 0 && t < L) r[t * F + c % F] += sign * (t == t0 ? 2.0f : 1.0f);
    }
}

static int cmd_seqclass(const opts *o) {
    seqclass_shape d = {o->n > 0 ? o->n : 500, o->steps > 0 ? o->steps : 12,
                        o->features > 0 ? o->features : 3, o->classes > 0 ? o->classes : 3};
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    if (o->npos != 1) return usage_error("seqclass takes one output file");
    if (d.C > 2 * d.F)
        return fail("seqclass: --classes must be at most 2 x --features (%" PRId64
                    "), got %" PRId64,
                    2 * d.F, d.C);
    if (too_many(d.n, d.T, d.F))
        return fail("seqclass: %" PRId64 " x %" PRId64 " x %" PRId64 " values is too many", d.n,
                    d.T, d.F);
    float *x = malloc((size_t)(d.n * d.T * d.F) * sizeof *x);                      /* (n, T, F) */
    int32_t *y = malloc((size_t)d.n * sizeof *y);                                  /* (n) */
    int32_t *len = o->variable_lengths ? malloc((size_t)d.n * sizeof *len) : NULL; /* (n) */
    if (!x || !y || (o->variable_lengths && !len)) {
        free(x);
        free(y);
        free(len);
        return fail("out of memory for %" PRId64 " sequences", d.n);
    }
    seqclass_fill(x, y, len, &d, seed);
    char desc[256];
    snprintf(desc, sizeof desc,
             "seqclass n=%" PRId64 " steps=%" PRId64 " features=%" PRId64 " classes=%" PRId64
             " seed=%" PRIu64 "%s",
             d.n, d.T, d.F, d.C, seed, len ? " variable-lengths" : "");
    h5arr a[3] = {f32_3d("X", x, d.n, d.T, d.F), labels_1d(y, d.n), i32_1d("lengths", len, d.n)};
    int rc = write_h5(o->pos[0], a, len ? 3 : 2, desc);
    free(x);
    free(y);
    free(len);
    return rc;
}

/* ---- deliberately broken files: 10 rows, 2 features, labels 0/1 unless the kind says else ---- */

#define BAD_N 10
#define BAD_KINDS                                                                                  \
    "nan-x inf-x huge-x rows-mismatch x-3d x-4d x-int label-range lengths-range y-steps float64"

/* The buffers a broken file is made from, filled with valid values first. */
typedef struct bad_data {
    float x[BAD_N * 10 * 2]; /* (10, 2), or up to (10, 10, 2) for the sequence kinds */
    float yf[BAD_N * 8];     /* (10, 8, 1) for y-steps */
    int32_t y[BAD_N];        /* (10) labels */
    int32_t len[BAD_N];      /* (10) sequence lengths */
    int32_t ids[BAD_N * 2];  /* (10, 2) token ids for x-int */
} bad_data;

/* Kinds of plain (N, F) files; -1 when kind is not one of them. */
static int break_plain(const char *kind, bad_data *b, h5arr *a) {
    if (strcmp(kind, "nan-x") == 0) {
        b->x[3 * 2 + 1] = NAN; /* row 3 */
    } else if (strcmp(kind, "inf-x") == 0) {
        b->x[5 * 2 + 0] = INFINITY; /* row 5 */
    } else if (strcmp(kind, "huge-x") == 0) {
        /* finite, so it passes the data checks, but with float targets and an MSE loss (and no
         * normalisation) the squared error of row 6 overflows float32: a non-finite loss */
        b->x[6 * 2 + 0] = 3e38f;
        a[1] = f32_2d("y", b->yf, BAD_N, 1);
    } else if (strcmp(kind, "rows-mismatch") == 0) {
        a[1].dim[0] = BAD_N - 1;
    } else if (strcmp(kind, "label-range") == 0) {
        b->y[4] = 7;
    } else {
        return -1;
    }
    return 0;
}

/* Kinds about the shape of X and sequences; -1 when kind is not one of them. */
static int break_shape(const char *kind, bad_data *b, h5arr *a, int *narr) {
    if (strcmp(kind, "x-3d") == 0) { /* valid since sequences are supported: (10, 2, 2) */
        a[0] = f32_3d("X", b->x, BAD_N, 2, 2);
    } else if (strcmp(kind, "x-4d") == 0) {
        a[0] = (h5arr){"X", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 4, {BAD_N, 2, 2, 2}, b->x};
    } else if (strcmp(kind, "x-int") == 0) { /* token ids 0..19, valid data, (10, 2) int32 */
        for (int i = 0; i < BAD_N * 2; i++) b->ids[i] = i;
        a[0] = (h5arr){"X", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, {BAD_N, 2}, b->ids};
    } else if (strcmp(kind, "lengths-range") == 0) {
        a[0] = f32_3d("X", b->x, BAD_N, 4, 2);
        b->len[5] = 0; /* must be in [1, 4] */
        *narr = 3;
    } else if (strcmp(kind, "y-steps") == 0) {
        a[0] = f32_3d("X", b->x, BAD_N, 10, 2);
        a[1] = f32_3d("y", b->yf, BAD_N, 8, 1);
    } else {
        return -1;
    }
    return 0;
}

static int write_bad(const char *kind, const char *out) {
    static bad_data b;
    uint64_t s = 7;
    for (int i = 0; i < BAD_N * 10 * 2; i++) b.x[i] = (float)rng_uniform(&s);
    for (int i = 0; i < BAD_N * 8; i++) b.yf[i] = (float)rng_uniform(&s);
    for (int i = 0; i < BAD_N; i++) b.y[i] = i % 2, b.len[i] = 1 + i % 4;
    h5arr a[3] = {f32_2d("X", b.x, BAD_N, 2), labels_1d(b.y, BAD_N),
                  i32_1d("lengths", b.len, BAD_N)};
    int narr = 2;
    if (break_plain(kind, &b, a) && break_shape(kind, &b, a, &narr))
        return usage_error("unknown kind for bad (" BAD_KINDS ")");
    char desc[64];
    snprintf(desc, sizeof desc, "bad %s", kind);
    return write_h5(out, a, narr, desc);
}

/* A valid classification file (blobs, 2 classes by default) whose X is stored as float64. */
static int write_float64(const opts *o, const char *out) {
    int64_t n = o->n > 0 ? o->n : 64, F = o->features > 0 ? o->features : 2;
    int64_t C = o->classes > 0 ? o->classes : 2;
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : 1;
    float *x = malloc((size_t)(n * F) * sizeof *x);    /* (n, F) */
    double *xd = malloc((size_t)(n * F) * sizeof *xd); /* (n, F) */
    int32_t *y = malloc((size_t)n * sizeof *y);        /* (n) */
    if (!x || !xd || !y) {
        free(x);
        free(xd);
        free(y);
        return fail("out of memory for %" PRId64 " x %" PRId64 " values", n, F);
    }
    blobs_fill(x, y, n, F, C, seed);
    for (int64_t i = 0; i < n * F; i++) xd[i] = x[i];
    h5arr a[2] = {{"X", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, {(hsize_t)n, (hsize_t)F}, xd},
                  labels_1d(y, n)};
    int rc = write_h5(out, a, 2, "bad float64 (valid, X float64)");
    free(x);
    free(xd);
    free(y);
    return rc;
}

static int cmd_bad(const opts *o) {
    if (o->npos != 2) return usage_error("bad takes a kind and one output file");
    if (strcmp(o->pos[0], "float64") == 0) return write_float64(o, o->pos[1]);
    return write_bad(o->pos[0], o->pos[1]);
}

/* ---- Fashion-MNIST from its IDX files, through the importer's IDX reader (io/import/idx.h) ----
 */

/* dir/stem.gz, or dir/stem when only an uncompressed copy exists. */
static void idx_path(char *path, size_t len, const char *dir, const char *stem) {
    snprintf(path, len, "%s/%s.gz", dir, stem);
    char plain[DPT_PATH_MAX];
    snprintf(plain, sizeof plain, "%s/%s", dir, stem);
    if (access(path, R_OK) != 0 && access(plain, R_OK) == 0) snprintf(path, len, "%s", plain);
}

/* The Fashion-MNIST specifics the generic reader does not know: magic 2049 for labels and 2051
 * for images, 28 x 28 images. */
static int fmnist_check(const char *lpath, const char *ipath) {
    char err[ERRLEN];
    dpt_idx lf, imf;
    int rc = dpt_idx_open(&lf, lpath, 2049, err, sizeof err);
    dpt_idx_close(&lf);
    if (!rc && !(rc = dpt_idx_open(&imf, ipath, 2051, err, sizeof err))) {
        if (imf.dims[1] != 28 || imf.dims[2] != 28)
            rc = dpt_err(err, sizeof err,
                         "%s: images are %" PRId64 " x %" PRId64 ", expected 28 x 28", ipath,
                         imf.dims[1], imf.dims[2]);
        dpt_idx_close(&imf);
    }
    if (!rc) return 0;
    if (strstr(err, "cannot open"))
        return fail("%s (Debian: apt-get install dataset-fashion-mnist, or pass --dir)", err);
    return fail("%s", err);
}

/* rows: X (n, 28, 28), one image row per time step; images: (n, 28, 28, 1); else (n, 784).
 * Pixels / 255, labels 0-9. */
static int fmnist_convert(const char *dir, const char *stem, const char *out, bool rows,
                          bool images) {
    char lpath[DPT_PATH_MAX + 64], ipath[DPT_PATH_MAX + 64], name[128], err[ERRLEN];
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", stem);
    idx_path(lpath, sizeof lpath, dir, name);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", stem);
    idx_path(ipath, sizeof ipath, dir, name);
    if (fmnist_check(lpath, ipath)) return DPT_EXIT_ERROR;
    char desc[DPT_PATH_MAX + 64];
    snprintf(desc, sizeof desc, "fashion-mnist %s/%s%s", dir, stem,
             rows     ? " rows"
             : images ? " images"
                      : "");
    dpt_import_opts io = {
        .force = true, .attr_name = "dpt_mkdata", .attr_value = desc, .label_max = 9};
    dpt_idx_opts xo = {.seq = rows, .image = images, .scale = 1.0 / 255.0};
    dpt_import_summary sum;
    if (dpt_import_idx(ipath, lpath, out, &xo, &io, &sum, err, sizeof err)) return fail("%s", err);
    printf("%s: %" PRId64 " images\n", out, sum.ds[0].dims[0]);
    return 0;
}

static int cmd_fashion_mnist(const opts *o) {
    const char *dir = o->dir ? o->dir : FMNIST_DIR;
    if (o->npos != 2) return usage_error("fashion-mnist takes two output files: TRAIN.h5 TEST.h5");
    if (o->rows && o->images)
        return usage_error("fashion-mnist takes --rows or --images, not both");
    int rc = fmnist_convert(dir, "train", o->pos[0], o->rows, o->images);
    return rc ? rc : fmnist_convert(dir, "t10k", o->pos[1], o->rows, o->images);
}

/* ---- main ---- */

static int run(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(const opts *);
    } cmds[] = {
        {"xor", cmd_xor},   {"friedman1", cmd_friedman1}, {"classify", cmd_classify},
        {"sine", cmd_sine}, {"seqclass", cmd_seqclass},   {"fashion-mnist", cmd_fashion_mnist},
        {"bad", cmd_bad},   {"resample", cmd_resample},   {"shapes", cmd_shapes}};
    if (argc < 2) return usage_error("missing subcommand");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, stdout);
        return DPT_EXIT_OK;
    }
    if (dpt_mkdata_is_seq2seq(argv[1])) return dpt_mkdata_seq2seq(argc, argv);
    opts o;
    if (parse_args(&o, argc, argv)) return usage_error("bad arguments");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(&o);
    return usage_error("unknown subcommand");
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages name the file and dataset */
    int rc = run(argc, argv);
    dpt_dist_finalize();
    return rc;
}

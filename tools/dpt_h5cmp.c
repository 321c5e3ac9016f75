/* dpt_h5cmp: compares the float datasets under one group of two HDF5 files (by default the
 * /params of two dptrain models) and reports the largest relative difference.  Used by the
 * distributed-equivalence tests.  Exit 0: within rtol; 1: different; 2: error. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

enum { CMP_SAME = 0, CMP_DIFFERENT = 1, CMP_ERROR = 2 };

static const char usage_text[] =
    "usage: dpt_h5cmp A.h5 B.h5 [--rtol 1e-5] [--atol 1e-7] [--group /params]\n"
    "Compares every float dataset under the group in both files (same names, same shapes).\n"
    "Relative difference: |a - b| / max(|a|, |b|, atol).\n"
    "Exit status: 0 when the largest is <= rtol, 1 when not (or the files differ in names or\n"
    "shapes), 2 on error.\n";

typedef struct names {
    int n, cap;
    char **v; /* (n) dataset paths relative to the group, sorted by H5Lvisit */
} names;

typedef struct worst {
    double rel;  /* largest relative difference so far */
    double a, b; /* the values there */
    char where[512];
} worst;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dpt_h5cmp: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CMP_ERROR;
}

/* ---- listing the float datasets of a group ---- */

static void names_add(names *s, const char *name) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    size_t len = strlen(name) + 1;
    s->v[s->n] = malloc(len);
    if (!s->v[s->n]) abort();
    memcpy(s->v[s->n++], name, len);
}

static void names_free(names *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    *s = (names){0};
}

static herr_t visit_cb(hid_t grp, const char *name, const H5L_info_t *info, void *data) {
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(grp, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    if (H5Iget_type(obj) == H5I_DATASET) {
        hid_t t = H5Dget_type(obj);
        if (H5Tget_class(t) == H5T_FLOAT) names_add(data, name);
        H5Tclose(t);
    }
    H5Oclose(obj);
    return 0;
}

static int list_floats(hid_t file, const char *path, const char *group, names *out) {
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) return fail("%s: no group %s", path, group);
    herr_t st = H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, visit_cb, out);
    H5Gclose(g);
    if (st < 0) return fail("%s: cannot list group %s", path, group);
    return 0;
}

/* Same sorted name lists?  Reports the first name found in only one file. */
static int same_names(const names *a, const names *b, const char *pa, const char *pb) {
    int i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i], b->v[j]);
        if (c == 0) {
            i++, j++;
            continue;
        }
        const char *only = c < 0 ? a->v[i] : b->v[j];
        printf("dpt_h5cmp: float dataset %s is in %s but not in %s\n", only, c < 0 ? pa : pb,
               c < 0 ? pb : pa);
        return 0;
    }
    return 1;
}

/* ---- comparing one dataset ---- */

typedef struct darray {
    int ndim;
    hsize_t dim[H5S_MAX_RANK];
    hsize_t count;
    double *v; /* (count) */
} darray;

static int read_doubles(hid_t file, const char *fname, const char *dname, darray *d) {
    hid_t ds = H5Dopen2(file, dname, H5P_DEFAULT);
    if (ds < 0) return fail("%s: cannot open dataset %s", fname, dname);
    hid_t sp = H5Dget_space(ds);
    d->ndim = H5Sget_simple_extent_dims(sp, d->dim, NULL);
    d->count = 1;
    for (int k = 0; k < d->ndim; k++) d->count *= d->dim[k];
    d->v = malloc((d->count ? d->count : 1) * sizeof *d->v);
    herr_t st = d->v ? H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->v) : -1;
    H5Sclose(sp);
    H5Dclose(ds);
    if (d->ndim < 0 || st < 0) return fail("%s: cannot read dataset %s as numbers", fname, dname);
    return 0;
}

static double rel_diff(double a, double b, double atol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0.0 : INFINITY;
    if (a == b) return 0.0; /* also equal infinities */
    double den = fmax(fmax(fabs(a), fabs(b)), atol);
    return fabs(a - b) / den;
}

static void format_index(char *buf, size_t len, const darray *d, hsize_t flat) {
    hsize_t idx[H5S_MAX_RANK];
    for (int k = d->ndim - 1; k >= 0; k--) {
        idx[k] = flat % d->dim[k];
        flat /= d->dim[k];
    }
    size_t p = (size_t)snprintf(buf, len, "[");
    for (int k = 0; k < d->ndim && p < len; k++)
        p += (size_t)snprintf(buf + p, len - p, "%s%llu", k ? "," : "", (unsigned long long)idx[k]);
    if (p < len) snprintf(buf + p, len - p, "]");
}

static int shapes_equal(const darray *a, const darray *b) {
    if (a->ndim != b->ndim) return 0;
    for (int k = 0; k < a->ndim; k++)
        if (a->dim[k] != b->dim[k]) return 0;
    return 1;
}

/* Compares dataset <group>/<name>; updates w.  Returns CMP_SAME/CMP_DIFFERENT/CMP_ERROR. */
static int compare_one(hid_t fa, hid_t fb, const char *pa, const char *pb, const char *dname,
                       double atol, worst *w) {
    darray a = {0}, b = {0};
    int rc = read_doubles(fa, pa, dname, &a);
    if (rc == CMP_SAME) rc = read_doubles(fb, pb, dname, &b);
    if (rc == CMP_SAME && !shapes_equal(&a, &b)) {
        printf("dpt_h5cmp: %s: shapes differ (%d-D, %llu values in %s; %d-D, %llu values in %s)\n",
               dname, a.ndim, (unsigned long long)a.count, pa, b.ndim, (unsigned long long)b.count,
               pb);
        rc = CMP_DIFFERENT;
    }
    double best = 0.0, maxabs = 0.0;
    hsize_t at = 0;
    for (hsize_t i = 0; rc == CMP_SAME && i < a.count; i++) {
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): fail() returns -1 */
        double r = rel_diff(a.v[i], b.v[i], atol);
        if (r > best) best = r, at = i;
        if (fabs(a.v[i] - b.v[i]) > maxabs) maxabs = fabs(a.v[i] - b.v[i]);
    }
    if (rc == CMP_SAME && a.count > 0) {
        char idx[256];
        format_index(idx, sizeof idx, &a, at);
        printf("  %-24s %8llu values  max abs diff %.3e  max rel diff %.3e at %s (a=%.9g)\n", dname,
               (unsigned long long)a.count, maxabs, best, idx, a.v[at]);
        if (best > w->rel || w->where[0] == '\0') {
            *w = (worst){.rel = best, .a = a.v[at], .b = b.v[at]};
            snprintf(w->where, sizeof w->where, "%s%s", dname, idx);
        }
    }
    free(a.v);
    free(b.v);
    return rc;
}

/* ---- main ---- */

typedef struct args {
    const char *a, *b, *group;
    double rtol, atol;
} args;

static int parse_num(const char *opt, const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= 0) || !isfinite(v)) {
        fprintf(stderr, "dpt_h5cmp: %s: expected a number >= 0, got '%s'\n%s", opt, s, usage_text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(args *p, int argc, char **argv) {
    *p = (args){.group = "/params", .rtol = 1e-5, .atol = 1e-7};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(s, "--rtol") == 0 && has_val) {
            if (parse_num(s, argv[++i], &p->rtol)) return -1;
        } else if (strcmp(s, "--atol") == 0 && has_val) {
            if (parse_num(s, argv[++i], &p->atol)) return -1;
        } else if (strcmp(s, "--group") == 0 && has_val) {
            p->group = argv[++i];
        } else if (s[0] != '-' && npos < 2) {
            *(npos++ ? &p->b : &p->a) = s;
        } else {
            fprintf(stderr, "dpt_h5cmp: unexpected argument '%s'\n%s", s, usage_text);
            return -1;
        }
    }
    if (npos != 2) {
        fprintf(stderr, "dpt_h5cmp: expected two files\n%s", usage_text);
        return -1;
    }
    return 0;
}

static int compare_files(hid_t fa, hid_t fb, const args *p) {
    names na = {0}, nb = {0};
    int rc = list_floats(fa, p->a, p->group, &na);
    if (rc == CMP_SAME) rc = list_floats(fb, p->b, p->group, &nb);
    if (rc == CMP_SAME && na.n == 0 && nb.n == 0)
        rc = fail("no float datasets under %s in %s or %s", p->group, p->a, p->b);
    if (rc == CMP_SAME && !same_names(&na, &nb, p->a, p->b)) rc = CMP_DIFFERENT;
    worst w = {.rel = 0.0};
    hid_t ga = rc == CMP_SAME ? H5Gopen2(fa, p->group, H5P_DEFAULT) : -1;
    hid_t gb = rc == CMP_SAME ? H5Gopen2(fb, p->group, H5P_DEFAULT) : -1;
    for (int i = 0; rc == CMP_SAME && i < na.n; i++)
        rc = compare_one(ga, gb, p->a, p->b, na.v[i], p->atol, &w);
    if (ga >= 0) H5Gclose(ga);
    if (gb >= 0) H5Gclose(gb);
    if (rc == CMP_SAME) {
        int ok = w.rel <= p->rtol;
        printf("dpt_h5cmp: %d datasets under %s; max rel diff %.3e at %s (a=%.9g, b=%.9g); "
               "rtol %g: %s\n",
               na.n, p->group, w.rel, w.where, w.a, w.b, p->rtol, ok ? "same" : "DIFFERENT");
        rc = ok ? CMP_SAME : CMP_DIFFERENT;
    }
    names_free(&na);
    names_free(&nb);
    return rc;
}

int main(int argc, char **argv) {
    args p;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (parse_args(&p, argc, argv)) return CMP_ERROR;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages name the file and dataset */
    hid_t fa = H5Fopen(p.a, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fa < 0) return fail("%s: cannot open as an HDF5 file", p.a);
    hid_t fb = H5Fopen(p.b, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fb < 0) {
        H5Fclose(fa);
        return fail("%s: cannot open as an HDF5 file", p.b);
    }
    int rc = compare_files(fa, fb, &p);
    H5Fclose(fa);
    H5Fclose(fb);
    return rc;
}

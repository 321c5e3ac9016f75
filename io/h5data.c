/* Reading training and inference data from HDF5 through MPI-IO: every rank inspects the file,
 * then reads only its own block of rows with one collective hyperslab read per dataset.  HDF5's
 * own error stack is silenced; every problem becomes one message naming file and dataset. */
#include "io/h5data.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "parallel/sampler.h"

/* An open dataset and what inspection learnt about it. */
typedef struct dset {
    hid_t id; /* -1 when not open */
    int ndim;
    hsize_t dims[H5S_MAX_RANK]; /* (ndim) */
    H5T_class_t cls;
    size_t tsize;   /* bytes per element in the file */
    char type[32];  /* e.g. "float64", "int32", for messages */
    char shape[96]; /* e.g. "3-D (10, 4, 2)", for messages */
} dset;

static void silence_hdf5(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int dpt_h5_check_file(const char *path, char *err, size_t errlen) {
    silence_hdf5();
    int fd = open(path, O_RDONLY);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    if (isdir) return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(EISDIR));
    if (H5Fis_hdf5(path) <= 0) return dpt_err(err, errlen, "%s: not an HDF5 file", path);
    return 0;
}

/* Comma-separated dataset names of the file, for "no such dataset" messages. */
typedef struct listing {
    char text[512];
    size_t used;
} listing;

static herr_t list_one(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    listing *l = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    int is_dataset = H5Iget_type(obj) == H5I_DATASET;
    H5Oclose(obj);
    if (!is_dataset) return 0;
    size_t room = sizeof l->text - l->used;
    int n = snprintf(l->text + l->used, room, "%s%s", l->used ? ", " : "", name);
    if (n < 0 || (size_t)n >= room) {
        strcpy(l->text + sizeof l->text - 5, " ...");
        return 1; /* stop: the list is long enough to be useful */
    }
    l->used += (size_t)n;
    return 0;
}

static void list_datasets(hid_t file, listing *l) {
    l->used = 0;
    strcpy(l->text, "none");
    H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, list_one, l);
}

static void describe_type(hid_t type, char *buf, size_t len) {
    size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(buf, len, "%s%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", bits);
        break;
    case H5T_FLOAT:
        snprintf(buf, len, "float%zu", bits);
        break;
    case H5T_STRING:
        snprintf(buf, len, "strings");
        break;
    case H5T_COMPOUND:
        snprintf(buf, len, "compound records");
        break;
    case H5T_ENUM:
        snprintf(buf, len, "enum values");
        break;
    default:
        snprintf(buf, len, "HDF5 type class %d", (int)H5Tget_class(type));
        break;
    }
}

static void describe_shape(dset *d) {
    int n = snprintf(d->shape, sizeof d->shape, "%d-D (", d->ndim);
    for (int i = 0; i < d->ndim && n > 0 && (size_t)n < sizeof d->shape; i++)
        n += snprintf(d->shape + n, sizeof d->shape - (size_t)n, "%s%llu", i ? ", " : "",
                      (unsigned long long)d->dims[i]);
    if (n > 0 && (size_t)n < sizeof d->shape)
        snprintf(d->shape + n, sizeof d->shape - (size_t)n, d->ndim ? ")" : "scalar)");
}

static void close_dset(dset *d) {
    if (d->id >= 0) H5Dclose(d->id);
    d->id = -1;
}

/* Opens dataset `name` (configured by `key`) and records its shape and type. */
static int open_dset(dset *d, hid_t file, const char *path, const char *name, const char *key,
                     char *err, size_t errlen) {
    hid_t obj = H5Lexists(file, name, H5P_DEFAULT) > 0 ? H5Oopen(file, name, H5P_DEFAULT) : -1;
    if (obj >= 0 && H5Iget_type(obj) != H5I_DATASET) {
        H5Oclose(obj);
        obj = -1;
    }
    if (obj < 0) {
        listing l;
        list_datasets(file, &l);
        return dpt_err(err, errlen, "%s: no dataset '%s' (%s); datasets in the file: %s", path,
                       name, key, l.text);
    }
    d->id = obj;
    hid_t space = H5Dget_space(obj), type = H5Dget_type(obj);
    d->ndim = H5Sget_simple_extent_dims(space, d->dims, NULL);
    d->cls = H5Tget_class(type);
    d->tsize = H5Tget_size(type);
    describe_type(type, d->type, sizeof d->type);
    describe_shape(d);
    H5Tclose(type);
    H5Sclose(space);
    return 0;
}

static int is_float(const dset *d) {
    return d->cls == H5T_FLOAT && (d->tsize == 4 || d->tsize == 8);
}

static int check_x(const dset *d, const char *path, const char *name, dpt_h5info *info, char *err,
                   size_t errlen) {
    if (d->ndim != 2)
        return dpt_err(err, errlen, "%s: dataset '%s': expected a 2-D dataset (N, F), found %s",
                       path, name, d->shape);
    if (!is_float(d))
        return dpt_err(err, errlen,
                       "%s: dataset '%s': expected float32 or float64 values, found %s", path, name,
                       d->type);
    if (d->dims[1] < 1 || d->dims[1] > INT_MAX)
        return dpt_err(err, errlen,
                       "%s: dataset '%s': expected 1 to %d feature columns, found %llu", path, name,
                       INT_MAX, (unsigned long long)d->dims[1]);
    info->n = (int64_t)d->dims[0];
    info->F = (int)d->dims[1];
    return 0;
}

static int check_y(const dset *d, const char *path, const char *xname, const char *name,
                   dpt_h5info *info, char *err, size_t errlen) {
    info->has_y = true;
    info->labels = d->ndim == 1 && d->cls == H5T_INTEGER;
    if (info->labels || (d->ndim == 1 && is_float(d)))
        info->K = 1;
    else if (d->ndim == 2 && is_float(d) && d->dims[1] >= 1 && d->dims[1] <= INT_MAX)
        info->K = (int)d->dims[1];
    else
        return dpt_err(err, errlen,
                       "%s: dataset '%s': expected (N) integer labels or (N, K) float targets, "
                       "found %s %s",
                       path, name, d->shape, d->type);
    if ((int64_t)d->dims[0] != info->n)
        return dpt_err(err, errlen, "%s: %s has %" PRId64 " rows but %s has %llu", path, xname,
                       info->n, name, (unsigned long long)d->dims[0]);
    return 0;
}

/* Opens and validates X (and y): both stay open for reading; the caller closes them. */
static int inspect_open(dpt_h5info *info, dset *x, dset *y, hid_t file, const char *path,
                        const char *xname, const char *yname, char *err, size_t errlen) {
    memset(info, 0, sizeof *info);
    if (open_dset(x, file, path, xname, "data.x", err, errlen) ||
        check_x(x, path, xname, info, err, errlen))
        return -1;
    if (!yname) return 0;
    if (open_dset(y, file, path, yname, "data.y", err, errlen) ||
        check_y(y, path, xname, yname, info, err, errlen))
        return -1;
    return 0;
}

static hid_t open_mpio(const char *path, MPI_Comm comm, char *err, size_t errlen) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (file < 0) dpt_err(err, errlen, "%s: cannot open as HDF5 (damaged or truncated?)", path);
    return file;
}

int dpt_h5_inspect(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                   MPI_Comm comm, char *err, size_t errlen) {
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = open_mpio(path, comm, err, errlen);
    if (file < 0) return -1;
    dset x = {.id = -1}, y = {.id = -1};
    int rc = inspect_open(info, &x, &y, file, path, xname, yname, err, errlen);
    close_dset(&x);
    close_dset(&y);
    H5Fclose(file);
    return rc;
}

/* Collective: rows [row0, row0 + nrows) of d into buf as memtype.  A rank with no rows still
 * takes part, with empty selections. */
static int read_rows(const dset *d, hid_t memtype, int64_t row0, int64_t nrows, void *buf) {
    hsize_t start[2] = {(hsize_t)row0, 0};
    hsize_t count[2] = {(hsize_t)nrows, d->ndim == 2 ? d->dims[1] : 1};
    hid_t fspace = H5Dget_space(d->id), mspace;
    int64_t dummy; /* HDF5 wants a buffer even for an empty selection */
    if (nrows > 0) {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        mspace = H5Screate_simple(d->ndim, count, NULL);
    } else {
        H5Sselect_none(fspace);
        mspace = H5Scopy(fspace);
        buf = &dummy;
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    herr_t status = H5Dread(d->id, memtype, mspace, fspace, dxpl, buf);
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return status < 0 ? -1 : 0;
}

/* float64 values beyond the float32 range arrive here as Inf too, hence the hint. */
static const char *nonfinite_name(float a) {
    if (isnan(a)) return "NaN";
    return a > 0 ? "Inf (or beyond the float32 range)" : "-Inf (or beyond the float32 range)";
}

static int check_finite(const float *v, int64_t rows, int cols, int64_t row0, const char *path,
                        const char *name, char *err, size_t errlen) {
    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            if (!isfinite(v[i * cols + j]))
                return dpt_err(err, errlen, "%s: %s row %" PRId64 ", column %d: %s", path, name,
                               row0 + i, j, nonfinite_name(v[i * cols + j]));
    return 0;
}

/* Narrows labels read as int64 (any integer type in the file converts exactly) to int32,
 * checking the range [0, nclasses) (or [0, 2^31) when nclasses is 0). */
static int narrow_labels(int32_t *out, const int64_t *raw, int64_t rows, int64_t row0, int nclasses,
                         const char *path, const char *name, char *err, size_t errlen) {
    int64_t hi = nclasses > 0 ? nclasses : (int64_t)INT32_MAX + 1;
    for (int64_t i = 0; i < rows; i++) {
        if (raw[i] < 0 || raw[i] >= hi)
            return dpt_err(err, errlen,
                           "%s: %s row %" PRId64 ": label %" PRId64 " out of range [0, %" PRId64
                           ")",
                           path, name, row0 + i, raw[i], hi);
        out[i] = (int32_t)raw[i];
    }
    return 0;
}

typedef struct shard_req {
    const char *path, *xname, *yname;
    int nclasses;
    char *err;
    size_t errlen;
} shard_req;

/* Every collective read happens whatever failed before, so no rank is left waiting. */
static int read_data(dpt_shard *s, const dset *x, const dset *y, const shard_req *q) {
    int64_t n = s->nrows, F = s->info.F, K = s->info.K;
    s->x = dpt_alloc_floats((size_t)(n * F));
    int bad = read_rows(x, H5T_NATIVE_FLOAT, s->row0, n, s->x);
    int64_t *raw = NULL; /* (nrows) labels as read */
    if (s->info.has_y && s->info.labels) {
        raw = dpt_calloc((size_t)n, sizeof *raw);
        s->labels = dpt_calloc((size_t)n, sizeof *s->labels);
        bad |= read_rows(y, H5T_NATIVE_INT64, s->row0, n, raw);
    } else if (s->info.has_y) {
        s->y = dpt_alloc_floats((size_t)(n * K));
        bad |= read_rows(y, H5T_NATIVE_FLOAT, s->row0, n, s->y);
    }
    int rc = 0;
    if (bad)
        rc = dpt_err(q->err, q->errlen, "%s: reading rows [%" PRId64 ", %" PRId64 ") failed",
                     q->path, s->row0, s->row0 + n);
    else if (raw)
        rc = narrow_labels(s->labels, raw, n, s->row0, q->nclasses, q->path, q->yname, q->err,
                           q->errlen);
    free(raw);
    return rc;
}

static int check_values(const dpt_shard *s, const shard_req *q) {
    if (check_finite(s->x, s->nrows, s->info.F, s->row0, q->path, q->xname, q->err, q->errlen))
        return -1;
    if (s->y)
        return check_finite(s->y, s->nrows, s->info.K, s->row0, q->path, q->yname, q->err,
                            q->errlen);
    return 0;
}

int dpt_h5_read_shard(dpt_shard *s, const char *path, const char *xname, const char *yname,
                      int64_t lo, int64_t hi, int nclasses, MPI_Comm comm, char *err,
                      size_t errlen) {
    shard_req q = {path, xname, yname, nclasses, err, errlen};
    memset(s, 0, sizeof *s);
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = open_mpio(path, comm, err, errlen);
    if (file < 0) return -1;
    dset x = {.id = -1}, y = {.id = -1};
    int rc = inspect_open(&s->info, &x, &y, file, path, xname, yname, err, errlen);
    if (rc == 0 && (lo < 0 || lo > hi || hi > s->info.n))
        rc = dpt_err(err, errlen,
                     "%s: rows [%" PRId64 ", %" PRId64 ") requested, the file has %" PRId64, path,
                     lo, hi, s->info.n);
    if (rc == 0) {
        int P, r;
        MPI_Comm_size(comm, &P);
        MPI_Comm_rank(comm, &r);
        s->row0 = lo + dpt_split_lo(hi - lo, P, r);
        s->nrows = lo + dpt_split_lo(hi - lo, P, r + 1) - s->row0;
        rc = read_data(s, &x, &y, &q);
    }
    close_dset(&x);
    close_dset(&y);
    H5Fclose(file);
    if (rc == 0) rc = check_values(s, &q);
    if (rc) dpt_shard_free(s);
    return rc;
}

void dpt_shard_free(dpt_shard *s) {
    free(s->x);
    free(s->y);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

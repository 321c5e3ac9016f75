/* HDF5 datasets as the data reader sees them (io/h5dset.h): opening one with a description of
 * its shape and type for messages, reading rows of it, checking float values. */
#include "io/h5dset.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

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

static void describe_shape(dpt_h5dset *d) {
    int n = snprintf(d->shape, sizeof d->shape, "%d-D (", d->ndim);
    for (int i = 0; i < d->ndim && n > 0 && (size_t)n < sizeof d->shape; i++)
        n += snprintf(d->shape + n, sizeof d->shape - (size_t)n, "%s%llu", i ? ", " : "",
                      (unsigned long long)d->dims[i]);
    if (n > 0 && (size_t)n < sizeof d->shape)
        snprintf(d->shape + n, sizeof d->shape - (size_t)n, d->ndim ? ")" : "scalar)");
}

void dpt_h5dset_close(dpt_h5dset *d) {
    if (d->id >= 0) H5Dclose(d->id);
    d->id = -1;
}

/* The object `name` of file opened when it is a dataset, else -1. */
hid_t dpt_h5_open_if_dataset(hid_t file, const char *name) {
    hid_t obj = H5Lexists(file, name, H5P_DEFAULT) > 0 ? H5Oopen(file, name, H5P_DEFAULT) : -1;
    if (obj >= 0 && H5Iget_type(obj) != H5I_DATASET) {
        H5Oclose(obj);
        obj = -1;
    }
    return obj;
}

/* Opens dataset `name` (configured by `key`) and records its shape and type. */
int dpt_h5dset_open(dpt_h5dset *d, hid_t file, const char *path, const char *name, const char *key,
                    char *err, size_t errlen) {
    hid_t obj = dpt_h5_open_if_dataset(file, name);
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
    d->unsig = d->cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE;
    describe_type(type, d->type, sizeof d->type);
    describe_shape(d);
    H5Tclose(type);
    H5Sclose(space);
    return 0;
}

bool dpt_h5dset_is_float(const dpt_h5dset *d) {
    return d->cls == H5T_FLOAT && (d->tsize == 4 || d->tsize == 8);
}

bool dpt_h5dset_is_int(const dpt_h5dset *d) {
    return d->cls == H5T_INTEGER;
}

/* 8-bit unsigned X holds pixels (docs/data.md): other integer X holds token ids. */
bool dpt_h5dset_is_u8(const dpt_h5dset *d) {
    return dpt_h5dset_is_int(d) && d->tsize == 1 && d->unsig;
}

/* Rows of one chunk of a chunked dataset, else 0. */
int64_t dpt_h5dset_chunk_rows(hid_t dataset) {
    hid_t dcpl = H5Dget_create_plist(dataset);
    hsize_t dims[H5S_MAX_RANK];
    int64_t rows = 0;
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
        H5Pget_chunk(dcpl, H5S_MAX_RANK, dims) > 0)
        rows = (int64_t)dims[0];
    if (dcpl >= 0) H5Pclose(dcpl);
    return rows;
}
/* Rows [row0, row0 + nrows) of d (all of each row's other dimensions) into buf as memtype.
 * Collective through MPI-IO when `collective`: a rank with no rows still takes part, with empty
 * selections. */
int dpt_h5dset_read_rows(const dpt_h5dset *d, hid_t memtype, int64_t row0, int64_t nrows, void *buf,
                         bool collective) {
    hsize_t start[H5S_MAX_RANK] = {(hsize_t)row0}, count[H5S_MAX_RANK] = {(hsize_t)nrows};
    for (int i = 1; i < d->ndim; i++) count[i] = d->dims[i];
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
    if (collective) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    herr_t status = H5Dread(d->id, memtype, mspace, fspace, dxpl, buf);
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return status < 0 ? -1 : 0;
}
/* float64 values beyond the float32 range arrive here as Inf too, hence the hint. */
const char *dpt_h5_nonfinite_name(float a) {
    if (isnan(a)) return "NaN";
    return a > 0 ? "Inf (or beyond the float32 range)" : "-Inf (or beyond the float32 range)";
}
/* Whether n floats are all finite: an exponent of all ones is Inf or NaN.  A branch-free
 * reduction the compiler vectorises; the slow search below runs only when it fails. */
bool dpt_h5_all_finite(const float *v, int64_t n) {
    uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v + i, sizeof u); /* the float's bits */
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad == 0;
}

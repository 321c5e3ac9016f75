/* Several named model inputs in one data file (docs/data.md "Several inputs"): each dataset read
 * into its columns of the packed rows the model takes, lengths narrowed into (rows, ninputs),
 * values checked input by input (io/h5inputs.h). */
#include "io/h5inputs.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/util.h"

/* Input k's steps along its first axis: what a row without a lengths dataset is valid for. */
static int input_steps(const dpt_h5in_layout *in, int k) {
    const dpt_shape *sh = &in->shapes[k];
    return sh->rank >= 2 || sh->dtype == DPT_I32 ? sh->dim[0] : 1;
}

static size_t input_offset(const dpt_h5in_layout *in, int k) {
    size_t off = 0;
    for (int j = 0; j < k; j++) off += dpt_shape_size(&in->shapes[j]);
    return off;
}

/* Rows [row0, row0 + nrows) of input k into columns [off, off + size) of buf (nrows, width). */
static int read_input_rows(const dpt_h5dset *d, const dpt_h5in_layout *in, int k, int64_t row0,
                           int64_t nrows, void *buf, bool collective) {
    size_t width = in->width, off = input_offset(in, k);
    size_t size = dpt_shape_size(&in->shapes[k]);
    hsize_t start[H5S_MAX_RANK] = {(hsize_t)row0}, count[H5S_MAX_RANK] = {(hsize_t)nrows};
    for (int i = 1; i < d->ndim; i++) count[i] = d->dims[i];
    hsize_t mdims[2] = {(hsize_t)(nrows > 0 ? nrows : 1), width};
    hsize_t mstart[2] = {0, off}, mcount[2] = {(hsize_t)nrows, size};
    hid_t fspace = H5Dget_space(d->id), mspace = H5Screate_simple(2, mdims, NULL);
    int64_t dummy[2];
    if (nrows > 0) {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, mcount, NULL);
    } else {
        H5Sselect_none(fspace);
        H5Sselect_none(mspace);
        buf = dummy;
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (collective) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    hid_t memtype = in->shapes[k].dtype == DPT_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
    herr_t status = H5Dread(d->id, memtype, mspace, fspace, dxpl, buf);
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return status < 0 ? -1 : 0;
}

/* Every input's rows, and its lengths (read into raw, (nin, nrows) int64). */
int dpt_h5in_read(const dpt_h5dset *xin, const dpt_h5dset *lin, const dpt_h5in_layout *in,
                  int64_t row0, int64_t n, float *x, int64_t *raw, bool collective) {
    int bad = 0;
    for (int k = 0; k < in->n; k++) {
        bad |= read_input_rows(&xin[k], in, k, row0, n, x, collective);
        if (in->has_lengths[k])
            bad |= dpt_h5dset_read_rows(&lin[k], H5T_NATIVE_INT64, row0, n, raw + (size_t)k * n,
                                        collective);
    }
    return bad;
}

/* uint8 inputs scaled, lengths narrowed into (nrows, ninputs). */
int dpt_h5in_finish(const dpt_h5in_layout *in, dpt_h5in_rows *s, const int64_t *raw,
                    const char *path, char *err, size_t errlen) {
    size_t width = in->width;
    int nin = in->n;
    for (int k = 0; k < nin; k++) {
        size_t off = input_offset(in, k), size = dpt_shape_size(&in->shapes[k]);
        if (in->u8[k])
            for (int64_t r = 0; r < s->nrows; r++)
                for (size_t j = 0; j < size; j++)
                    s->x[(size_t)r * width + off + j] = s->x[(size_t)r * width + off + j] / 255.0f;
        int T = input_steps(in, k);
        for (int64_t r = 0; r < s->nrows; r++) {
            int64_t v = in->has_lengths[k] ? raw[(size_t)k * (size_t)s->nrows + (size_t)r] : T;
            if (v < 1 || v > T)
                return dpt_err(err, errlen,
                               "%s: %s_lengths row %" PRId64 ": %" PRId64 " is outside [1, %d]",
                               path, in->names[k], s->row0 + r, v, T);
            s->lengths[(size_t)r * (size_t)nin + (size_t)k] = (int32_t)v;
        }
    }
    return 0;
}

/* Token ids >= 0 and floats finite, input by input. */
int dpt_h5in_check(const dpt_h5in_layout *in, const dpt_h5in_rows *s, const char *path, char *err,
                   size_t errlen) {
    size_t width = in->width;
    for (int k = 0; k < in->n; k++) {
        size_t off = input_offset(in, k), size = dpt_shape_size(&in->shapes[k]);
        bool ids = in->shapes[k].dtype == DPT_I32;
        for (int64_t r = 0; r < s->nrows; r++) {
            const float *row = s->x + (size_t)r * width + off; /* (size) */
            for (size_t j = 0; j < size; j++) {
                int32_t id;
                memcpy(&id, row + j, sizeof id);
                if (ids ? id >= 0 : isfinite(row[j])) continue;
                if (ids)
                    return dpt_err(err, errlen,
                                   "%s: %s row %" PRId64 ", position %zu: token id %d is "
                                   "negative, expected >= 0",
                                   path, in->names[k], s->row0 + r, j, id);
                return dpt_err(err, errlen, "%s: %s row %" PRId64 ", value %zu: %s", path,
                               in->names[k], s->row0 + r, j, dpt_h5_nonfinite_name(row[j]));
            }
        }
    }
    return 0;
}

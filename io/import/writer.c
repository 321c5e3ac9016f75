/* The importers' output: extendible datasets chunked along the row axis (about 1 MiB of rows
 * per chunk, gzip'd when asked, the chunks compressed in parallel), appended a block of rows at a
 * time, in a file that appears under its real name only when complete.  See io/import/writer.h. */
#include "io/import/writer.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "core/util.h"
#include "io/fs.h"

#define CHUNK_BYTES (1 << 20)
/* Enough for a partly filled chunk of every dataset to stay cached between appends. */
#define CACHE_BYTES (4 * CHUNK_BYTES)

int dpt_impw_begin(dpt_impw *iw, const char *out, const dpt_import_opts *o, char *err,
                   size_t errlen) {
    memset(iw, 0, sizeof *iw);
    iw->w.file = -1;
    iw->compress = o->compress;
    if (!o->force && access(out, F_OK) == 0)
        return dpt_err(err, errlen, "%s: already exists (pass --force to replace it)", out);
    if (dpt_mkdirs_for(out, err, errlen) || dpt_h5w_begin(&iw->w, out, err, errlen)) return -1;
    if (o->attr_name && o->attr_value)
        dpt_h5w_string(&iw->w, iw->w.file, o->attr_name, o->attr_value, 1);
    if (!iw->w.failed) return 0;
    dpt_impw_abort(iw);
    return -1;
}

static hid_t create_dcpl(const dpt_impw_ds *d, int compress) {
    hsize_t chunk[4];
    for (int k = 0; k < d->ndim; k++) chunk[k] = k ? d->dims[k] : d->chunk_rows;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, d->ndim, chunk);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every row is written */
    /* No byte shuffle: on Fashion-MNIST it made the file 1.9x larger (repeated pixel values
     * are repeated 4-byte patterns, which deflate finds unshuffled). */
    if (compress > 0) H5Pset_deflate(dcpl, (unsigned)compress);
    return dcpl;
}

/* Chunk rows: about CHUNK_BYTES of rows, at least 1, at most the expected row count. */
static hsize_t pick_chunk_rows(int ndim, const int64_t *row_dims, int64_t rows_hint, int elem) {
    int64_t row_bytes = elem;
    for (int k = 0; k < ndim - 1; k++) row_bytes *= row_dims[k] > 0 ? row_dims[k] : 1;
    int64_t rows = CHUNK_BYTES / row_bytes;
    if (rows_hint > 0 && rows > rows_hint) rows = rows_hint;
    return (hsize_t)(rows < 1 ? 1 : rows);
}

int dpt_impw_add(dpt_impw *iw, const char *name, bool is_int, int ndim, const int64_t *row_dims,
                 int64_t rows, bool exact) {
    return dpt_impw_add_typed(iw, name, is_int ? DPT_IMPW_I32 : DPT_IMPW_F32, ndim, row_dims, rows,
                              exact);
}

int dpt_impw_add_typed(dpt_impw *iw, const char *name, dpt_impw_type type, int ndim,
                       const int64_t *row_dims, int64_t rows, bool exact) {
    DPT_ASSERT(iw->nds < DPT_IMPORT_MAXDS && ndim >= 1 && ndim <= 4);
    if (iw->w.failed) return -1;
    dpt_impw_ds *d = &iw->ds[iw->nds];
    bool is_int = type == DPT_IMPW_I32, is_u8 = type == DPT_IMPW_U8;
    *d = (dpt_impw_ds){.ds = -1,
                       .mtype = is_int  ? H5T_NATIVE_INT32
                                : is_u8 ? H5T_NATIVE_UINT8
                                        : H5T_NATIVE_FLOAT,
                       .ndim = ndim};
    d->info = (dpt_import_ds){
        .ndim = ndim, .is_int = is_int, .is_u8 = is_u8, .min = INT64_MAX, .max = INT64_MIN};
    snprintf(d->info.name, sizeof d->info.name, "%s", name);
    /* A known row count makes a fixed-size dataset; otherwise it grows with every append. */
    hsize_t maxd[4] = {exact ? (hsize_t)rows : H5S_UNLIMITED};
    d->fixed = exact;
    d->dims[0] = exact ? (hsize_t)rows : 0;
    for (int k = 1; k < ndim; k++) maxd[k] = d->dims[k] = (hsize_t)row_dims[k - 1];
    d->chunk_rows = pick_chunk_rows(ndim, row_dims, rows, is_u8 ? 1 : 4);
    hid_t space = H5Screate_simple(ndim, d->dims, maxd);
    hid_t dcpl = create_dcpl(d, iw->compress);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 521, CACHE_BYTES, 1.0);
    hid_t ftype = is_int ? H5T_STD_I32LE : is_u8 ? H5T_STD_U8LE : H5T_IEEE_F32LE;
    d->ds = H5Dcreate2(iw->w.file, name, ftype, space, H5P_DEFAULT, dcpl, dapl);
    H5Pclose(dapl);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (d->ds < 0) {
        dpt_h5w_fail(&iw->w, name);
        return -1;
    }
    return iw->nds++;
}

int64_t dpt_impw_chunk_rows(const dpt_impw *iw, int i) {
    return (int64_t)iw->ds[i].chunk_rows;
}

int64_t dpt_impw_block_rows(const dpt_impw *iw, int i) {
    int threads = omp_get_max_threads();
    int64_t chunks = iw->compress > 0 ? 2 * (threads < 16 ? threads : 16) : 1;
    return chunks * (int64_t)iw->ds[i].chunk_rows;
}

/* ---- compression: whole chunks deflated in parallel, written with H5Dwrite_chunk ---- */

/* Rows from row0 on that go through write_direct: whole chunks, and the last chunk of a
 * fixed-size dataset.  A chunk only partly filled by this append would be appended to later,
 * so it goes through HDF5 (and its chunk cache) instead. */
static int64_t direct_rows(const dpt_impw *iw, const dpt_impw_ds *d, hsize_t row0, int64_t n) {
    /* the memory bytes are stored as they are: the file types are little-endian */
    bool little = H5Tget_order(H5T_NATIVE_INT32) == H5T_ORDER_LE;
    if (iw->compress <= 0 || !little || row0 % d->chunk_rows) return 0;
    if (d->fixed && row0 + (hsize_t)n == d->dims[0]) return n;
    return n / (int64_t)d->chunk_rows * (int64_t)d->chunk_rows;
}

typedef struct zchunk {
    unsigned char *buf; /* compressed bytes */
    uLongf len;
    int rc; /* zlib's result */
} zchunk;

/* Deflates chunk c of rows (zero-padding a short last chunk to the full chunk size, which is
 * what HDF5 stores for an edge chunk). */
static void deflate_chunk(zchunk *z, const unsigned char *rows, int64_t c, int64_t nrows,
                          int64_t chunk_rows, size_t row_bytes, int level) {
    size_t chunk_bytes = (size_t)chunk_rows * row_bytes;
    int64_t have = nrows - c * chunk_rows < chunk_rows ? nrows - c * chunk_rows : chunk_rows;
    const unsigned char *src = rows + (size_t)(c * chunk_rows) * row_bytes;
    unsigned char *padded = NULL;
    if (have < chunk_rows) {
        padded = dpt_calloc(chunk_bytes, 1);
        memcpy(padded, src, (size_t)have * row_bytes);
        src = padded;
    }
    z->len = compressBound((uLong)chunk_bytes);
    z->buf = malloc(z->len);
    z->rc = z->buf ? compress2(z->buf, &z->len, src, (uLong)chunk_bytes, level) : Z_MEM_ERROR;
    free(padded);
}

/* HDF5's deflate filter runs on one thread (Fashion-MNIST, 188 MB at level 4: 4.8 s); the
 * chunks of a block are independent, so they are compressed on all threads, then written. */
static herr_t write_direct(dpt_impw *iw, dpt_impw_ds *d, const void *rows, hsize_t row0,
                           int64_t n) {
    size_t row_bytes = H5Tget_size(d->mtype);
    for (int k = 1; k < d->ndim; k++) row_bytes *= d->dims[k];
    int64_t cr = (int64_t)d->chunk_rows, nch = (n + cr - 1) / cr;
    zchunk *z = dpt_calloc((size_t)nch, sizeof *z);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t c = 0; c < nch; c++) deflate_chunk(&z[c], rows, c, n, cr, row_bytes, iw->compress);
    herr_t st = 0;
    for (int64_t c = 0; c < nch; c++) {
        hsize_t off[4] = {row0 + (hsize_t)(c * cr)};
        if (st >= 0 && z[c].rc != Z_OK) st = -1;
        if (st >= 0) st = H5Dwrite_chunk(d->ds, H5P_DEFAULT, 0, off, z[c].len, z[c].buf);
        free(z[c].buf);
    }
    free(z);
    return st;
}

/* Rows [row0, row0 + n) through HDF5's normal write path. */
static herr_t write_rows(dpt_impw_ds *d, const void *rows, hsize_t row0, int64_t n) {
    hsize_t start[4] = {row0}, count[4] = {(hsize_t)n};
    for (int k = 1; k < d->ndim; k++) count[k] = d->dims[k];
    hid_t fspace = H5Dget_space(d->ds), mspace = H5Screate_simple(d->ndim, count, NULL);
    herr_t st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (st >= 0) st = H5Dwrite(d->ds, d->mtype, mspace, fspace, H5P_DEFAULT, rows);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return st;
}

static void track_range(dpt_import_ds *info, const int32_t *v, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        if (v[k] < info->min) info->min = v[k];
        if (v[k] > info->max) info->max = v[k];
    }
}

int dpt_impw_append(dpt_impw *iw, int i, const void *rows, int64_t n) {
    if (iw->w.failed) return -1;
    dpt_impw_ds *d = &iw->ds[i];
    if (n <= 0) return 0;
    DPT_ASSERT(!d->fixed || d->rows + (hsize_t)n <= d->dims[0]);
    hsize_t row0 = d->rows;
    int64_t values = n;
    for (int k = 1; k < d->ndim; k++) values *= (int64_t)d->dims[k];
    d->rows += (hsize_t)n;
    if (!d->fixed) d->dims[0] = d->rows;
    errno = 0;
    herr_t st = d->fixed ? 0 : H5Dset_extent(d->ds, d->dims);
    int64_t direct = st >= 0 ? direct_rows(iw, d, row0, n) : 0;
    if (direct > 0) st = write_direct(iw, d, rows, row0, direct);
    if (st >= 0 && direct < n) {
        size_t skip = (size_t)(values / n * direct) * H5Tget_size(d->mtype);
        st = write_rows(d, (const char *)rows + skip, row0 + (hsize_t)direct, n - direct);
    }
    int saved = errno;
    if (st < 0) {
        char what[128];
        snprintf(what, sizeof what, "dataset %s%s%s", d->info.name, saved ? ": " : "",
                 saved ? strerror(saved) : "");
        dpt_h5w_fail(&iw->w, what);
        return -1;
    }
    if (d->info.is_int) track_range(&d->info, rows, values);
    return 0;
}

static void close_datasets(dpt_impw *iw) {
    for (int i = 0; i < iw->nds; i++) {
        DPT_ASSERT(iw->w.failed || iw->ds[i].rows == iw->ds[i].dims[0]); /* fixed: all written */
        if (iw->ds[i].ds >= 0 && H5Dclose(iw->ds[i].ds) < 0) dpt_h5w_fail(&iw->w, "a dataset");
        iw->ds[i].ds = -1;
    }
}

int dpt_impw_finish(dpt_impw *iw, dpt_import_summary *summary) {
    close_datasets(iw);
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->nds = iw->nds;
        for (int i = 0; i < iw->nds; i++) {
            summary->ds[i] = iw->ds[i].info;
            for (int k = 0; k < iw->ds[i].ndim; k++)
                summary->ds[i].dims[k] = (int64_t)iw->ds[i].dims[k];
        }
    }
    return dpt_h5w_finish(&iw->w);
}

void dpt_impw_abort(dpt_impw *iw) {
    iw->w.failed = 1; /* keeps the caller's message; finish removes the temporary */
    close_datasets(iw);
    if (iw->w.file >= 0) dpt_h5w_finish(&iw->w);
}

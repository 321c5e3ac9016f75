/* Importers: CSV, IDX and NumPy .npy files to the HDF5 layout dptrain reads (docs/data.md,
 * "Importing data").  Inputs are streamed a block of rows at a time, never held whole, and
 * appended to extendible datasets chunked along the row axis (about 1 MiB of rows per chunk,
 * optionally gzip'd); the output appears under its real name only when complete (io/h5util.h).
 * Functions that can fail return 0, or -1 with a message in err naming the input file (and the
 * line, column or element) and what was expected.  Serial: no MPI; the CLI runs them on rank 0. */
#ifndef DPT_IMPORT_H
#define DPT_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hdf5.h>
#include <zlib.h>

#include "io/h5util.h"

/* ---- options and result shared by the formats ---- */

typedef struct dpt_import_opts {
    const char *x_name;     /* "X" when NULL */
    const char *y_name;     /* "y" when NULL */
    int compress;           /* gzip level 0-9, 0: no compression */
    bool force;             /* replace an existing output file */
    const char *attr_name;  /* root string attribute recording the source ("dptrain_import") */
    const char *attr_value; /* its text, or NULL for no attribute */
    int64_t label_max;      /* integer labels above this are refused; < 0: no limit */
} dpt_import_opts;

#define DPT_IMPORT_MAXDS 3 /* X, y, lengths */

/* What was written, for the one-line summary. */
typedef struct dpt_import_ds {
    char name[64];
    int ndim;
    int64_t dims[4];
    bool is_int;      /* int32, else float32 */
    int64_t min, max; /* of the int32 values */
} dpt_import_ds;

typedef struct dpt_import_summary {
    int nds;
    dpt_import_ds ds[DPT_IMPORT_MAXDS];
} dpt_import_summary;

/* ---- the writer: extendible row-chunked datasets in a file written atomically ---- */

typedef struct dpt_impw_ds {
    hid_t ds;
    hid_t mtype; /* H5T_NATIVE_FLOAT or H5T_NATIVE_INT32 */
    int ndim;
    hsize_t dims[4]; /* dims[0]: the dataset's rows (all of them when fixed) */
    hsize_t rows;    /* rows written so far */
    bool fixed;      /* created with its final row count */
    hsize_t chunk_rows;
    dpt_import_ds info;
} dpt_impw_ds;

typedef struct dpt_impw {
    dpt_h5w w;
    int compress;
    int nds;
    dpt_impw_ds ds[DPT_IMPORT_MAXDS];
} dpt_impw;

/* Creates the temporary file for out (parent directories too); refuses an existing out unless
 * o->force.  Writes the provenance attribute. */
int dpt_impw_begin(dpt_impw *iw, const char *out, const dpt_import_opts *o, char *err,
                   size_t errlen);
/* Adds dataset `name` of rows shaped row_dims (ndim - 1 of them); is_int: int32 values, else
 * float32.  exact: it will have exactly `rows` rows (a fixed-size dataset, every row must be
 * appended); else it starts empty and grows (maximum size unlimited), `rows` (0: unknown) being
 * an upper bound that caps the chunk.  Returns the dataset's index, or -1. */
int dpt_impw_add(dpt_impw *iw, const char *name, bool is_int, int ndim, const int64_t *row_dims,
                 int64_t rows, bool exact);
/* Rows per chunk of dataset i. */
int64_t dpt_impw_chunk_rows(const dpt_impw *iw, int i);
/* Rows per append the readers should use for dataset i: whole chunks, several when compressing
 * (they are compressed in parallel on the OpenMP threads). */
int64_t dpt_impw_block_rows(const dpt_impw *iw, int i);
/* Appends n rows (n x row size values of the dataset's type). */
int dpt_impw_append(dpt_impw *iw, int i, const void *rows, int64_t n);
/* Closes the datasets and puts the file under its real name (summary may be NULL).  On any
 * earlier failure removes the temporary and returns -1. */
int dpt_impw_finish(dpt_impw *iw, dpt_import_summary *summary);
/* Discards the file; the message already in err is kept. */
void dpt_impw_abort(dpt_impw *iw);

/* ---- CSV ---- */

enum { DPT_CSV_HEADER_AUTO, DPT_CSV_HEADER_YES, DPT_CSV_HEADER_NO };

typedef struct dpt_csv_opts {
    const char *target;   /* comma-separated names or 0-based indices; NULL: the last column */
    const char *features; /* likewise; NULL: every column that is not a target */
    bool no_target;       /* write X only */
    int header;           /* DPT_CSV_HEADER_* */
    char delim;           /* ',' by default */
    bool labels;          /* one target column of integer class labels -> y int32 (N) */
} dpt_csv_opts;

/* in (CSV) -> out: X float32 (N, F), y float32 (N, K) or int32 (N). */
int dpt_import_csv(const char *in, const char *out, const dpt_csv_opts *c, const dpt_import_opts *o,
                   dpt_import_summary *s, char *err, size_t errlen);

/* Splits one record in place into at most max cells (quotes per RFC 4180 removed, "" -> ");
 * returns the number of cells (may exceed max: only the first max are stored), or -1 with a
 * message (an unterminated quote, text after a closing quote). */
int dpt_csv_split(char *rec, char delim, char **cells, int max, char *err, size_t errlen);
/* A cell as float32: surrounding blanks ignored.  0 ok; 1 not a number (or empty); 2 NaN;
 * 3 Inf; 4 outside the float32 range. */
int dpt_csv_number(const char *cell, float *out);

/* ---- IDX (LeCun's format: 00 00 type ndim, big-endian sizes; optionally gzip'd) ---- */

typedef struct dpt_idx {
    gzFile g;
    char path[DPT_PATH_MAX];
    uint32_t magic;
    int type; /* 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float, 0x0E double */
    int elem; /* bytes per value */
    int ndim;
    int64_t dims[8];
    int64_t row_values; /* values per row: the product of dims[1..] */
    int64_t rows_read;
} dpt_idx;

/* Opens path (gzip'd or not) and reads the header.  expect_magic != 0: that exact magic number
 * is required ("bad magic number M, expected E").  On failure nothing stays open. */
int dpt_idx_open(dpt_idx *f, const char *path, uint32_t expect_magic, char *err, size_t errlen);
/* The next n rows as float32, multiplied by scale, into out (n, row_values); raw is scratch of
 * n x row_values x elem bytes. */
int dpt_idx_read_f32(dpt_idx *f, int64_t n, double scale, void *raw, float *out, char *err,
                     size_t errlen);
/* The next n rows as int32 (integer types only). */
int dpt_idx_read_i32(dpt_idx *f, int64_t n, void *raw, int32_t *out, char *err, size_t errlen);
/* Fails when data follows the announced rows. */
int dpt_idx_check_end(dpt_idx *f, char *err, size_t errlen);
void dpt_idx_close(dpt_idx *f);

typedef struct dpt_idx_opts {
    bool seq;     /* X (N, d1, d2 x ...) instead of (N, d1 x d2 x ...) */
    double scale; /* multiplies the images' values; <= 0 (or NaN): 1/255 for ubyte, else 1 */
} dpt_idx_opts;

/* images (and labels, or NULL) -> out: X float32 (N, F) or (N, T, F), y int32 (N) (float32 (N)
 * for float labels). */
int dpt_import_idx(const char *images, const char *labels, const char *out, const dpt_idx_opts *io,
                   const dpt_import_opts *o, dpt_import_summary *s, char *err, size_t errlen);

/* ---- NumPy .npy (format versions 1.0, 2.0, 3.0; C order, little-endian) ---- */

typedef struct dpt_npy {
    FILE *f;
    const char *path;
    int major; /* format version */
    char kind; /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
    int elem;  /* bytes per value */
    int ndim;
    int64_t shape[8];
    int64_t count; /* values */
    int64_t read;  /* values read so far */
} dpt_npy;

/* Parses the header dict text ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")
 * into a's kind, elem, ndim, shape, count. */
int dpt_npy_parse_header(dpt_npy *a, const char *text, char *err, size_t errlen);
/* Opens path, reads and checks the header and that the file holds exactly the data it
 * announces. */
int dpt_npy_open(dpt_npy *a, const char *path, char *err, size_t errlen);
/* The next n values as float32 (finite; float64 within the float32 range); raw is scratch of
 * n x elem bytes. */
int dpt_npy_read_f32(dpt_npy *a, int64_t n, void *raw, float *out, char *err, size_t errlen);
/* The next n values as int32 (integer and bool types). */
int dpt_npy_read_i32(dpt_npy *a, int64_t n, void *raw, int32_t *out, char *err, size_t errlen);
void dpt_npy_close(dpt_npy *a);

typedef struct dpt_npy_opts {
    const char *y;       /* Y.npy or NULL */
    const char *lengths; /* L.npy or NULL */
    bool float_targets;  /* integer Y -> float32 instead of int32 labels */
} dpt_npy_opts;

/* X.npy (+ Y.npy, L.npy) -> out: X float32 (N, 1) / (N, F) / (N, T, F); y int32 labels or
 * float32 in Y's shape; lengths int32 (N), each in [1, T]. */
int dpt_import_npy(const char *x, const char *out, const dpt_npy_opts *no, const dpt_import_opts *o,
                   dpt_import_summary *s, char *err, size_t errlen);

#endif

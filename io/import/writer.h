/* Importers (dptrain import, tools/dpt_mkdata): CSV, IDX and NumPy .npy files to the HDF5 layout
 * dptrain reads (docs/data.md, "Importing data").  This unit: the options and summary every
 * format shares, and the output writer.  Inputs are streamed a block of rows at a time, never
 * held whole, and appended to extendible datasets chunked along the row axis (about 1 MiB of rows
 * per chunk, optionally gzip'd); the output appears under its real name only when complete
 * (io/h5file.h).  Functions that can fail return 0, or -1 with a message in err naming the input
 * file (and the line, column or element) and what was expected.  Serial: no MPI; the CLI runs
 * them on rank 0. */
#ifndef DPT_IMPORT_WRITER_H
#define DPT_IMPORT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "io/h5file.h"

/* ---- options and result shared by the formats ---- */

typedef struct dpt_import_opts {
    const char *x_name;     /* "X" when NULL */
    const char *y_name;     /* "y" when NULL */
    int compress;           /* gzip level 0-9, 0: no compression */
    bool force;             /* replace an existing output file */
    const char *attr_name;  /* root string attribute recording the source ("dptrain_import") */
    const char *attr_value; /* its text, or NULL for no attribute */
    int64_t label_max;      /* integer labels above this are refused; < 0: no limit */
    int x_type;             /* X's element type: DPT_IMPORT_X_DEFAULT (the format's), _F32, _U8 */
} dpt_import_opts;

/* dpt_import_opts.x_type.  uint8 keeps 8-bit pixels as they are (a quarter of float32's bytes);
 * dptrain reads them as value / 255.0f.  Defaults: float32 for csv, idx and npy (as before
 * uint8 existed), uint8 for images. */
enum { DPT_IMPORT_X_DEFAULT, DPT_IMPORT_X_F32, DPT_IMPORT_X_U8 };

#define DPT_IMPORT_MAXDS 3 /* X, y, lengths */

/* What was written, for the one-line summary. */
typedef struct dpt_import_ds {
    char name[64];
    int ndim;
    int64_t dims[4];
    bool is_int;      /* int32 */
    bool is_u8;       /* uint8 (pixels, read scaled by 1/255); neither: float32 */
    int64_t min, max; /* of the int32 values */
} dpt_import_ds;

typedef struct dpt_import_summary {
    int nds;
    dpt_import_ds ds[DPT_IMPORT_MAXDS];
    char note[256]; /* more for the summary line ("2 classes: cat, dog"), or "" */
} dpt_import_summary;

/* Element types of the datasets written: float32 (features), int32 (labels, lengths) and uint8
 * (pixels, which dptrain reads as value / 255.0f: docs/data.md "uint8 images"). */
typedef enum dpt_impw_type { DPT_IMPW_F32, DPT_IMPW_I32, DPT_IMPW_U8 } dpt_impw_type;

/* ---- the writer: extendible row-chunked datasets in a file written atomically ---- */

typedef struct dpt_impw_ds {
    hid_t ds;
    hid_t mtype; /* H5T_NATIVE_FLOAT, H5T_NATIVE_INT32 or H5T_NATIVE_UINT8 */
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
/* The same with any element type (values appended in that type). */
int dpt_impw_add_typed(dpt_impw *iw, const char *name, dpt_impw_type type, int ndim,
                       const int64_t *row_dims, int64_t rows, bool exact);
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

#endif

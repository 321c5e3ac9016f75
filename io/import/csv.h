/* The CSV importer and its parsing pieces (tested alone).  Conventions: io/import/writer.h. */
#ifndef DPT_IMPORT_CSV_H
#define DPT_IMPORT_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "io/import/writer.h"

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

#endif

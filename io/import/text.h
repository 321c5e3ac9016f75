/* The text importer (`dptrain import text`): UTF-8 text files to token ids with their vocabulary
 * (io/vocab.h).  Language-model data: X (N, T) int32 windows of the concatenated documents and
 * y (N, T) the same windows shifted by one token (next-token targets).  Classification data
 * (--labels): lines "LABEL<TAB>TEXT" to X (N, T) int32 ids padded with <pad>, lengths (N), y (N)
 * labels and class_names.  Optionally a held-out file with whole documents chosen by a seeded
 * shuffle.  Conventions: io/import/writer.h; docs/data.md, "Text". */
#ifndef DPT_IMPORT_TEXT_H
#define DPT_IMPORT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/import/writer.h"
#include "io/vocab.h"

#define DPT_TEXT_SEQ_LEN  100                /* default window length T of language-model data */
#define DPT_TEXT_MAX_FILE ((int64_t)1 << 31) /* bytes per input file (read whole) */

/* How the input is cut into documents. */
typedef enum dpt_text_docs {
    DPT_TEXT_DOC_FILE,    /* each file is one document (default) */
    DPT_TEXT_DOC_LINE,    /* each line */
    DPT_TEXT_DOC_PERCENT, /* fortune files: separated by lines holding only "%" */
    DPT_TEXT_DOC_BLANK    /* separated by blank lines (empty or only spaces and tabs) */
} dpt_text_docs;

typedef struct dpt_text_opts {
    dpt_vocab_level level;
    bool level_set; /* --level given (checked against a --vocab file's) */
    bool lowercase; /* ASCII letters lowercased before tokenizing */
    int seq_len;    /* T; 0: DPT_TEXT_SEQ_LEN, or with labels the longest text */
    int stride;     /* first tokens of consecutive windows this far apart; 0: seq_len */
    dpt_text_docs documents;
    double holdout;          /* fraction of the documents held out, in (0, 1); 0: none */
    const char *holdout_out; /* where they go (needed with holdout) */
    uint64_t seed;           /* of the held-out documents' shuffle */
    bool labels;             /* classification: "LABEL<TAB>TEXT" lines */
    const char *vocab_from;  /* reuse the vocabulary (and class_names) of this file; NULL: build */
    int max_vocab; /* keep the max_vocab most frequent tokens, specials included; 0: all */
} dpt_text_opts;

/* One document: bytes [start, start + len) of a file's text, starting on line `line` (1-based). */
typedef struct dpt_text_span {
    size_t start, len;
    int64_t line;
} dpt_text_span;

/* The non-empty documents of s (n bytes) cut as mode says, trailing newlines trimmed; writes
 * them to out when not NULL and returns their count. */
int64_t dpt_text_documents(const char *s, size_t n, dpt_text_docs mode, dpt_text_span *out);
/* Windows of T tokens starting every stride tokens with their next-token targets in ntok
 * tokens: the starts s with s + T + 1 <= ntok (0 when ntok <= T). */
int64_t dpt_text_nwindows(int64_t ntok, int T, int stride);
/* Window w: x (T) = ids[w * stride ...], y (T) = the same shifted by one. */
void dpt_text_window(const int32_t *ids, int64_t w, int T, int stride, int32_t *x, int32_t *y);

/* files (nfiles) -> out (and to->holdout_out).  Every file is read and checked (UTF-8, labels,
 * token counts) before an output is created.  s and s_holdout (may be NULL) get the summaries;
 * their notes describe the vocabulary, documents and tokens. */
int dpt_import_text(const char *const *files, int nfiles, const char *out, const dpt_text_opts *to,
                    const dpt_import_opts *o, dpt_import_summary *s, dpt_import_summary *s_holdout,
                    char *err, size_t errlen);

#endif

/* A token vocabulary (text data, the model file, `dptrain generate`): V UTF-8 tokens whose index
 * is the token id, their counts in the training text, the level (one Unicode code point per token,
 * or words), and the special tokens <pad> = 0, <unk> = 1 and, for sequence-to-sequence data,
 * <start> and <end>.  Stored in an HDF5 file or group as the dataset `vocab` (V) of
 * variable-length UTF-8 strings with the attributes level, pad_id, unk_id, start_id, end_id (int32,
 * -1 when absent) and lowercase (int32 0/1, optional on reading), and `vocab_counts` (V) int64
 * (docs/data.md, "Text").  Functions that can fail return 0, or -1 with a message in err naming
 * the file, the dataset or attribute, and what was expected. */
#ifndef DPT_VOCAB_H
#define DPT_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

typedef enum dpt_vocab_level { DPT_VOCAB_CHAR, DPT_VOCAB_WORD } dpt_vocab_level;

#define DPT_VOCAB_PAD 0              /* id of "<pad>", always */
#define DPT_VOCAB_UNK 1              /* id of "<unk>", always */
#define DPT_VOCAB_MAX ((int)1 << 30) /* tokens */

typedef struct dpt_vocab {
    int V;
    char **tokens;   /* (V) NUL-terminated UTF-8, owned */
    int64_t *counts; /* (V) occurrences in the text the vocabulary was built from */
    dpt_vocab_level level;
    bool lowercase;       /* text is ASCII-lowercased before it is encoded */
    int pad_id, unk_id;   /* 0, 1 */
    int start_id, end_id; /* ids of "<start>", "<end>", or -1 */
    int *slots;           /* (nslots) hash table of token ids, -1 empty; private */
    size_t nslots;
    int cap; /* allocated tokens; private */
} dpt_vocab;

/* An empty vocabulary of <pad>, <unk> and, with start_end, <start>, <end> (ids 0..3), counts 0.
 * Free with dpt_vocab_free. */
void dpt_vocab_init(dpt_vocab *v, dpt_vocab_level level, bool start_end);
/* Frees what v owns (tokens, counts, table); v is zeroed.  NULL or a zeroed v: nothing. */
void dpt_vocab_free(dpt_vocab *v);
/* Id of the len bytes at tok, adding it as a new token when absent; count is added to its
 * count.  tok must be valid UTF-8 without NUL bytes (not checked). */
int dpt_vocab_add(dpt_vocab *v, const char *tok, size_t len, int64_t count);
/* Orders the tokens after the specials by count, most frequent first, ties by token bytes
 * (strcmp), and keeps at most max_size tokens in all (specials included; 0: all); the counts of
 * the dropped tokens are added to <unk>'s.  Ids change: call before encoding anything. */
void dpt_vocab_sort(dpt_vocab *v, int max_size);
/* Id of token (NUL-terminated) or of the len bytes at tok; -1 when absent. */
int dpt_vocab_find(const dpt_vocab *v, const char *token);
int dpt_vocab_find_n(const dpt_vocab *v, const char *tok, size_t len);

/* "char" or "word"; dpt_vocab_parse_level: 0 and *out set, or -1 for another name. */
const char *dpt_vocab_level_name(dpt_vocab_level level);
int dpt_vocab_parse_level(const char *name, dpt_vocab_level *out);
/* ASCII A-Z to a-z in place (other bytes, hence UTF-8, unchanged). */
void dpt_vocab_lower(char *s, size_t n);

/* The tokenizer.  From s[*pos] (s has n bytes): the next token is s[*start, *start + *len),
 * *pos moves past it; returns 1, 0 at the end, or -1 for invalid UTF-8 with *pos the offset of
 * the bad byte.  Char level: every code point (spaces and newlines too) is a token.  Word level:
 * a token is a run of letters and digits (ASCII ones, and every code point above U+007F), or one
 * other non-space character (punctuation); ASCII whitespace only separates. */
int dpt_vocab_next_token(dpt_vocab_level level, const char *s, size_t n, size_t *pos, size_t *start,
                         size_t *len);
/* text (n bytes) -> ids at v's level (lowercased first when v->lowercase), unknown tokens as
 * <unk>.  Writes at most cap ids; returns the number of tokens (which may exceed cap), or -1 for
 * invalid UTF-8 with *bad the offset of the bad byte (bad may be NULL). */
int64_t dpt_vocab_encode(const dpt_vocab *v, const char *text, size_t n, int32_t *ids, int64_t cap,
                         size_t *bad);
/* ids (n) -> text into out (outlen bytes, NUL-terminated, truncated like snprintf): char level
 * concatenates the tokens, word level joins them with spaces; <pad>, <start> and <end> are
 * skipped, <unk> and ids outside [0, V) are shown as "<unk>".  Returns the length the whole text
 * needs (without the NUL). */
size_t dpt_vocab_decode(const dpt_vocab *v, const int32_t *ids, int64_t n, char *out,
                        size_t outlen);

/* `vocab` and `vocab_counts` exist in loc (a file or group). */
bool dpt_vocab_has(hid_t loc);
/* Writes `vocab`, its attributes and `vocab_counts` into loc. */
int dpt_vocab_write(const dpt_vocab *v, hid_t loc, char *err, size_t errlen);
/* Reads and checks them from loc into v (initialised here; free with dpt_vocab_free, also after
 * a failure): 1-D, V >= 2 strings with V counts >= 0, valid UTF-8, non-empty, no duplicates, one
 * code point per token at char level (specials aside), level known, pad_id 0 = "<pad>", unk_id 1
 * = "<unk>", start_id/end_id -1 or the ids of "<start>"/"<end>". */
int dpt_vocab_read(dpt_vocab *v, hid_t loc, char *err, size_t errlen);

#endif

/* Declared keys: one row per setting (name, kind, where it lives in a struct, range, default,
 * help), and the one generic code that parses a value's text into the field and formats it
 * back.  Layer types declare their keys with it (core/layer_*.c), io/ its config keys. */
#ifndef DPT_KEYS_H
#define DPT_KEYS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum dpt_key_kind {
    DPT_KEY_INT,       /* int in [lo, hi] */
    DPT_KEY_U64,       /* uint64_t in [lo, hi] (hi 0 = LLONG_MAX) */
    DPT_KEY_FLOAT,     /* float in `range` */
    DPT_KEY_DOUBLE,    /* double in `range` */
    DPT_KEY_BOOL,      /* bool: true/yes/on, false/no/off */
    DPT_KEY_BOOL_AUTO, /* int: 1, 0, or -1 for "auto" */
    DPT_KEY_STRING,    /* char[size]; null counts as "" */
    DPT_KEY_NAME,      /* char[size] holding one of names() */
    DPT_KEY_CHOICE,    /* bool or int holding the index of one of names() */
    DPT_KEY_INTS,      /* int[size / sizeof(int)] (a kernel's (h, w)), each in [lo, hi]: one
                          integer for all ("3"), or exactly that many ("[3, 5]", "3,5"); with
                          names(), one of them stores -(index + 1) in every slot ("same");
                          with DPT_KEY_UPTO, a list of 1..that many ("[28, 28, 1]"), the
                          unused slots 0 */
} dpt_key_kind;

typedef enum dpt_key_range {
    DPT_RANGE_ANY,   /* a finite number */
    DPT_RANGE_GT0,   /* > 0 */
    DPT_RANGE_GE0,   /* >= 0 */
    DPT_RANGE_UNIT,  /* [0, 1) */
    DPT_RANGE_GAMMA, /* (0, 1] */
} dpt_key_range;

/* Key flags. */
#define DPT_KEY_NONEMPTY  0x1u /* string: "" is refused */
#define DPT_KEY_NAN_UNSET 0x2u /* float without a default: NAN ("the function's default") */
#define DPT_KEY_KEEP                                                                               \
    0x4u /* config: a resume must keep the value (it defines the model,                            \
            the data order or the optimizer state) */
#define DPT_KEY_UPTO                                                                               \
    0x8u /* INTS: a list of 1 up to size / sizeof(int) integers (a shape), unused slots 0,         \
            formatted back as the list; one integer is a list of one */

typedef struct dpt_key {
    const char *name; /* "units", or a config path "training.epochs" */
    dpt_key_kind kind;
    size_t offset;                     /* of the field in its struct */
    size_t size;                       /* of the field (strings: capacity including the NUL) */
    long long lo, hi;                  /* INT, U64: allowed range; hi 0 = the type's maximum */
    dpt_key_range range;               /* FLOAT, DOUBLE */
    const char *const *(*names)(void); /* NAME, CHOICE: the allowed names, NULL-terminated */
    const char *def;      /* default as text, parsed like a value; NULL = zero / "" / NAN */
    const char *what;     /* what the value is, for messages ("a file path"); NULL = from kind */
    const char *required; /* NULL = optional; else what to expect, for "missing key" */
    unsigned flags;       /* DPT_KEY_* */
    const char *help;     /* one line for the docs' key table */
} dpt_key;

/* offsetof and size of field f of struct S, for a row's initialiser. */
#define DPT_FIELD(S, f) .offset = offsetof(S, f), .size = sizeof(((S *)0)->f)

/* Parses text into k's field of base (the struct).  text NULL = the value is not a scalar (a
 * list or a mapping); a YAML null is "".  shown is how the value reads in messages ("'64'",
 * "a list"); NULL = the text quoted.  Returns 0, or -1 with "expected ..., got ..." in err; the
 * field is unchanged on failure. */
int dpt_key_parse(const dpt_key *k, void *base, const char *text, const char *shown, char *err,
                  size_t errlen);
/* The field as text that parses back to the same value ("default" for a NAN float). */
void dpt_key_format(const dpt_key *k, const void *base, char *buf, size_t n);
/* Zeroes nothing: sets every key of keys (n) to its default (NAN_UNSET floats to NAN).  Returns
 * 0, or -1 when a default fails its own key's validation (a bug in the table). */
int dpt_key_defaults(const dpt_key *keys, int n, void *base, char *err, size_t errlen);
/* The row named name, or NULL. */
const dpt_key *dpt_key_find(const dpt_key *keys, int n, const char *name);
/* What a value of k is, for messages and docs: "an integer >= 1", "a number in [0, 1)". */
const char *dpt_key_expect(const dpt_key *k, char *buf, size_t n);
/* The text of a float that reads back as the same float ("default" for NAN). */
void dpt_key_format_float(float v, char *buf, size_t n);

#endif

/* The run configuration: YAML file (+ --set overrides) -> validated struct.  Every error names
 * the file, the key path and the line, and says what was expected.  Schema: docs/config.md. */
#ifndef DPT_CONFIG_H
#define DPT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keys.h"
#include "core/layer.h"
#include "core/model.h" /* DPT_MODEL_MAX_INPUTS */
#include "core/optim.h"
#include "io/fs.h" /* DPT_PATH_MAX */

#define DPT_MAX_METRICS   8
#define DPT_MAX_OVERRIDES 64

struct dpt_vocab; /* io/vocab.h */

typedef struct dpt_config {
    char source[DPT_PATH_MAX]; /* file name used in messages */
    char *text;                /* the YAML text as read (owned) */
    int noverrides;
    char *overrides[DPT_MAX_OVERRIDES]; /* "key.path=value" as given (owned) */

    /* model: */
    int ninputs; /* model.inputs: named inputs, each read from the dataset of its name; 0 = not
                    given: one input, named "input", read from data.x */
    char inputs[DPT_MODEL_MAX_INPUTS][DPT_NAME_MAX];
    int nlayers;
    dpt_layer_spec *layers; /* (nlayers) owned */

    /* loss / metrics: */
    char loss[32]; /* default: mse */
    int nmetrics;
    char metrics[DPT_MAX_METRICS][32];

    /* optimizer / schedule / regularisation: */
    dpt_optim_spec optim;  /* optimizer: {name, lr, momentum, rho, beta1, beta2, eps,
                              weight_decay} */
    dpt_schedule schedule; /* schedule: {name, warmup_steps, step_epochs, gamma, min_lr};
                              base_lr/total_steps/steps_per_epoch filled by the trainer */
    float l2;              /* regularization.l2, >= 0 */
    float clip_norm;       /* clip.norm, 0 = off */
    float clip_value;      /* clip.value, 0 = off */

    /* data: */
    char train_file[DPT_PATH_MAX]; /* data.train (required) */
    char val_file[DPT_PATH_MAX];   /* data.validation_file ("" = none) */
    char x_name[64];               /* data.x, default "X" */
    char y_name[64];               /* data.y, default "y" */
    char lengths_name[64];         /* data.lengths: dataset of sequence lengths (N); "" = auto:
                                      the dataset "lengths" when the file has one */
    bool lengths_explicit;         /* data.lengths was given: the dataset must exist */
    char y_lengths_name[64];       /* data.y_lengths: dataset of target lengths (N) for per-step
                                      y; "" = auto: the dataset "<y>_lengths" when the file has
                                      one and y is per step */
    float val_split;               /* data.validation_split in [0, 1), default 0 */
    bool normalize_x;              /* data.normalize_x, default true */
    int normalize_y;               /* data.normalize_y: -1 auto (regression losses), 0, 1 */
    bool streaming;                /* data.mode: "in_memory" (default, false) or "streaming" */
    int block_rows;                /* data.block_rows: streaming read unit, 0 = auto */
    int shuffle_buffer;            /* data.shuffle_buffer: streaming shuffle rows, 0 = auto */
    int prefetch;                  /* data.prefetch: batches read ahead, >= 1, default 2 */
    bool target_input;             /* data.target: "y" (default, false: the dataset data.y) or
                                      "input" (true: y = X, an autoencoder; no y dataset) */
    bool aug_flip;                 /* data.augment.flip_horizontal, default false */
    int aug_translate;             /* data.augment.translate: pixels, >= 0, 0 = off */

    /* parallel: */
    int overlap;     /* parallel.overlap: allreduce during backward: -1 auto (default), 0, 1 */
    float bucket_mb; /* parallel.bucket_mb: gradient bucket size in MiB, > 0 */

    /* training: */
    int epochs;              /* >= 1, default 10 */
    int batch_size;          /* global batch, >= 1, default 32 */
    uint64_t seed;           /* default 42 */
    int threads;             /* per rank, 0 = auto */
    bool shuffle;            /* default true */
    bool nonfinite_skip;     /* training.on_nonfinite: "abort" (default, false) or "skip" */
    int max_nonfinite_skips; /* training.max_nonfinite_skips: abort after this many consecutive
                                skipped steps, >= 1, default 10 */

    /* output: */
    char output_dir[DPT_PATH_MAX]; /* output.dir, default "runs/<config file stem>" */
    bool trace;                    /* output.trace: Chrome trace per rank, default false */

    /* checkpoint: */
    char ckpt_dir[DPT_PATH_MAX]; /* checkpoint.dir, default "<output.dir>/checkpoints" */
    int ckpt_every_steps;        /* checkpoint.every_steps, >= 0, 0 = off (default) */
    int ckpt_every_epochs;       /* checkpoint.every_epochs, >= 0, 0 = off, default 1 */
    double ckpt_every_seconds;   /* checkpoint.every_seconds, >= 0, 0 = off (default) */
    int ckpt_keep;               /* checkpoint.keep, >= 1, default 3 */

    /* Not from the YAML: the training data's token vocabulary (docs/text.md), set by the
     * trainer from data.train and kept in model files and checkpoints (and read back with
     * their config), so that generation and decoding can turn ids into text.  NULL = none;
     * owned (dpt_config_free frees it). */
    struct dpt_vocab *vocab;
} dpt_config;

/* Reads and validates path, applying overrides ("a.b.c=value", list items by index:
 * "model.layers.0.units=64") before validation.  Returns 0, or -1 with a message like
 *   "configs/x.yaml:12: optimizer.lr: expected a number > 0, got '-1'". */
int dpt_config_load(dpt_config *c, const char *path, const char *const *overrides, int noverrides,
                    char *err, size_t errlen);
/* Same from text already in memory (e.g. the copy stored in a model file); name is used in
 * messages. */
int dpt_config_load_text(dpt_config *c, const char *text, const char *name,
                         const char *const *overrides, int noverrides, char *err, size_t errlen);
void dpt_config_free(dpt_config *c);
/* model.inputs as "[a, b]" ("" when not given). */
void dpt_config_inputs_text(const dpt_config *c, char *buf, size_t n);

/* Compares the parts of two configs that a resume must keep: what defines the model (the layer
 * list with every key of each layer's type, the loss, the datasets data.x/y/lengths, input and
 * target normalisation), the data order and dropout masks (training.seed, training.shuffle) and
 * optimizer.name (its state would not fit another optimizer).  Returns 0 when equal, else 1 and
 * a message naming the first difference, e.g. "model.layers.1.units: 64 in the checkpoint, 128
 * now". */
int dpt_config_model_diff(const dpt_config *ckpt, const dpt_config *now, char *msg, size_t len);
/* Those same settings as canonical text, one "key=value" line each (malloc'd; free()).  A
 * checkpoint records its FNV-1a hash as model_hash. */
char *dpt_config_model_text(const dpt_config *c);
/* Lists the training-only keys that differ (epochs, batch size, threads, on_nonfinite, optimizer
 * hyper-parameters, schedule, clipping, regularisation, metrics, data files, output,
 * checkpoint), e.g. "training.epochs 10 -> 20, optimizer.lr 0.001 -> 0.0005"; "" when none.
 * Returns the count. */
int dpt_config_training_diff(const dpt_config *ckpt, const dpt_config *now, char *msg, size_t len);

/* ---- the key table (io/config_keys.c) ----
 * The one table of the config's keys outside model.layers (a layer's keys are declared by its
 * type, core/layer_<type>.c): path, kind, field of dpt_config, range, default, whether a resume
 * must keep it, help.  Read by the generic reader (config.c) and the diffs (config_diff.c). */

/* A row read and shown by explicit code in io/config*.c (a list, a value spread over fields);
 * the table still gives its place, help and resume rule. */
#define DPT_CONFIG_KEY_EXPLICIT 0x100u

/* The rows (n), in the order the training diff lists them; each section's rows in the order
 * its "allowed keys" message lists them. */
const dpt_key *dpt_config_keys(int *n);
/* The row of a key path ("training.epochs", "loss"), or NULL. */
const dpt_key *dpt_config_key(const char *path);
/* The top-level sections in reading order, NULL-terminated. */
const char *const *dpt_config_sections(void);
/* The part of a row's path after its section ("epochs" of "training.epochs"; "loss" of "loss"). */
const char *dpt_config_key_leaf(const dpt_key *k);
/* Whether row k belongs to section sec. */
bool dpt_config_key_in(const dpt_key *k, const char *sec);

#endif

/* The run configuration: YAML file (+ --set overrides) -> validated struct.  Every error names
 * the file, the key path and the line, and says what was expected.  Schema: docs/config.md. */
#ifndef DPT_CONFIG_H
#define DPT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/layer.h"
#include "core/optim.h"

#define DPT_PATH_MAX      4096
#define DPT_MAX_METRICS   8
#define DPT_MAX_OVERRIDES 64

typedef struct dpt_config {
    char source[DPT_PATH_MAX]; /* file name used in messages */
    char *text;                /* the YAML text as read (owned) */
    int noverrides;
    char *overrides[DPT_MAX_OVERRIDES]; /* "key.path=value" as given (owned) */

    /* model: */
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
    float val_split;               /* data.validation_split in [0, 1), default 0 */
    bool normalize_x;              /* data.normalize_x, default true */
    int normalize_y;               /* data.normalize_y: -1 auto (regression losses), 0, 1 */

    /* training: */
    int epochs;     /* >= 1, default 10 */
    int batch_size; /* global batch, >= 1, default 32 */
    uint64_t seed;  /* default 42 */
    int threads;    /* per rank, 0 = auto */
    bool shuffle;   /* default true */

    /* output: */
    char output_dir[DPT_PATH_MAX]; /* output.dir, default "runs/<config file stem>" */
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

#endif

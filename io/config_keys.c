/* The config's keys outside model.layers, one row each.  The generic reader (io/config.c) reads
 * them, the diffs (io/config_diff.c) show them, docs/config.md documents them; rules between
 * keys stay explicit code in io/config.c, and which optimizer or schedule reads which key is
 * decided in core/optim.c. */
#include "io/config.h"

#include <string.h>

#include "core/loss.h"
#include "core/optim.h"

static const char *const *data_modes(void) {
    static const char *const names[] = {"in_memory", "streaming", NULL};
    return names;
}

static const char *const *data_targets(void) {
    static const char *const names[] = {"y", "input", NULL};
    return names;
}

static const char *const *nonfinite_actions(void) {
    static const char *const names[] = {"abort", "skip", NULL};
    return names;
}

#define C(f) DPT_FIELD(dpt_config, f)
#define KEEP DPT_KEY_KEEP

/* Order: see dpt_config_keys. */
/* One row per key, kept on its line or two (hence no clang-format). */
// clang-format off
static const dpt_key keys[] = {
    {.name = "loss", .kind = DPT_KEY_NAME, C(loss), .names = dpt_loss_names, .def = "mse",
     .flags = KEEP,
     .help = "loss function"},
    {.name = "training.epochs", .kind = DPT_KEY_INT, C(epochs), .lo = 1, .def = "10",
     .help = "passes over the training data"},
    {.name = "training.batch_size", .kind = DPT_KEY_INT, C(batch_size), .lo = 1, .def = "32",
     .help = "global batch (split over the ranks)"},
    {.name = "training.seed", .kind = DPT_KEY_U64, C(seed), .lo = 0, .def = "42", .flags = KEEP,
     .help = "initialisation, data order, dropout masks"},
    {.name = "training.threads", .kind = DPT_KEY_INT, C(threads), .lo = 0, .def = "0",
     .help = "threads per rank (0 = auto)"},
    {.name = "training.shuffle", .kind = DPT_KEY_BOOL, C(shuffle), .def = "true", .flags = KEEP,
     .help = "shuffle every epoch"},
    {.name = "training.on_nonfinite", .kind = DPT_KEY_CHOICE, C(nonfinite_skip),
     .names = nonfinite_actions, .def = "abort",
     .help = "a NaN/Inf gradient: abort or skip"},
    {.name = "training.max_nonfinite_skips", .kind = DPT_KEY_INT, C(max_nonfinite_skips), .lo = 1,
     .def = "10",
     .help = "skip: abort after this many consecutive skipped steps"},
    {.name = "optimizer.name", .kind = DPT_KEY_NAME, C(optim.name), .names = dpt_optim_names,
     .def = "adam", .flags = KEEP,
     .help = "optimizer (its state would not fit another)"},
    {.name = "optimizer.lr", .kind = DPT_KEY_FLOAT, C(optim.lr), .range = DPT_RANGE_GT0,
     .help = "learning rate (sgd family 0.01, else 0.001)"},
    {.name = "optimizer.momentum", .kind = DPT_KEY_FLOAT, C(optim.momentum),
     .range = DPT_RANGE_UNIT,
     .help = "sgd family (momentum/nesterov 0.9)"},
    {.name = "optimizer.rho", .kind = DPT_KEY_FLOAT, C(optim.rho), .range = DPT_RANGE_UNIT,
     .help = "rmsprop decay (0.9)"},
    {.name = "optimizer.beta1", .kind = DPT_KEY_FLOAT, C(optim.beta1), .range = DPT_RANGE_UNIT,
     .help = "adam/adamw (0.9)"},
    {.name = "optimizer.beta2", .kind = DPT_KEY_FLOAT, C(optim.beta2), .range = DPT_RANGE_UNIT,
     .help = "adam/adamw (0.999)"},
    {.name = "optimizer.eps", .kind = DPT_KEY_FLOAT, C(optim.eps), .range = DPT_RANGE_GT0,
     .help = "rmsprop/adam/adamw (1e-7)"},
    {.name = "optimizer.weight_decay", .kind = DPT_KEY_FLOAT, C(optim.weight_decay),
     .range = DPT_RANGE_GE0,
     .help = "adamw decoupled decay (0.01)"},
    {.name = "schedule.name", .kind = DPT_KEY_NAME, C(schedule.name), .names = dpt_schedule_names,
     .def = "constant",
     .help = "learning-rate schedule"},
    {.name = "schedule.warmup_steps", .kind = DPT_KEY_INT, C(schedule.warmup_steps), .lo = 0,
     .def = "0",
     .help = "linear warm-up steps"},
    {.name = "schedule.step_epochs", .kind = DPT_KEY_INT, C(schedule.step_epochs), .lo = 1,
     .def = "1",
     .help = "step: epochs between decays (required)"},
    {.name = "schedule.gamma", .kind = DPT_KEY_FLOAT, C(schedule.gamma), .range = DPT_RANGE_GAMMA,
     .def = "0.1",
     .help = "step: decay factor"},
    {.name = "schedule.min_lr", .kind = DPT_KEY_FLOAT, C(schedule.min_lr), .range = DPT_RANGE_GE0,
     .def = "0",
     .help = "cosine: final learning rate (<= optimizer.lr)"},
    {.name = "regularization.l2", .kind = DPT_KEY_FLOAT, C(l2), .range = DPT_RANGE_GE0, .def = "0",
     .help = "L2 penalty on weights"},
    {.name = "clip.norm", .kind = DPT_KEY_FLOAT, C(clip_norm), .range = DPT_RANGE_GE0, .def = "0",
     .help = "clip the global gradient norm (0 = off)"},
    {.name = "clip.value", .kind = DPT_KEY_FLOAT, C(clip_value), .range = DPT_RANGE_GE0, .def = "0",
     .help = "clip every gradient element (0 = off)"},
    {.name = "metrics", .kind = DPT_KEY_NAME, .names = dpt_metric_names,
     .flags = DPT_CONFIG_KEY_EXPLICIT,
     .help = "a metric name or a list of them"},
    {.name = "data.train", .kind = DPT_KEY_STRING, C(train_file), .what = "a file path",
     .required = "the path of the training HDF5 file", .flags = DPT_KEY_NONEMPTY,
     .help = "training HDF5 file"},
    {.name = "data.validation_file", .kind = DPT_KEY_STRING, C(val_file), .what = "a file path",
     .help = "validation HDF5 file"},
    {.name = "data.validation_split", .kind = DPT_KEY_FLOAT, C(val_split), .range = DPT_RANGE_UNIT,
     .def = "0",
     .help = "fraction of the training file held out"},
    {.name = "data.x", .kind = DPT_KEY_STRING, C(x_name), .what = "a dataset name", .def = "X",
     .flags = DPT_KEY_NONEMPTY | KEEP,
     .help = "input dataset"},
    {.name = "data.y", .kind = DPT_KEY_STRING, C(y_name), .what = "a dataset name", .def = "y",
     .flags = DPT_KEY_NONEMPTY | KEEP,
     .help = "target dataset"},
    {.name = "data.lengths", .kind = DPT_KEY_STRING, C(lengths_name), .what = "a dataset name",
     .flags = KEEP,
     .help = "sequence lengths dataset (\"\" = 'lengths' if present)"},
    {.name = "data.normalize_x", .kind = DPT_KEY_BOOL, C(normalize_x), .def = "true", .flags = KEEP,
     .help = "standardise inputs"},
    {.name = "data.normalize_y", .kind = DPT_KEY_BOOL_AUTO, C(normalize_y), .def = "auto",
     .flags = KEEP,
     .help = "standardise targets (auto: regression losses)"},
    {.name = "data.mode", .kind = DPT_KEY_CHOICE, C(streaming), .names = data_modes,
     .def = "in_memory", .flags = KEEP,
     .help = "in_memory or streaming"},
    {.name = "data.block_rows", .kind = DPT_KEY_INT, C(block_rows), .lo = 0, .def = "0",
     .flags = KEEP,
     .help = "streaming: rows read at once (0 = auto)"},
    {.name = "data.shuffle_buffer", .kind = DPT_KEY_INT, C(shuffle_buffer), .lo = 0, .def = "0",
     .flags = KEEP,
     .help = "streaming: shuffle window in rows (0 = auto)"},
    {.name = "output.dir", .kind = DPT_KEY_STRING, C(output_dir), .what = "a directory path",
     .flags = DPT_KEY_NONEMPTY,
     .help = "run directory (default runs/<config stem>)"},
    {.name = "output.trace", .kind = DPT_KEY_BOOL, C(trace), .def = "false",
     .help = "Chrome trace per rank"},
    {.name = "data.prefetch", .kind = DPT_KEY_INT, C(prefetch), .lo = 1, .def = "2",
     .help = "batches read ahead"},
    /* Not KEEP: it only says which target steps count, and the model text (hashed into
     * checkpoints) stays as it was before the key existed. */
    {.name = "data.y_lengths", .kind = DPT_KEY_STRING, C(y_lengths_name), .what = "a dataset name",
     .help = "target lengths dataset (\"\" = '<y>_lengths' if present)"},
    {.name = "data.target", .kind = DPT_KEY_CHOICE, C(target_input), .names = data_targets,
     .def = "y", .flags = KEEP,
     .help = "targets: y (the dataset data.y) or input (y = X: autoencoder)"},
    /* Training batches only; not KEEP: a resume may change them like the learning rate. */
    {.name = "data.augment.flip_horizontal", .kind = DPT_KEY_BOOL, C(aug_flip), .def = "false",
     .help = "images: flip half the training samples left-right"},
    {.name = "data.augment.translate", .kind = DPT_KEY_INT, C(aug_translate), .lo = 0, .def = "0",
     .help = "images: shift training samples by up to this many pixels (zero fill)"},
    {.name = "parallel.overlap", .kind = DPT_KEY_BOOL_AUTO, C(overlap), .def = "auto",
     .help = "allreduce during backward"},
    {.name = "parallel.bucket_mb", .kind = DPT_KEY_FLOAT, C(bucket_mb), .range = DPT_RANGE_GT0,
     .def = "1",
     .help = "gradient bucket size in MiB"},
    {.name = "checkpoint.dir", .kind = DPT_KEY_STRING, C(ckpt_dir), .what = "a directory path",
     .help = "default <output.dir>/checkpoints"},
    {.name = "checkpoint.every_steps", .kind = DPT_KEY_INT, C(ckpt_every_steps), .lo = 0,
     .def = "0",
     .help = "0 = off"},
    {.name = "checkpoint.every_epochs", .kind = DPT_KEY_INT, C(ckpt_every_epochs), .lo = 0,
     .def = "1",
     .help = "0 = off"},
    {.name = "checkpoint.every_seconds", .kind = DPT_KEY_DOUBLE, C(ckpt_every_seconds),
     .range = DPT_RANGE_GE0, .what = "a number of seconds >= 0", .def = "0",
     .help = "0 = off"},
    {.name = "checkpoint.keep", .kind = DPT_KEY_INT, C(ckpt_keep), .lo = 1, .def = "3",
     .help = "checkpoints kept"},
};
// clang-format on
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

static const char *const sections[] = {
    "model",    "loss",   "metrics",    "optimizer", "schedule", "regularization", "clip", "data",
    "training", "output", "checkpoint", "parallel",  NULL};

const dpt_key *dpt_config_keys(int *n) {
    *n = NKEYS;
    return keys;
}

const dpt_key *dpt_config_key(const char *path) {
    return dpt_key_find(keys, NKEYS, path);
}

const char *const *dpt_config_sections(void) {
    return sections;
}

const char *dpt_config_key_leaf(const dpt_key *k) {
    const char *dot = strchr(k->name, '.');
    return dot ? dot + 1 : k->name;
}

bool dpt_config_key_in(const dpt_key *k, const char *sec) {
    size_t n = strlen(sec);
    return strncmp(k->name, sec, n) == 0 && (k->name[n] == '.' || k->name[n] == '\0');
}

/* Specification of the YAML run configuration (io/config.c): what a valid file fills in, the
 * defaults, what --set overrides do, and that every kind of bad input is reported with the file,
 * the line and the key path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "io/config.h"

#define FULL DPT_TEST_DATA_DIR "/config_full.yaml"

/* A small valid config; the line numbers are used in the assertions below. */
static const char BASE[] = "model:\n"                                          /* 1 */
                           "  layers:\n"                                       /* 2 */
                           "    - {type: dense, units: 8, activation: relu}\n" /* 3 */
                           "    - type: dense\n"                               /* 4 */
                           "      units: 1\n"                                  /* 5 */
                           "data:\n"                                           /* 6 */
                           "  train: train.h5\n";                              /* 7 */
/* BASE plus `extra` starting at line 8. */
static const char *with(const char *extra) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", BASE, extra);
    return buf;
}

/* A layer key's value as the canonical text shows it (one of 8 rotating buffers). */
static const char *lv(const dpt_layer_spec *s, const char *key) {
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ % 8];
    dpt_layer_spec_get(s, key, b, sizeof bufs[0]);
    return b;
}

static void assert_contains(const char *msg, const char *part) {
    if (!strstr(msg, part)) fail_msg("message \"%s\" does not contain \"%s\"", msg, part);
}

/* Loads text (named t.yaml) expecting failure; checks every given part of the message. */
static void assert_rejected(const char *text, const char *const *ov, int nov, ...) {
    dpt_config c;
    char err[1024] = "";
    int rc = dpt_config_load_text(&c, text, "t.yaml", ov, nov, err, sizeof err);
    if (rc == 0) fail_msg("accepted a bad config:\n%s", text);
    assert_true(strlen(err) > 0);
    if (getenv("DPT_TEST_VERBOSE")) printf("    %s\n", err); /* to review the wording */
    va_list ap;
    va_start(ap, nov);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err, part);
    va_end(ap);
    assert_null(c.text); /* a failed load leaves nothing to free */
    dpt_config_free(&c);
}

static void load_ok(dpt_config *c, const char *text, const char *const *ov, int nov) {
    char err[1024] = "";
    if (dpt_config_load_text(c, text, "t.yaml", ov, nov, err, sizeof err) != 0)
        fail_msg("rejected a valid config: %s", err);
}

/* ---- models as graphs ---- */

#define GRAPH_HEAD "data: {train: d.h5}\nmodel:\n"

static void graph_keys_are_read_from_names_and_lists(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c,
            GRAPH_HEAD "  inputs: [source, target_in]\n"
                       "  layers:\n"
                       "    - {type: lstm, name: enc, units: 8, inputs: source}\n"
                       "    - {type: lstm, name: dec, units: 8, inputs: target_in,\n"
                       "       initial_state: enc, return_sequences: true}\n"
                       "    - {type: dense, units: 4, inputs: [dec]}\n",
            NULL, 0);
    assert_int_equal(c.ninputs, 2);
    assert_string_equal(c.inputs[1], "target_in");
    assert_int_equal(c.layers[0].ninputs, 1);
    assert_string_equal(c.layers[0].inputs[0], "source");
    assert_string_equal(c.layers[1].initial_state, "enc");
    assert_string_equal(lv(&c.layers[2], "inputs"), "dec");
    char text[64];
    dpt_config_inputs_text(&c, text, sizeof text);
    assert_string_equal(text, "[source, target_in]");
    /* the graph keys enter the model text (a resume must keep them) only when given */
    char *mt = dpt_config_model_text(&c);
    assert_non_null(strstr(mt, "model.inputs=[source, target_in]"));
    assert_non_null(strstr(mt, "model.layers.1.initial_state=enc"));
    free(mt);
    dpt_config_free(&c);
    load_ok(&c, GRAPH_HEAD "  layers:\n    - {type: dense, units: 4}\n", NULL, 0);
    mt = dpt_config_model_text(&c);
    assert_null(strstr(mt, "inputs"));
    free(mt);
    dpt_config_free(&c);
}

static void graph_keys_with_bad_values_are_rejected(void **state) {
    (void)state;
    assert_rejected(GRAPH_HEAD "  layers:\n    - {type: dense, units: 4, initial_state: a}\n", NULL,
                    0, "t.yaml:4", "model.layers.0.initial_state", "unknown key for a dense layer",
                    NULL);
    assert_rejected(GRAPH_HEAD "  layers:\n    - {type: dense, units: 4, inputs: []}\n", NULL, 0,
                    "t.yaml:4", "model.layers.0.inputs",
                    "expected a layer or model input name, or a list of names", NULL);
    assert_rejected(GRAPH_HEAD "  layers:\n    - {type: dense, units: 4, inputs: {a: 1}}\n", NULL,
                    0, "model.layers.0.inputs", NULL);
    assert_rejected(GRAPH_HEAD "  inputs: [a, a]\n  layers:\n    - {type: dense, units: 4}\n", NULL,
                    0, "t.yaml:3", "model.inputs.1", "input 'a' is listed twice", NULL);
    assert_rejected(GRAPH_HEAD "  inputs: [a/b]\n  layers:\n    - {type: dense, units: 4}\n", NULL,
                    0, "model.inputs.0", "expected a name", NULL);
    assert_rejected(GRAPH_HEAD "  inputs: []\n  layers:\n    - {type: dense, units: 4}\n", NULL, 0,
                    "model.inputs", "expected a list of 1 to 8 input names", NULL);
}

/* ------------------------------------------------------------------------------------------ */

static void full_file_fills_every_field(void **state) {
    (void)state;
    dpt_config c;
    char err[1024] = "";
    if (dpt_config_load(&c, FULL, NULL, 0, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(c.source, FULL);
    assert_non_null(strstr(c.text, "weight_decay: 0.05"));
    assert_int_equal(c.nlayers, 4);
    const dpt_layer_spec *l = c.layers;
    assert_string_equal(l[0].type, "dense");
    assert_string_equal(l[0].name, "hidden");
    assert_string_equal(lv(&l[0], "units"), "64");
    assert_string_equal(lv(&l[0], "activation"), "leaky_relu");
    assert_string_equal(lv(&l[0], "alpha"), "0.2");
    assert_string_equal(lv(&l[0], "kernel_init"), "he_normal");
    assert_string_equal(lv(&l[0], "bias_init"), "uniform");
    assert_string_equal(lv(&l[0], "init_scale"), "0.1");
    assert_string_equal(lv(&l[0], "use_bias"), "false");
    assert_int_equal(l[0].line, 4);
    assert_string_equal(l[1].type, "activation");
    assert_string_equal(lv(&l[1], "activation"), "tanh");
    assert_int_equal(l[1].line, 13);
    assert_string_equal(l[2].type, "dropout");
    assert_string_equal(lv(&l[2], "rate"), "0.25");
    assert_int_equal(l[2].line, 15);
    assert_string_equal(lv(&l[3], "units"), "3");
    assert_string_equal(lv(&l[3], "use_bias"), "true");
    assert_int_equal(l[3].line, 17);
    assert_string_equal(c.loss, "softmax_ce");
    assert_int_equal(c.nmetrics, 2);
    assert_string_equal(c.metrics[0], "accuracy");
    assert_string_equal(c.metrics[1], "mae");
    assert_string_equal(c.optim.name, "adamw");
    assert_float_equal(c.optim.lr, 1e-3f, 1e-10f);
    assert_float_equal(c.optim.beta1, 0.8f, 1e-7f);
    assert_float_equal(c.optim.beta2, 0.99f, 1e-7f);
    assert_float_equal(c.optim.eps, 1e-8f, 1e-14f);
    assert_float_equal(c.optim.weight_decay, 0.05f, 1e-7f);
    assert_string_equal(c.schedule.name, "cosine");
    assert_int_equal(c.schedule.warmup_steps, 100);
    assert_float_equal(c.schedule.min_lr, 1e-5f, 1e-12f);
    assert_float_equal(c.schedule.base_lr, 1e-3f, 1e-10f);
    assert_float_equal(c.l2, 1e-4f, 1e-10f);
    assert_float_equal(c.clip_norm, 5.0f, 0);
    assert_float_equal(c.clip_value, 0.5f, 0);
    assert_string_equal(c.train_file, "data/train.h5");
    assert_string_equal(c.val_file, "data/val.h5");
    assert_string_equal(c.x_name, "features");
    assert_string_equal(c.y_name, "labels");
    assert_float_equal(c.val_split, 0.0f, 0);
    assert_false(c.normalize_x);
    assert_int_equal(c.normalize_y, -1);
    assert_int_equal(c.epochs, 3);
    assert_int_equal(c.batch_size, 64);
    assert_int_equal(c.seed, 7);
    assert_int_equal(c.threads, 2);
    assert_false(c.shuffle);
    assert_string_equal(c.output_dir, "out/full");
    dpt_config_free(&c);
    assert_null(c.layers);
}

static void omitted_keys_get_the_documented_defaults(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c, BASE, NULL, 0);
    assert_int_equal(c.nlayers, 2);
    assert_int_equal(c.layers[0].line, 3);
    assert_int_equal(c.layers[1].line, 4);
    assert_string_equal(lv(&c.layers[1], "use_bias"), "true");
    assert_string_equal(lv(&c.layers[1], "alpha"), "default");
    assert_string_equal(lv(&c.layers[1], "activation"), "");
    assert_string_equal(lv(&c.layers[1], "kernel_init"), "");
    assert_string_equal(c.layers[1].name, "");
    assert_string_equal(c.loss, "mse");
    assert_int_equal(c.nmetrics, 0);
    assert_string_equal(c.optim.name, "adam");
    assert_float_equal(c.optim.lr, 1e-3f, 1e-10f);
    assert_float_equal(c.optim.beta1, 0.9f, 1e-7f);
    assert_float_equal(c.optim.beta2, 0.999f, 1e-7f);
    assert_string_equal(c.schedule.name, "constant");
    assert_int_equal(c.schedule.warmup_steps, 0);
    assert_float_equal(c.schedule.gamma, 0.1f, 1e-7f);
    assert_float_equal(c.schedule.min_lr, 0.0f, 0);
    assert_float_equal(c.l2, 0.0f, 0);
    assert_float_equal(c.clip_norm, 0.0f, 0);
    assert_float_equal(c.clip_value, 0.0f, 0);
    assert_string_equal(c.val_file, "");
    assert_string_equal(c.x_name, "X");
    assert_string_equal(c.y_name, "y");
    assert_float_equal(c.val_split, 0.0f, 0);
    assert_true(c.normalize_x);
    assert_int_equal(c.normalize_y, -1);
    assert_int_equal(c.epochs, 10);
    assert_int_equal(c.batch_size, 32);
    assert_int_equal(c.seed, 42);
    assert_int_equal(c.threads, 0);
    assert_true(c.shuffle);
    assert_string_equal(c.output_dir, "runs/t");
    assert_int_equal(c.noverrides, 0);
    dpt_config_free(&c);
}

static void optimizer_defaults_follow_the_chosen_optimizer(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c, with("optimizer: {name: momentum}\n"), NULL, 0);
    assert_string_equal(c.optim.name, "momentum");
    assert_float_equal(c.optim.lr, 0.01f, 1e-9f);
    assert_float_equal(c.optim.momentum, 0.9f, 1e-7f);
    dpt_config_free(&c);
    load_ok(&c, with("optimizer: sgd\nschedule: {name: step, step_epochs: 5}\n"), NULL, 0);
    assert_string_equal(c.optim.name, "sgd");
    assert_string_equal(c.schedule.name, "step");
    assert_int_equal(c.schedule.step_epochs, 5);
    assert_float_equal(c.schedule.gamma, 0.1f, 1e-7f);
    dpt_config_free(&c);
}

static void numbers_booleans_and_single_metric_forms_are_accepted(void **state) {
    (void)state;
    const char *ov[] = {"data.normalize_x=Off", "data.normalize_y=yes"};
    dpt_config c;
    load_ok(&c,
            with("optimizer: {lr: '1e-2'}\n"
                 "training: {epochs: 1e2, batch_size: 16.0, shuffle: NO, seed: 0}\n"
                 "metrics: mae\n"),
            ov, 2);
    assert_float_equal(c.optim.lr, 0.01f, 1e-9f);
    assert_int_equal(c.epochs, 100);
    assert_int_equal(c.batch_size, 16);
    assert_false(c.shuffle);
    assert_int_equal(c.seed, 0);
    assert_int_equal(c.nmetrics, 1);
    assert_string_equal(c.metrics[0], "mae");
    assert_false(c.normalize_x);
    assert_int_equal(c.normalize_y, 1);
    dpt_config_free(&c);
}

/* ------------------------------------------------------------------------------------------ */

static void load_text_rebuilds_the_same_struct_as_the_file(void **state) {
    (void)state;
    const char *ov[] = {"training.epochs=5", "model.layers.3.units=2"};
    dpt_config a, b;
    char err[1024] = "";
    if (dpt_config_load(&a, FULL, ov, 2, err, sizeof err)) fail_msg("%s", err);
    /* what the trainer stores in the model file: text, source name and overrides */
    if (dpt_config_load_text(&b, a.text, a.source, (const char *const *)a.overrides, a.noverrides,
                             err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(a.text, b.text);
    assert_int_equal(b.noverrides, 2);
    assert_string_equal(b.overrides[0], "training.epochs=5");
    assert_string_equal(b.overrides[1], "model.layers.3.units=2");
    assert_int_equal(a.nlayers, b.nlayers);
    assert_memory_equal(a.layers, b.layers, (size_t)a.nlayers * sizeof *a.layers);
    dpt_config sa = a, sb = b; /* everything but the owned pointers must match byte for byte */
    sa.text = sb.text = NULL;
    sa.layers = sb.layers = NULL;
    memset(sa.overrides, 0, sizeof sa.overrides);
    memset(sb.overrides, 0, sizeof sb.overrides);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_int_equal(b.epochs, 5);
    assert_string_equal(lv(&b.layers[3], "units"), "2");
    dpt_config_free(&a);
    dpt_config_free(&b);
}

/* ------------------------------------------------------------------------------------------ */

static void override_replaces_an_existing_scalar(void **state) {
    (void)state;
    const char *ov[] = {"data.train=other.h5", "optimizer.lr=0.5"};
    dpt_config c;
    load_ok(&c, with("optimizer: {lr: 0.1}\n"), ov, 2);
    assert_string_equal(c.train_file, "other.h5");
    assert_float_equal(c.optim.lr, 0.5f, 0);
    assert_int_equal(c.noverrides, 2);
    assert_string_equal(c.overrides[1], "optimizer.lr=0.5");
    dpt_config_free(&c);
}

static void override_sets_a_field_of_a_list_item(void **state) {
    (void)state;
    const char *ov[] = {"model.layers.0.units=64", "model.layers.1.activation=sigmoid"};
    dpt_config c;
    load_ok(&c, BASE, ov, 2);
    assert_string_equal(lv(&c.layers[0], "units"), "64");
    assert_string_equal(lv(&c.layers[1], "activation"), "sigmoid");
    assert_string_equal(lv(&c.layers[1], "units"), "1");
    dpt_config_free(&c);
}

static void override_creates_missing_keys_and_sections(void **state) {
    (void)state;
    const char *ov[] = {"clip.norm=2.5", "regularization.l2=0.01", "training.seed=9",
                        "metrics=[mae, mse]", "data.validation_file="};
    dpt_config c;
    load_ok(&c, with("regularization:\n"), ov, 5); /* an empty section becomes a mapping */
    assert_float_equal(c.clip_norm, 2.5f, 0);
    assert_float_equal(c.l2, 0.01f, 1e-9f);
    assert_int_equal(c.seed, 9);
    assert_int_equal(c.nmetrics, 2);
    assert_string_equal(c.metrics[1], "mse");
    assert_string_equal(c.val_file, "");
    dpt_config_free(&c);
}

static void override_value_with_yaml_specials_is_taken_verbatim(void **state) {
    (void)state;
    const char *ov[] = {"data.train=/scratch/run #3: a.h5", "data.x='quoted'"};
    dpt_config c;
    load_ok(&c, BASE, ov, 2);
    assert_string_equal(c.train_file, "/scratch/run #3: a.h5");
    assert_string_equal(c.x_name, "quoted");
    dpt_config_free(&c);
}

static void override_with_a_bad_path_is_rejected(void **state) {
    (void)state;
    const char *through_scalar[] = {"data.train.x=1"};
    assert_rejected(BASE, through_scalar, 1,
                    "--set data.train.x=1: data.train: ", "expected a mapping or a list", NULL);
    const char *out_of_range[] = {"model.layers.2.units=4"};
    assert_rejected(BASE, out_of_range, 1,
                    "--set model.layers.2.units=4: model.layers.2: ", "out of range", "2 items",
                    NULL);
    const char *not_index[] = {"model.layers.first.units=4"};
    assert_rejected(BASE, not_index, 1, "model.layers.first: expected a list index", NULL);
    const char *no_equals[] = {"training.epochs"};
    assert_rejected(BASE, no_equals, 1, "--set training.epochs: ", "key.path=value", NULL);
    const char *empty_part[] = {"training..epochs=3"};
    assert_rejected(BASE, empty_part, 1, "--set training..epochs=3: training: empty key", NULL);
    const char *unknown[] = {"training.epoch=3"};
    assert_rejected(BASE, unknown, 1, "--set training.epoch=3: training.epoch: unknown key",
                    "epochs, batch_size", NULL);
}

static void override_with_a_bad_value_is_rejected(void **state) {
    (void)state;
    const char *nan_lr[] = {"optimizer.lr=abc"};
    assert_rejected(BASE, nan_lr, 1,
                    "--set optimizer.lr=abc: optimizer.lr: expected a number > 0, got 'abc'", NULL);
    const char *bad_yaml[] = {"metrics=[mae"};
    assert_rejected(BASE, bad_yaml, 1, "--set metrics=[mae: invalid YAML value", NULL);
    const char *bad_metric[] = {"metrics=[mae, r2]"};
    assert_rejected(BASE, bad_metric, 1,
                    "--set metrics=[mae, r2]: metrics.1: expected one of:", "accuracy", "got 'r2'",
                    NULL);
}

/* ------------------------------------------------------------------------------------------ */

static void unknown_keys_are_reported_with_line_and_allowed_keys(void **state) {
    (void)state;
    assert_rejected(with("trainig:\n  epochs: 3\n"), NULL, 0, "t.yaml:8: trainig: unknown section",
                    "model, loss, metrics", NULL);
    assert_rejected(with("optimizer:\n  name: adam\n  learning_rate: 0.1\n"), NULL, 0,
                    "t.yaml:10: optimizer.learning_rate: unknown key", "lr", NULL);
    assert_rejected(with("data2: 1\n"), NULL, 0, "t.yaml:8: data2: unknown section", NULL);
    assert_rejected("model:\n  layers:\n    - type: dense\n      units: 3\n      rate: 0.5\n"
                    "data: {train: a.h5}\n",
                    NULL, 0, "t.yaml:5: model.layers.0.rate: unknown key for a dense layer",
                    "units", NULL);
    assert_rejected("model:\n  layer: []\ndata: {train: a.h5}\n", NULL, 0,
                    "t.yaml:2: model.layer: unknown key; allowed keys: layers", NULL);
    assert_rejected(with("optimizer:\n  name: adam\n  momentum: 0.9\n"), NULL, 0,
                    "t.yaml:10: optimizer.momentum: not used by optimizer 'adam'", "beta1", NULL);
    assert_rejected(with("schedule:\n  name: constant\n  gamma: 0.5\n"), NULL, 0,
                    "t.yaml:10: schedule.gamma: not used by the constant schedule", NULL);
}

static void wrong_types_say_what_was_expected(void **state) {
    (void)state;
    assert_rejected(with("optimizer: {lr: fast}\n"), NULL, 0,
                    "t.yaml:8: optimizer.lr: expected a number > 0, got 'fast'", NULL);
    assert_rejected(with("training: {epochs: 2.5}\n"), NULL, 0,
                    "t.yaml:8: training.epochs: expected an integer >= 1, got '2.5'", NULL);
    assert_rejected(with("training:\n  shuffle: maybe\n"), NULL, 0,
                    "t.yaml:9: training.shuffle: expected a boolean", "got 'maybe'", NULL);
    assert_rejected(with("output:\n  dir: [a, b]\n"), NULL, 0,
                    "t.yaml:9: output.dir: expected a directory path, got a list", NULL);
    assert_rejected("model: {layers: {type: dense}}\ndata: {train: a.h5}\n", NULL, 0,
                    "t.yaml:1: model.layers: expected a non-empty list of layers, got a mapping",
                    NULL);
    assert_rejected(with("clip: 5\n"), NULL, 0, "t.yaml:8: clip: expected a mapping, got '5'",
                    NULL);
    assert_rejected("- a\n- b\n", NULL, 0, "t.yaml:1: (top level): expected a mapping", NULL);
    const char *ny[] = {"data.normalize_y=sometimes"};
    assert_rejected(BASE, ny, 1,
                    "--set data.normalize_y=sometimes: data.normalize_y: expected a boolean or "
                    "'auto', got 'sometimes'",
                    NULL);
}

static void out_of_range_values_are_rejected(void **state) {
    (void)state;
    assert_rejected(with("optimizer:\n  lr: -1\n"), NULL, 0,
                    "t.yaml:9: optimizer.lr: expected a number > 0, got '-1'", NULL);
    assert_rejected(with("optimizer: {name: adam, beta2: 1}\n"), NULL, 0,
                    "t.yaml:8: optimizer.beta2: expected a number in [0, 1), got '1'", NULL);
    assert_rejected("model:\n  layers:\n    - type: dropout\n      rate: 1.0\ndata: {train: a}\n",
                    NULL, 0, "t.yaml:4: model.layers.0.rate: expected a number in [0, 1)", NULL);
    assert_rejected("model:\n  layers:\n    - {type: dense, units: 0}\ndata: {train: a}\n", NULL, 0,
                    "t.yaml:3: model.layers.0.units: expected an integer >= 1, got '0'", NULL);
    assert_rejected(with("training: {batch_size: 3000000000}\n"), NULL, 0,
                    "t.yaml:8: training.batch_size: expected an integer <= 2147483647", NULL);
    assert_rejected(with("training: {seed: -3}\n"), NULL, 0,
                    "training.seed: expected an integer >= 0", NULL);
    assert_rejected(with("schedule: {name: step, step_epochs: 2, gamma: 0}\n"), NULL, 0,
                    "t.yaml:8: schedule.gamma: expected a number in (0, 1]", NULL);
    assert_rejected(with("regularization: {l2: -0.1}\n"), NULL, 0,
                    "regularization.l2: expected a number >= 0", NULL);
    assert_rejected(with("clip: {norm: .inf}\n"), NULL, 0, "clip.norm: expected a number >= 0",
                    NULL);
    assert_rejected(with("optimizer: {lr: 1e99}\n"), NULL, 0, "optimizer.lr: expected", NULL);
}

static void unknown_names_list_the_valid_ones(void **state) {
    (void)state;
    assert_rejected("model:\n  layers:\n    - type: conv\ndata: {train: a}\n", NULL, 0,
                    "t.yaml:3: model.layers.0.type: expected one of: ", "dense", "dropout",
                    "got 'conv'", NULL);
    assert_rejected("model:\n  layers:\n    - type: activation\n      activation: rleu\n"
                    "data: {train: a}\n",
                    NULL, 0, "t.yaml:4: model.layers.0.activation: expected one of: ", "relu",
                    "got 'rleu'", NULL);
    assert_rejected(
        "model:\n  layers:\n    - {type: dense, units: 2, kernel_init: lecun}\ndata: {train: a}\n",
        NULL, 0, "t.yaml:3: model.layers.0.kernel_init: expected one of: ", "he_normal", NULL);
    assert_rejected(with("loss: hinge\n"), NULL, 0,
                    "t.yaml:8: loss: expected one of: ", "softmax_ce", "got 'hinge'", NULL);
    assert_rejected(with("metrics:\n  - mae\n  - r2\n"), NULL, 0,
                    "t.yaml:10: metrics.1: expected one of: ", "accuracy", NULL);
    assert_rejected(with("optimizer:\n  name: adagrad\n"), NULL, 0,
                    "t.yaml:9: optimizer.name: expected one of: ", "adamw", "got 'adagrad'", NULL);
    assert_rejected(with("schedule: linear\n"), NULL, 0,
                    "t.yaml:8: schedule: expected one of: ", "cosine", NULL);
}

static void missing_required_keys_are_named(void **state) {
    (void)state;
    assert_rejected("model:\n  layers: [{type: dense, units: 1}]\ndata:\n  x: X\n", NULL, 0,
                    "t.yaml:3: data.train: missing key", NULL);
    assert_rejected("model:\n  layers: [{type: dense, units: 1}]\n", NULL, 0,
                    "t.yaml:1: data.train: missing key", NULL);
    assert_rejected("model: {}\ndata: {train: a}\n", NULL, 0, "model.layers: missing key", NULL);
    assert_rejected("data: {train: a}\n", NULL, 0, "t.yaml:1: model: missing section", NULL);
    assert_rejected("", NULL, 0, "t.yaml:1: model: missing section", NULL);
    assert_rejected("model:\n  layers: []\ndata: {train: a}\n", NULL, 0,
                    "t.yaml:2: model.layers: expected a non-empty list", NULL);
    assert_rejected("model:\n  layers:\n    - units: 4\ndata: {train: a}\n", NULL, 0,
                    "t.yaml:3: model.layers.0.type: missing key", "dense", NULL);
    assert_rejected("model:\n  layers:\n    - type: dense\ndata: {train: a}\n", NULL, 0,
                    "t.yaml:3: model.layers.0.units: missing key (required for a dense layer)",
                    NULL);
    assert_rejected("model:\n  layers:\n    - type: dropout\ndata: {train: a}\n", NULL, 0,
                    "model.layers.0.rate: missing key", NULL);
    assert_rejected(with("schedule: {name: step}\n"), NULL, 0,
                    "t.yaml:8: schedule.step_epochs: missing key", NULL);
    const char *empty_train[] = {"data.train=''"};
    assert_rejected(BASE, empty_train, 1,
                    "--set data.train='': data.train: expected a file path (non-empty), got ''",
                    NULL);
}

static void yaml_syntax_errors_give_line_and_column(void **state) {
    (void)state;
    assert_rejected(with("training:\n  epochs: [1, 2\n"), NULL, 0, "t.yaml:", "YAML syntax error",
                    NULL);
    assert_rejected("model:\n  layers: x\n bad: 1\n", NULL, 0, "t.yaml:3: YAML syntax error",
                    "column", NULL);
    assert_rejected(with("---\na: 1\n"), NULL, 0, "t.yaml:", "single YAML document", NULL);
    assert_rejected(with("x: *nowhere\n"), NULL, 0, "t.yaml:8", NULL);
}

static void duplicate_keys_are_rejected(void **state) {
    (void)state;
    assert_rejected(with("training:\n  epochs: 3\n  epochs: 4\n"), NULL, 0,
                    "t.yaml:10: training.epochs: duplicate key (first given at line 9)", NULL);
    assert_rejected(with("data:\n  train: b.h5\n"), NULL, 0,
                    "t.yaml:8: data: duplicate key (first given at line 6)", NULL);
}

static void conflicting_and_repeated_entries_are_rejected(void **state) {
    (void)state;
    assert_rejected("model: {layers: [{type: dense, units: 1}]}\n"
                    "data:\n  train: a.h5\n  validation_file: v.h5\n  validation_split: 0.2\n",
                    NULL, 0, "t.yaml:5: data.validation_split: cannot be used together", NULL);
    assert_rejected(with("metrics: [mae, mae]\n"), NULL, 0, "t.yaml:8: metrics.1: ", "twice", NULL);
    assert_rejected(with("metrics: [mae, mse, accuracy, mae, mse, accuracy, mae, mse, mae]\n"),
                    NULL, 0, "t.yaml:8: metrics: expected at most 8", NULL);
    assert_rejected("model:\n  layers:\n    - {type: dense, units: 2, name: h}\n"
                    "    - {type: dense, units: 1, name: h}\ndata: {train: a}\n",
                    NULL, 0, "t.yaml:4: model.layers.1.name: layer name 'h' is already used", NULL);
    assert_rejected(with("optimizer: {lr: 0.01}\nschedule: {name: cosine, min_lr: 0.1}\n"), NULL, 0,
                    "t.yaml:9: schedule.min_lr: expected a number <= optimizer.lr", NULL);
}

static void recursive_and_exploding_aliases_are_bounded(void **state) {
    (void)state;
    assert_rejected(with("x: &a [*a]\n"), NULL, 0, "t.yaml:8", NULL);
    char bomb[2048];
    int n = snprintf(bomb, sizeof bomb, "%s", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        n += snprintf(bomb + n, sizeof bomb - (size_t)n,
                      "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
                      i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    assert_rejected(bomb, NULL, 0, "t.yaml:", "aliases", NULL);
}

static void unreadable_file_is_named(void **state) {
    (void)state;
    dpt_config c;
    char err[1024] = "";
    assert_int_equal(
        dpt_config_load(&c, DPT_TEST_DATA_DIR "/no_such.yaml", NULL, 0, err, sizeof err), -1);
    assert_contains(err, "no_such.yaml: cannot read config file");
    dpt_config_free(&c);
}

/* ------------------------------------------------------------------------------------------ */

/* A sequence model: every recurrent key given, and the defaults of the ones left out. */
static const char SEQ[] = "model:\n"                                               /* 1 */
                          "  layers:\n"                                            /* 2 */
                          "    - type: rnn\n"                                      /* 3 */
                          "      units: 16\n"                                      /* 4 */
                          "      activation: relu\n"                               /* 5 */
                          "      return_sequences: true\n"                         /* 6 */
                          "      bidirectional: yes\n"                             /* 7 */
                          "      bptt_steps: 5\n"                                  /* 8 */
                          "      kernel_init: he_normal\n"                         /* 9 */
                          "      bias_init: uniform\n"                             /* 10 */
                          "      init_scale: 0.2\n"                                /* 11 */
                          "      use_bias: false\n"                                /* 12 */
                          "      name: enc\n"                                      /* 13 */
                          "    - {type: lstm, units: 8, return_sequences: true}\n" /* 14 */
                          "    - {type: gru, units: 4}\n"                          /* 15 */
                          "    - {type: repeat, steps: 3, name: rep}\n"            /* 16 */
                          "    - {type: rnn, units: 2}\n"                          /* 17 */
                          "data:\n"                                                /* 18 */
                          "  train: seq.h5\n";                                     /* 19 */

static void recurrent_layers_fill_their_fields(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c, SEQ, NULL, 0);
    assert_int_equal(c.nlayers, 5);
    const dpt_layer_spec *l = c.layers;
    assert_string_equal(l[0].type, "rnn");
    assert_string_equal(lv(&l[0], "units"), "16");
    assert_string_equal(lv(&l[0], "activation"), "relu");
    assert_string_equal(lv(&l[0], "return_sequences"), "true");
    assert_string_equal(lv(&l[0], "bidirectional"), "true");
    assert_string_equal(lv(&l[0], "bptt_steps"), "5");
    assert_string_equal(lv(&l[0], "kernel_init"), "he_normal");
    assert_string_equal(lv(&l[0], "bias_init"), "uniform");
    assert_string_equal(lv(&l[0], "init_scale"), "0.2");
    assert_string_equal(lv(&l[0], "use_bias"), "false");
    assert_string_equal(l[0].name, "enc");
    assert_int_equal(l[0].line, 3);
    assert_string_equal(l[1].type, "lstm");
    assert_string_equal(lv(&l[1], "units"), "8");
    assert_string_equal(lv(&l[1], "return_sequences"), "true");
    assert_string_equal(l[2].type, "gru");
    assert_int_equal(l[4].line, 17);
    dpt_config_free(&c);
}

static void recurrent_defaults_are_tanh_last_step_one_direction_full_bptt(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c, SEQ, NULL, 0);
    const dpt_layer_spec *gru = &c.layers[2], *rnn = &c.layers[4], *rep = &c.layers[3];
    assert_string_equal(lv(rnn, "activation"), "tanh"); /* written in, not left "" */
    assert_string_equal(lv(gru, "activation"), "");     /* gates: no activation to choose */
    assert_string_equal(lv(gru, "return_sequences"), "false");
    assert_string_equal(lv(gru, "bidirectional"), "false");
    assert_string_equal(lv(gru, "bptt_steps"), "0");
    assert_string_equal(lv(gru, "use_bias"), "true");
    assert_string_equal(lv(gru, "kernel_init"), "");
    assert_string_equal(rep->type, "repeat");
    assert_string_equal(lv(rep, "steps"), "3");
    assert_string_equal(rep->name, "rep");
    assert_string_equal(lv(rep, "units"), ""); /* not a key of repeat */
    dpt_config_free(&c);
    const char *ov[] = {"model.layers.4.activation=relu", "model.layers.2.bptt_steps=0",
                        "model.layers.3.steps=7"};
    load_ok(&c, SEQ, ov, 3);
    assert_string_equal(lv(&c.layers[4], "activation"), "relu");
    assert_string_equal(lv(&c.layers[3], "steps"), "7");
    dpt_config_free(&c);
}

static void recurrent_layers_refuse_keys_and_values_they_do_not_take(void **state) {
    (void)state;
    const char *lstm_act[] = {"model.layers.1.activation=tanh"};
    assert_rejected(SEQ, lstm_act, 1,
                    "--set model.layers.1.activation=tanh: model.layers.1.activation: unknown key "
                    "for a lstm layer; allowed keys: type, name, units, return_sequences, "
                    "bidirectional, bptt_steps, kernel_init, bias_init, init_scale, use_bias",
                    NULL);
    const char *gru_alpha[] = {"model.layers.2.alpha=0.1"};
    assert_rejected(SEQ, gru_alpha, 1, "model.layers.2.alpha: unknown key for a gru layer", NULL);
    const char *rnn_rate[] = {"model.layers.4.rate=0.1"};
    assert_rejected(SEQ, rnn_rate, 1, "model.layers.4.rate: unknown key for a rnn layer",
                    "activation, return_sequences", NULL);
    const char *repeat_units[] = {"model.layers.3.units=4"};
    assert_rejected(SEQ, repeat_units, 1,
                    "model.layers.3.units: unknown key for a repeat layer; allowed keys: type, "
                    "name, steps",
                    NULL);
    const char *dense_steps[] = {"model.layers.0={type: dense, units: 2, steps: 3}"};
    assert_rejected(SEQ, dense_steps, 1, "model.layers.0.steps: unknown key for a dense layer",
                    NULL);
    assert_rejected(
        "model:\n  layers:\n    - {type: rnn, units: 4, activation: sigmoid}\ndata: {train: a}\n",
        NULL, 0, "t.yaml:3: model.layers.0.activation: expected one of: tanh, relu; got 'sigmoid'",
        NULL);
    const char *seqs[] = {"model.layers.1.return_sequences=sometimes"};
    assert_rejected(SEQ, seqs, 1, "model.layers.1.return_sequences: expected a boolean",
                    "got 'sometimes'", NULL);
    const char *bidi[] = {"model.layers.1.bidirectional=2"};
    assert_rejected(SEQ, bidi, 1, "model.layers.1.bidirectional: expected a boolean", NULL);
    const char *bptt[] = {"model.layers.2.bptt_steps=-1"};
    assert_rejected(SEQ, bptt, 1, "model.layers.2.bptt_steps: expected an integer >= 0, got '-1'",
                    NULL);
    const char *bptt_frac[] = {"model.layers.2.bptt_steps=2.5"};
    assert_rejected(SEQ, bptt_frac, 1, "model.layers.2.bptt_steps: expected an integer >= 0", NULL);
    const char *units0[] = {"model.layers.1.units=0"};
    assert_rejected(SEQ, units0, 1, "model.layers.1.units: expected an integer >= 1, got '0'",
                    NULL);
    const char *steps0[] = {"model.layers.3.steps=0"};
    assert_rejected(SEQ, steps0, 1, "model.layers.3.steps: expected an integer >= 1, got '0'",
                    NULL);
}

static void recurrent_and_repeat_layers_need_units_and_steps(void **state) {
    (void)state;
    assert_rejected("model:\n  layers:\n    - {type: lstm, return_sequences: true}\n"
                    "data: {train: a}\n",
                    NULL, 0,
                    "t.yaml:3: model.layers.0.units: missing key (required for a lstm layer); "
                    "expected an integer >= 1",
                    NULL);
    assert_rejected("model:\n  layers:\n    - {type: rnn}\ndata: {train: a}\n", NULL, 0,
                    "model.layers.0.units: missing key (required for a rnn layer)", NULL);
    assert_rejected("model:\n  layers:\n    - {type: gru}\ndata: {train: a}\n", NULL, 0,
                    "model.layers.0.units: missing key (required for a gru layer)", NULL);
    assert_rejected("model:\n  layers:\n    - type: dense\n      units: 2\n    - type: repeat\n"
                    "data: {train: a}\n",
                    NULL, 0,
                    "t.yaml:5: model.layers.1.steps: missing key (required for a repeat layer); "
                    "expected an integer >= 1",
                    NULL);
}

/* A type core/ registers must have a key table here, or nobody could configure it. */
/* The list of types, each type's name and its keys' defaults (through the keys' validation)
 * agree, and the config reads every type by its key table. */
static void every_registered_layer_type_declares_valid_keys(void **state) {
    (void)state;
    for (const char *const *t = dpt_layer_names(); *t; t++) {
        const dpt_layer_type *type = dpt_layer_find(*t);
        assert_non_null(type);
        assert_string_equal(type->name, *t);
        dpt_layer_spec s;
        char err0[512] = "";
        if (dpt_layer_spec_init(&s, *t, err0, sizeof err0)) fail_msg("%s: %s", *t, err0);
        assert_true(type->args_size <= DPT_LAYER_ARGS_MAX && type->nkeys <= DPT_LAYER_KEYS_MAX);
        for (int k = 0; k < type->nkeys; k++) assert_non_null(type->keys[k].help);
        char text[256], err[1024] = "";
        snprintf(text, sizeof text, "model:\n  layers:\n    - {type: %s}\ndata: {train: a}\n", *t);
        dpt_config c;
        int rc = dpt_config_load_text(&c, text, "t.yaml", NULL, 0, err, sizeof err);
        if (rc == 0) dpt_config_free(&c);
        if (strstr(err, "no key table")) fail_msg("%s", err);
    }
}

static void data_lengths_is_auto_unless_named(void **state) {
    (void)state;
    static const char named[] = "model: {layers: [{type: gru, units: 2}]}\n"
                                "data:\n"
                                "  train: a.h5\n"
                                "  lengths: seq_len\n";
    dpt_config c;
    load_ok(&c, BASE, NULL, 0);
    assert_string_equal(c.lengths_name, "");
    assert_false(c.lengths_explicit);
    dpt_config_free(&c);
    load_ok(&c, named, NULL, 0);
    assert_string_equal(c.lengths_name, "seq_len");
    assert_true(c.lengths_explicit);
    dpt_config_free(&c);
    const char *back_to_auto[] = {"data.lengths="};
    load_ok(&c, named, back_to_auto, 1);
    assert_string_equal(c.lengths_name, "");
    assert_false(c.lengths_explicit);
    dpt_config_free(&c);
    const char *by_set[] = {"data.lengths=lengths"}; /* named as the default, but now required */
    load_ok(&c, BASE, by_set, 1);
    assert_string_equal(c.lengths_name, "lengths");
    assert_true(c.lengths_explicit);
    dpt_config_free(&c);
}

static void data_lengths_must_be_a_short_name(void **state) {
    (void)state;
    const char *list[] = {"data.lengths=[a, b]"};
    assert_rejected(BASE, list, 1, "data.lengths: expected a dataset name, got a list", NULL);
    char ov[128] = "data.lengths=";
    memset(ov + strlen(ov), 'n', 64);
    const char *too_long[] = {ov};
    assert_rejected(BASE, too_long, 1,
                    "data.lengths: expected a dataset name of at most 63 characters, got 64", NULL);
    assert_rejected(with("  length: n\n"), NULL, 0,
                    "t.yaml:8: data.length: unknown key; allowed keys: train, validation_file, "
                    "validation_split, x, y, lengths, normalize_x, normalize_y",
                    NULL);
}

/* ------------------------------------------------------------------------------------------ */

static void checkpoint_and_nonfinite_keys_default_as_documented(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c, BASE, NULL, 0);
    assert_string_equal(c.ckpt_dir, "runs/t/checkpoints"); /* follows output.dir */
    assert_int_equal(c.ckpt_every_steps, 0);
    assert_int_equal(c.ckpt_every_epochs, 1);
    assert_true(c.ckpt_every_seconds == 0.0);
    assert_int_equal(c.ckpt_keep, 3);
    assert_false(c.nonfinite_skip);
    assert_int_equal(c.max_nonfinite_skips, 10);
    dpt_config_free(&c);
}

static void checkpoint_and_nonfinite_keys_are_read(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c,
            with("output: {dir: out/x}\n"
                 "checkpoint: {every_steps: 100, every_epochs: 0, every_seconds: 1800.5, keep: 5}\n"
                 "training: {on_nonfinite: skip, max_nonfinite_skips: 3}\n"),
            NULL, 0);
    assert_string_equal(c.ckpt_dir, "out/x/checkpoints");
    assert_int_equal(c.ckpt_every_steps, 100);
    assert_int_equal(c.ckpt_every_epochs, 0);
    assert_true(c.ckpt_every_seconds == 1800.5);
    assert_int_equal(c.ckpt_keep, 5);
    assert_true(c.nonfinite_skip);
    assert_int_equal(c.max_nonfinite_skips, 3);
    dpt_config_free(&c);
    load_ok(&c, with("checkpoint: {dir: /scratch/ck}\ntraining: {on_nonfinite: abort}\n"), NULL, 0);
    assert_string_equal(c.ckpt_dir, "/scratch/ck");
    assert_false(c.nonfinite_skip);
    dpt_config_free(&c);
    /* An emptied checkpoint.dir goes back to the default, which follows an overridden
     * output.dir. */
    const char *ov[] = {"checkpoint.dir=", "output.dir=o"};
    load_ok(&c, with("checkpoint: {dir: /scratch/ck}\n"), ov, 2);
    assert_string_equal(c.ckpt_dir, "o/checkpoints");
    dpt_config_free(&c);
}

static void checkpoint_and_nonfinite_errors_name_key_and_line(void **state) {
    (void)state;
    assert_rejected(with("checkpoint:\n  keep: 0\n"), NULL, 0,
                    "t.yaml:9: checkpoint.keep: expected an integer >= 1, got '0'", NULL);
    assert_rejected(with("checkpoint: {every_steps: -1}\n"), NULL, 0,
                    "t.yaml:8: checkpoint.every_steps: expected an integer >= 0, got '-1'", NULL);
    assert_rejected(with("checkpoint: {every_epochs: 1.5}\n"), NULL, 0,
                    "t.yaml:8: checkpoint.every_epochs: expected an integer >= 0, got '1.5'", NULL);
    assert_rejected(with("checkpoint: {every_seconds: -5}\n"), NULL, 0,
                    "t.yaml:8: checkpoint.every_seconds: expected a number of seconds >= 0, got "
                    "'-5'",
                    NULL);
    assert_rejected(with("checkpoint: {every_seconds: soon}\n"), NULL, 0,
                    "checkpoint.every_seconds: expected a number of seconds >= 0, got 'soon'",
                    NULL);
    assert_rejected(with("checkpoint:\n  every_minutes: 5\n"), NULL, 0,
                    "t.yaml:9: checkpoint.every_minutes: unknown key; allowed keys: dir, "
                    "every_steps, every_epochs, every_seconds, keep",
                    NULL);
    assert_rejected(with("checkpoint: 5\n"), NULL, 0,
                    "t.yaml:8: checkpoint: expected a mapping, got '5'", NULL);
    assert_rejected(with("checkpoint: {dir: [a]}\n"), NULL, 0,
                    "t.yaml:8: checkpoint.dir: expected a directory path, got a list", NULL);
    assert_rejected(with("training:\n  on_nonfinite: ignore\n"), NULL, 0,
                    "t.yaml:9: training.on_nonfinite: expected one of: abort, skip; got 'ignore'",
                    NULL);
    assert_rejected(with("training: {on_nonfinite: skip, max_nonfinite_skips: 0}\n"), NULL, 0,
                    "t.yaml:8: training.max_nonfinite_skips: expected an integer >= 1, got '0'",
                    NULL);
    assert_rejected(with("training:\n  max_nonfinite_skips: 4\n"), NULL, 0,
                    "t.yaml:9: training.max_nonfinite_skips: only used with "
                    "training.on_nonfinite: skip",
                    NULL);
    assert_rejected(with("checkpointing: {keep: 2}\n"), NULL, 0,
                    "t.yaml:8: checkpointing: unknown section", "output, checkpoint", NULL);
}

static void an_output_dir_too_long_for_the_default_checkpoint_dir_is_refused(void **state) {
    (void)state;
    static char text[DPT_PATH_MAX + 256];
    int n = snprintf(text, sizeof text, "%soutput:\n  dir: ", BASE);
    memset(text + n, 'd', DPT_PATH_MAX - 8); /* fits output.dir, not "<it>/checkpoints" */
    snprintf(text + n + DPT_PATH_MAX - 8, sizeof text - (size_t)(n + DPT_PATH_MAX - 8), "\n");
    assert_rejected(text, NULL, 0,
                    "t.yaml:9: output.dir: too long to hold the default "
                    "checkpoint.dir '<output.dir>/checkpoints'",
                    NULL);
    const char *explicit_dir[] = {"checkpoint.dir=ck"}; /* no default needed: fine */
    dpt_config c;
    load_ok(&c, text, explicit_dir, 1);
    assert_string_equal(c.ckpt_dir, "ck");
    assert_int_equal(strlen(c.output_dir), DPT_PATH_MAX - 8);
    dpt_config_free(&c);
}

/* ------------------------------------------------------------------------------------------ */

/* Loads BASE (+ extra text) with one override each for the checkpoint and the current side, and
 * returns dpt_config_model_diff's result with its message in msg. */
static int model_diff(const char *extra, const char *ov_ckpt, const char *ov_now, char *msg,
                      size_t len) {
    dpt_config a, b;
    const char *oa[] = {ov_ckpt}, *ob[] = {ov_now};
    load_ok(&a, with(extra), oa, ov_ckpt ? 1 : 0);
    load_ok(&b, with(extra), ob, ov_now ? 1 : 0);
    int rc = dpt_config_model_diff(&a, &b, msg, len);
    dpt_config_free(&a);
    dpt_config_free(&b);
    return rc;
}

static void model_diff_names_the_first_model_defining_difference(void **state) {
    (void)state;
    char msg[512];
    assert_int_equal(model_diff("", NULL, NULL, msg, sizeof msg), 0);
    assert_string_equal(msg, "");
    /* training-only keys are no model difference */
    assert_int_equal(model_diff("", "optimizer.lr=0.1", "training.epochs=3", msg, sizeof msg), 0);
    assert_int_equal(model_diff("", NULL, "model.layers.0.units=16", msg, sizeof msg), 1);
    assert_string_equal(msg, "model.layers.0.units: 8 in the checkpoint, 16 now");
    assert_int_equal(model_diff("", NULL, "model.layers.0.activation=tanh", msg, sizeof msg), 1);
    assert_string_equal(msg, "model.layers.0.activation: relu in the checkpoint, tanh now");
    assert_int_equal(model_diff("", "model.layers.1.name=head", NULL, msg, sizeof msg), 1);
    assert_string_equal(msg, "model.layers.1.name: head in the checkpoint, \"\" now");
    assert_int_equal(
        model_diff("", NULL, "model.layers.1={type: dropout, rate: 0.5}", msg, sizeof msg), 1);
    assert_string_equal(msg, "model.layers.1.type: dense in the checkpoint, dropout now");
    assert_int_equal(model_diff("", NULL,
                                "model.layers=[{type: dense, units: 8}, {type: dense, units: 4}, "
                                "{type: dense, units: 1}]",
                                msg, sizeof msg),
                     1);
    assert_string_equal(msg, "model.layers: 2 layers in the checkpoint, 3 now");
    assert_int_equal(model_diff("", "loss=mae", NULL, msg, sizeof msg), 1);
    assert_string_equal(msg, "loss: mae in the checkpoint, mse now");
    assert_int_equal(model_diff("", NULL, "data.x=features", msg, sizeof msg), 1);
    assert_string_equal(msg, "data.x: X in the checkpoint, features now");
    assert_int_equal(model_diff("", NULL, "data.normalize_y=false", msg, sizeof msg), 1);
    assert_string_equal(msg, "data.normalize_y: auto in the checkpoint, false now");
    assert_int_equal(model_diff("", NULL, "training.seed=7", msg, sizeof msg), 1);
    assert_string_equal(msg, "training.seed: 42 in the checkpoint, 7 now");
    assert_int_equal(model_diff("", NULL, "training.shuffle=false", msg, sizeof msg), 1);
    assert_string_equal(msg, "training.shuffle: true in the checkpoint, false now");
    assert_int_equal(model_diff("", NULL, "optimizer=sgd", msg, sizeof msg), 1);
    assert_string_equal(msg, "optimizer.name: adam in the checkpoint, sgd now");
    /* a cut message stays terminated */
    assert_int_equal(model_diff("", NULL, "model.layers.0.units=16", msg, 12), 1);
    assert_string_equal(msg, "model.layer");
}

/* Checkpoints store the FNV-1a hash of the canonical model text as model_hash: if the text of
 * an unchanged config changed by one byte, no old checkpoint would resume.  These hashes were
 * taken from the text before the layer types declared their own keys (main at 8212f09). */
static void model_text_is_pinned_byte_for_byte(void **state) {
    (void)state;
    static const char every_type[] =
        "model:\n  layers:\n"
        "    - {type: dense, units: 8, activation: leaky_relu, alpha: 0.3, kernel_init: he_normal,"
        " bias_init: uniform, init_scale: 0.2, use_bias: false, name: d0}\n"
        "    - {type: dropout, rate: 0.25}\n"
        "    - {type: activation, activation: elu}\n"
        "    - {type: repeat, steps: 3}\n"
        "    - {type: rnn, units: 4, activation: relu, return_sequences: true, bidirectional: true,"
        " bptt_steps: 2}\n"
        "    - {type: lstm, units: 5, return_sequences: true, kernel_init: ones}\n"
        "    - {type: gru, units: 3, use_bias: no}\n"
        "    - {type: dense, units: 2}\n"
        "loss: softmax_ce\n"
        "optimizer: {name: adamw, lr: 0.002}\n"
        "data: {train: a.h5, x: XX, y: yy, lengths: L, normalize_x: false, normalize_y: true,"
        " mode: streaming, block_rows: 100, shuffle_buffer: 1000}\n"
        "training: {seed: 7, shuffle: false}\n";
    static const char defaults[] = "model:\n  layers:\n    - {type: dense, units: 8}\n"
                                   "data:\n  train: t.h5\n";
    const struct {
        const char *text;
        uint64_t hash;
    } cases[] = {{every_type, 0x5f42781abfde4fc7ULL}, {defaults, 0x69437421cd3d09a5ULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dpt_config c;
        load_ok(&c, cases[i].text, NULL, 0);
        char *t = dpt_config_model_text(&c);
        uint64_t h = dpt_fnv1a(DPT_FNV_BASIS, t, strlen(t));
        if (h != cases[i].hash)
            fail_msg("case %zu: hash %016llx of:\n%s", i, (unsigned long long)h, t);
        free(t);
        dpt_config_free(&c);
    }
    dpt_config c;
    load_ok(&c, every_type, NULL, 0);
    char *t = dpt_config_model_text(&c);
    assert_non_null(strstr(t, "model.layers=8\nmodel.layers.0.type=dense\nmodel.layers.0.name=d0\n"
                              "model.layers.0.units=8\nmodel.layers.0.activation=leaky_relu\n"
                              "model.layers.0.alpha=0.3\n"));
    assert_non_null(strstr(t, "model.layers.4.activation=relu\nmodel.layers.4.return_sequences="
                              "true\n"));
    assert_non_null(strstr(t, "model.layers.7.alpha=default\nmodel.layers.7.kernel_init=\n"
                              "model.layers.7.bias_init=\nmodel.layers.7.init_scale=0\n"));
    assert_non_null(strstr(t, "\nloss=softmax_ce\ndata.x=XX\ndata.y=yy\ndata.lengths=L\n"
                              "data.normalize_x=false\ndata.normalize_y=true\ntraining.seed=7\n"
                              "training.shuffle=false\ndata.mode=streaming\ndata.block_rows=100\n"
                              "data.shuffle_buffer=1000\noptimizer.name=adamw\n"));
    free(t);
    dpt_config_free(&c);
}

/* The key table (io/config_keys.c): every row's default passes its own validation, every row
 * has help, and the rows a resume must keep are exactly the canonical model text's keys. */
static void every_config_key_is_declared_once_with_a_valid_default(void **state) {
    (void)state;
    int n;
    const dpt_key *keys = dpt_config_keys(&n);
    dpt_config scratch;
    char err[512] = "";
    memset(&scratch, 0, sizeof scratch);
    if (dpt_key_defaults(keys, n, &scratch, err, sizeof err)) fail_msg("%s", err);
    dpt_config c;
    load_ok(&c, BASE, NULL, 0);
    char *text = dpt_config_model_text(&c);
    for (int i = 0; i < n; i++) {
        char line[300];
        snprintf(line, sizeof line, "\n%s=", keys[i].name);
        assert_non_null(keys[i].help);
        assert_ptr_equal(dpt_config_key(keys[i].name), &keys[i]); /* no second row */
        /* data.target is in the text only when set (model_text_keys_if_set): see below. */
        bool in_text = strstr(text, line) != NULL || !strcmp(keys[i].name, "data.target");
        if (in_text != ((keys[i].flags & DPT_KEY_KEEP) != 0))
            fail_msg("%s: in the model text %d, flagged KEEP %d", keys[i].name, in_text,
                     (keys[i].flags & DPT_KEY_KEEP) != 0);
    }
    free(text);
    dpt_config_free(&c);
}

/* data.augment is a mapping of its own keys (read from the key table), data.target a choice. */
static void data_augment_and_target_are_read_and_checked(void **state) {
    (void)state;
    dpt_config c;
    load_ok(&c, with("  augment: {flip_horizontal: true, translate: 3}\n  target: input\n"), NULL,
            0);
    assert_true(c.aug_flip && c.aug_translate == 3 && c.target_input);
    dpt_config_free(&c);
    const char *ov[] = {"data.augment.translate=2"};
    load_ok(&c, BASE, ov, 1);
    assert_true(!c.aug_flip && c.aug_translate == 2 && !c.target_input);
    dpt_config_free(&c);
    assert_rejected(with("  augment: {flip: true}\n"), NULL, 0,
                    "t.yaml:8: data.augment.flip: unknown key; allowed keys: flip_horizontal, "
                    "translate",
                    NULL);
    assert_rejected(with("  augment: yes\n"), NULL, 0, "t.yaml:8: data.augment: expected a mapping",
                    NULL);
    assert_rejected(with("  augment: {translate: -1}\n"), NULL, 0,
                    "t.yaml:8: data.augment.translate", NULL);
    assert_rejected(with("  target: x\n"), NULL, 0,
                    "t.yaml:8: data.target: expected one of: y, input", NULL);
    assert_rejected(with("  target: input\n  normalize_y: true\n"), NULL, 0,
                    "t.yaml:9: data.normalize_y: cannot be true with data.target: input", NULL);
}

/* data.target: input joins the model text (a resume must keep it); the default y adds
 * nothing, so the text of every config without the key stays as it was. */
static void data_target_is_in_the_model_text_only_when_set(void **state) {
    (void)state;
    const char *in[] = {"data.target=input"};
    dpt_config a, b;
    load_ok(&a, BASE, NULL, 0);
    load_ok(&b, BASE, in, 1);
    char *ta = dpt_config_model_text(&a), *tb = dpt_config_model_text(&b), msg[256];
    assert_null(strstr(ta, "data.target"));
    assert_non_null(strstr(tb, "\ndata.target=input\n"));
    assert_int_equal(dpt_config_model_diff(&a, &b, msg, sizeof msg), 1);
    assert_string_equal(msg, "data.target: y in the checkpoint, input now");
    free(ta);
    free(tb);
    dpt_config_free(&a);
    dpt_config_free(&b);
}

static void model_text_changes_only_with_model_defining_keys(void **state) {
    (void)state;
    const char *lr[] = {"optimizer.lr=0.5", "checkpoint.keep=9"},
               *units[] = {"model.layers.1.units=2"};
    dpt_config a, b, c;
    load_ok(&a, BASE, NULL, 0);
    load_ok(&b, BASE, lr, 2);
    load_ok(&c, BASE, units, 1);
    char *ta = dpt_config_model_text(&a), *tb = dpt_config_model_text(&b),
         *tc = dpt_config_model_text(&c);
    assert_non_null(strstr(ta, "model.layers=2\nmodel.layers.0.type=dense\n"));
    assert_non_null(strstr(ta, "\nmodel.layers.0.units=8\n"));
    assert_non_null(strstr(ta, "\nloss=mse\n"));
    assert_null(strstr(ta, "rate=")); /* dense layers take no rate */
    assert_string_equal(ta, tb);
    assert_string_not_equal(ta, tc);
    free(ta);
    free(tb);
    free(tc);
    dpt_config_free(&a);
    dpt_config_free(&b);
    dpt_config_free(&c);
}

static void training_diff_lists_every_changed_training_key(void **state) {
    (void)state;
    const char *ov[] = {"training.epochs=20",       "optimizer.lr=0.0005", "data.train=b.h5",
                        "checkpoint.keep=5",        "schedule=cosine",     "clip.norm=1",
                        "data.validation_split=0.1"};
    dpt_config a, b;
    char msg[512];
    load_ok(&a, BASE, NULL, 0);
    load_ok(&b, BASE, ov, 7);
    assert_int_equal(dpt_config_training_diff(&a, &a, msg, sizeof msg), 0);
    assert_string_equal(msg, "");
    assert_int_equal(dpt_config_training_diff(&a, &b, msg, sizeof msg), 7);
    assert_string_equal(msg, "training.epochs 10 -> 20, optimizer.lr 0.001 -> 0.0005, "
                             "schedule.name constant -> cosine, clip.norm 0 -> 1, data.train "
                             "train.h5 -> b.h5, data.validation_split 0 -> 0.1, checkpoint.keep "
                             "3 -> 5");
    assert_int_equal(dpt_config_model_diff(&a, &b, msg, sizeof msg), 0);
    /* a short buffer cuts the list but not the count */
    assert_int_equal(dpt_config_training_diff(&a, &b, msg, 20), 7);
    assert_string_equal(msg, "training.epochs 10 ");
    dpt_config_free(&a);
    dpt_config_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_file_fills_every_field),
        cmocka_unit_test(omitted_keys_get_the_documented_defaults),
        cmocka_unit_test(optimizer_defaults_follow_the_chosen_optimizer),
        cmocka_unit_test(numbers_booleans_and_single_metric_forms_are_accepted),
        cmocka_unit_test(load_text_rebuilds_the_same_struct_as_the_file),
        cmocka_unit_test(graph_keys_are_read_from_names_and_lists),
        cmocka_unit_test(graph_keys_with_bad_values_are_rejected),
        cmocka_unit_test(override_replaces_an_existing_scalar),
        cmocka_unit_test(override_sets_a_field_of_a_list_item),
        cmocka_unit_test(override_creates_missing_keys_and_sections),
        cmocka_unit_test(override_value_with_yaml_specials_is_taken_verbatim),
        cmocka_unit_test(override_with_a_bad_path_is_rejected),
        cmocka_unit_test(override_with_a_bad_value_is_rejected),
        cmocka_unit_test(unknown_keys_are_reported_with_line_and_allowed_keys),
        cmocka_unit_test(wrong_types_say_what_was_expected),
        cmocka_unit_test(out_of_range_values_are_rejected),
        cmocka_unit_test(unknown_names_list_the_valid_ones),
        cmocka_unit_test(missing_required_keys_are_named),
        cmocka_unit_test(yaml_syntax_errors_give_line_and_column),
        cmocka_unit_test(duplicate_keys_are_rejected),
        cmocka_unit_test(conflicting_and_repeated_entries_are_rejected),
        cmocka_unit_test(recursive_and_exploding_aliases_are_bounded),
        cmocka_unit_test(unreadable_file_is_named),
        cmocka_unit_test(recurrent_layers_fill_their_fields),
        cmocka_unit_test(recurrent_defaults_are_tanh_last_step_one_direction_full_bptt),
        cmocka_unit_test(recurrent_layers_refuse_keys_and_values_they_do_not_take),
        cmocka_unit_test(recurrent_and_repeat_layers_need_units_and_steps),
        cmocka_unit_test(every_registered_layer_type_declares_valid_keys),
        cmocka_unit_test(data_lengths_is_auto_unless_named),
        cmocka_unit_test(data_lengths_must_be_a_short_name),
        cmocka_unit_test(checkpoint_and_nonfinite_keys_default_as_documented),
        cmocka_unit_test(checkpoint_and_nonfinite_keys_are_read),
        cmocka_unit_test(checkpoint_and_nonfinite_errors_name_key_and_line),
        cmocka_unit_test(an_output_dir_too_long_for_the_default_checkpoint_dir_is_refused),
        cmocka_unit_test(model_diff_names_the_first_model_defining_difference),
        cmocka_unit_test(model_text_is_pinned_byte_for_byte),
        cmocka_unit_test(data_target_is_in_the_model_text_only_when_set),
        cmocka_unit_test(data_augment_and_target_are_read_and_checked),
        cmocka_unit_test(every_config_key_is_declared_once_with_a_valid_default),
        cmocka_unit_test(model_text_changes_only_with_model_defining_keys),
        cmocka_unit_test(training_diff_lists_every_changed_training_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

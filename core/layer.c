/* The layer-type registry: layers are found by their YAML name, and adding a type means adding
 * one line here plus its file. */
#include "core/layer.h"

#include <math.h>
#include <string.h>

#include "core/util.h"

/* Defined in layer_<type>.c. */
extern const dpt_layer_type dpt_layer_dense_type;
extern const dpt_layer_type dpt_layer_activation_type;
extern const dpt_layer_type dpt_layer_dropout_type;
extern const dpt_layer_type dpt_layer_rnn_type;
extern const dpt_layer_type dpt_layer_lstm_type;
extern const dpt_layer_type dpt_layer_gru_type;
extern const dpt_layer_type dpt_layer_repeat_type;

static const dpt_layer_type *const layer_types[] = {
    &dpt_layer_dense_type, &dpt_layer_activation_type, &dpt_layer_dropout_type, &dpt_layer_rnn_type,
    &dpt_layer_lstm_type,  &dpt_layer_gru_type,        &dpt_layer_repeat_type,
};
#define NTYPES (sizeof layer_types / sizeof layer_types[0])

static const char *const layer_names[NTYPES + 1] = {"dense", "activation", "dropout", "rnn",
                                                    "lstm",  "gru",        "repeat",  NULL};

void dpt_layer_spec_defaults(dpt_layer_spec *s) {
    memset(s, 0, sizeof *s);
    s->use_bias = true;
    s->alpha = NAN;
}

const dpt_layer_type *dpt_layer_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(layer_types[i]->name, name) == 0) return layer_types[i];
    return NULL;
}

const char *const *dpt_layer_names(void) {
    return layer_names;
}

size_t dpt_layer_piece_start(const dpt_layer *l, int p) {
    int n = l->grad_pieces > 1 ? l->grad_pieces : 1;
    DPT_ASSERT(p >= 0 && p <= n);
    if (p == n) return l->nparams;
    const dpt_param_tensor *t = &l->tensors[0];
    return (size_t)((int64_t)t->dim[0] * p / n) * (size_t)t->dim[1];
}

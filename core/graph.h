/* The model as a graph (docs/config.md "Models as graphs"): turns the user's layer specs into
 * the model's layer list — specs expanded (a dense with a fused activation is two layers),
 * named, their `inputs` and `initial_state` resolved to the layers or model inputs they name,
 * and sorted so that every layer comes after the ones it reads — and plans the backward pass's
 * gradient buffers.  Pure bookkeeping on names and indices: core/model.c builds the layers. */
#ifndef DPT_GRAPH_H
#define DPT_GRAPH_H

#include <stdbool.h>

#include "core/layer.h"

/* Where one input of a layer comes from. */
typedef struct dpt_graph_src {
    int layer; /* index in the sorted list, or -1: model input `input` */
    int input;
    bool state; /* the layer's final state (an initial_state), not its output */
} dpt_graph_src;

typedef struct dpt_graph_node {
    dpt_layer_spec spec; /* the expanded part */
    int user;            /* index of the user's spec it came from (messages) */
    char name[DPT_NAME_MAX];
    int nsrc;
    dpt_graph_src src[DPT_LAYER_MAX_INPUTS]; /* `inputs`, then the initial state if any */
} dpt_graph_node;

/* Expands specs (nspecs >= 1, types known), names the layers (a spec's name goes to its first
 * part; unnamed layers are "<type>_<k>", k counting that type before it in the expanded list),
 * resolves every name against the layers and the model inputs (input_names, ninputs >= 1), and
 * sorts topologically, keeping the list order where it allows.  The last spec is the model's
 * output; every other layer and every model input must lead to it.  *nodes (malloc'd, *n of
 * them) on success.  Returns 0, or -1 with a message naming the layer (index, type, config
 * line): an unknown name, a name used twice, a cycle (its layers listed), a dead branch, a
 * first layer without `inputs` in a model of several inputs. */
int dpt_graph_plan(const dpt_layer_spec *specs, int nspecs, const char (*input_names)[DPT_NAME_MAX],
                   int ninputs, dpt_graph_node **nodes, int *n, char *err, size_t errlen);

/* The backward pass's buffers: value v is model input k (v = k), the output of layer i
 * (v = ninputs + i) or its state (v = ninputs + n + i).  Every gradient of a value lives in one
 * of nslots buffers while it is needed; an input gradient that another layer already started
 * goes through scratch buffer `scratch` and is then added in. */
#define DPT_GRAPH_ZERO (-2)

typedef struct dpt_graph_grad {
    int dy_slot;     /* gradient of the output; -1: the model's dout; DPT_GRAPH_ZERO: zeros (a layer
                        only its state is read of) */
    int dstate_slot; /* gradient of the state; -1: none (nobody reads it) */
    int dx_slot[DPT_LAYER_MAX_INPUTS]; /* where dx[k] goes; -1: nowhere (a model input) */
    bool dx_add[DPT_LAYER_MAX_INPUTS]; /* dx[k] goes to scratch[dx_scratch[k]], then is added
                                          into slot dx_slot[k] */
    int dx_scratch[DPT_LAYER_MAX_INPUTS];
} dpt_graph_grad;

/* Plans the slots for nodes (sorted, the last one the output): g (n) per layer, and returns
 * the number of slots in *nslots and of scratch buffers in *nscratch.  A chain needs 2 slots
 * and no scratch. */
void dpt_graph_plan_grads(const dpt_graph_node *nodes, int n, int ninputs, dpt_graph_grad *g,
                          int *nslots, int *nscratch);

#endif

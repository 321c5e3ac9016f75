/* The model as a graph: expanding, naming, resolving and sorting the layer specs, and the plan of
 * the backward pass's gradient buffers (core/graph.h). */
#include "core/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

typedef struct plan {
    const dpt_layer_spec *specs;
    int nspecs;
    const char (*inputs)[DPT_NAME_MAX];
    int ninputs;
    dpt_graph_node *nodes; /* (n) in list order until sorted */
    int n;
    int *last; /* (nspecs) the last node of each spec */
    char *err;
    size_t errlen;
} plan;

static int node_err(const plan *p, int i, const char *msg) {
    const dpt_graph_node *nd = &p->nodes[i];
    return dpt_layer_spec_err(p->err, p->errlen, nd->user, &p->specs[nd->user], msg);
}

/* ---- expanding and naming ---- */

static int expand(const dpt_layer_spec *s, dpt_layer_spec out[2]) {
    const dpt_layer_type *t = dpt_layer_find(s->type);
    if (t->split) return t->split(s, out);
    out[0] = *s;
    return 1;
}

static void expand_all(plan *p) {
    dpt_layer_spec parts[2];
    int n = 0;
    for (int i = 0; i < p->nspecs; i++) n += expand(&p->specs[i], parts);
    p->nodes = dpt_calloc((size_t)n, sizeof *p->nodes);
    p->last = dpt_calloc((size_t)p->nspecs, sizeof *p->last);
    for (int i = 0; i < p->nspecs; i++) {
        int np = expand(&p->specs[i], parts);
        for (int k = 0; k < np; k++) {
            p->nodes[p->n].spec = parts[k];
            p->nodes[p->n].user = i;
            p->n++;
        }
        p->last[i] = p->n - 1;
    }
}

static bool is_input_name(const plan *p, const char *name) {
    for (int k = 0; k < p->ninputs; k++)
        if (strcmp(p->inputs[k], name) == 0) return true;
    return false;
}

static int name_node(plan *p, int i) {
    dpt_graph_node *nd = &p->nodes[i];
    char msg[256];
    if (nd->spec.name[0]) {
        memcpy(nd->name, nd->spec.name, sizeof nd->name);
    } else {
        int k = 0;
        for (int j = 0; j < i; j++) k += strcmp(p->nodes[j].spec.type, nd->spec.type) == 0;
        snprintf(nd->name, sizeof nd->name, "%s_%d", nd->spec.type, k);
    }
    if (strchr(nd->name, '/')) {
        snprintf(msg, sizeof msg, "name '%s' must not contain '/' (names become HDF5 datasets)",
                 nd->name);
        return node_err(p, i, msg);
    }
    for (int j = 0; j < i; j++) {
        if (strcmp(p->nodes[j].name, nd->name) != 0) continue;
        snprintf(msg, sizeof msg,
                 "name '%s' is already used by an earlier layer (names must be unique)", nd->name);
        return node_err(p, i, msg);
    }
    if (is_input_name(p, nd->name)) {
        snprintf(msg, sizeof msg,
                 "name '%s' is also the name of a model input (names must be unique)", nd->name);
        return node_err(p, i, msg);
    }
    return 0;
}

/* ---- resolving names ---- */

static int find_node(const plan *p, const char *name) {
    for (int j = 0; j < p->n; j++)
        if (strcmp(p->nodes[j].name, name) == 0) return j;
    return -1;
}

static int unknown_name(const plan *p, int i, const char *key, const char *name) {
    char msg[640], known[384];
    size_t len = 0;
    known[0] = '\0';
    for (int k = 0; k < p->ninputs && len < sizeof known; k++)
        len += (size_t)snprintf(known + len, sizeof known - len, "%s%s (input)", len ? ", " : "",
                                p->inputs[k]);
    for (int j = 0; j < p->n && len < sizeof known; j++)
        if (j != i)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "",
                                    p->nodes[j].name);
    snprintf(msg, sizeof msg, "%s: no layer or model input is named '%s' (expected one of: %s)",
             key, name, known);
    return node_err(p, i, msg);
}

/* The source that name stands for as an input of node i: a model input, or a layer's output
 * (a spec's name stands for its last part: a dense's activated output). */
static int resolve_input(const plan *p, int i, const char *name, dpt_graph_src *src) {
    for (int k = 0; k < p->ninputs; k++) {
        if (strcmp(p->inputs[k], name) != 0) continue;
        *src = (dpt_graph_src){.layer = -1, .input = k};
        return 0;
    }
    int j = find_node(p, name);
    if (j < 0) return unknown_name(p, i, "inputs", name);
    *src = (dpt_graph_src){.layer = p->last[p->nodes[j].user]};
    if (p->nodes[j].spec.name[0] == '\0') src->layer = j; /* an automatic name: that part */
    return 0;
}

static int default_input(const plan *p, int i, dpt_graph_src *src) {
    const dpt_graph_node *nd = &p->nodes[i];
    char msg[512];
    if (nd->user > 0) {
        *src = (dpt_graph_src){.layer = p->last[nd->user - 1]};
        return 0;
    }
    if (p->ninputs == 1) {
        *src = (dpt_graph_src){.layer = -1, .input = 0};
        return 0;
    }
    snprintf(msg, sizeof msg,
             "the model has %d inputs, so the first layer must say which it reads (expected "
             "inputs: <one of the names under model.inputs>)",
             p->ninputs);
    return node_err(p, i, msg);
}

static int resolve_state(plan *p, int i) {
    dpt_graph_node *nd = &p->nodes[i];
    const char *name = nd->spec.initial_state;
    char msg[384];
    if (!name[0]) return 0;
    if (is_input_name(p, name)) {
        snprintf(msg, sizeof msg,
                 "initial_state: '%s' is a model input; expected the name of a recurrent layer "
                 "whose final state starts this one",
                 name);
        return node_err(p, i, msg);
    }
    int j = find_node(p, name);
    if (j < 0) return unknown_name(p, i, "initial_state", name);
    if (nd->nsrc == DPT_LAYER_MAX_INPUTS) {
        snprintf(msg, sizeof msg, "more than %d inputs with the initial state",
                 DPT_LAYER_MAX_INPUTS);
        return node_err(p, i, msg);
    }
    nd->src[nd->nsrc++] = (dpt_graph_src){.layer = j, .state = true};
    return 0;
}

static int resolve(plan *p, int i) {
    dpt_graph_node *nd = &p->nodes[i];
    bool first_part = i == 0 || p->nodes[i - 1].user != nd->user;
    if (!first_part) { /* the activation of a dense: reads the dense */
        nd->src[nd->nsrc++] = (dpt_graph_src){.layer = i - 1};
        return 0;
    }
    if (nd->spec.ninputs == 0 && default_input(p, i, &nd->src[nd->nsrc++])) return -1;
    for (int k = 0; k < nd->spec.ninputs; k++)
        if (resolve_input(p, i, nd->spec.inputs[k], &nd->src[nd->nsrc++])) return -1;
    return resolve_state(p, i);
}

/* ---- sorting ---- */

static bool reads(const dpt_graph_node *nd, int j) {
    for (int k = 0; k < nd->nsrc; k++)
        if (nd->src[k].layer == j) return true;
    return false;
}

/* A cycle among the nodes not placed (done[j] false): followed from one of them. */
static int cycle_err(const plan *p, const bool *done) {
    int start = 0;
    while (done[start]) start++;
    int *seen = dpt_calloc((size_t)p->n, sizeof *seen), at = start, step = 1;
    while (!seen[at]) { /* every unplaced node reads an unplaced node */
        seen[at] = step++;
        const dpt_graph_node *nd = &p->nodes[at];
        for (int k = 0; k < nd->nsrc; k++) {
            int j = nd->src[k].layer;
            if (j >= 0 && !done[j]) {
                at = j;
                break;
            }
        }
    }
    char path[512], msg[640];
    size_t len = 0;
    int from = at;
    do {
        len += (size_t)snprintf(path + len, sizeof path - len, "%s%s", len ? " <- " : "",
                                p->nodes[at].name);
        const dpt_graph_node *nd = &p->nodes[at];
        for (int k = 0; k < nd->nsrc; k++)
            if (nd->src[k].layer >= 0 && !done[nd->src[k].layer] && seen[nd->src[k].layer] > 0) {
                at = nd->src[k].layer;
                break;
            }
    } while (at != from && len < sizeof path);
    snprintf(path + (len < sizeof path ? len : sizeof path - 1),
             sizeof path - (len < sizeof path ? len : sizeof path - 1), " <- %s",
             p->nodes[from].name);
    free(seen);
    snprintf(msg, sizeof msg,
             "the layers' inputs form a cycle: %s (a model must be acyclic: expected each layer "
             "to read only layers that do not read it back)",
             path);
    return node_err(p, from, msg);
}

/* Kahn's algorithm, taking the earliest ready layer in list order each time. */
static int sort_nodes(plan *p) {
    bool *done = dpt_calloc((size_t)p->n, sizeof *done);
    int *order = dpt_calloc((size_t)p->n, sizeof *order),
        *pos = dpt_calloc((size_t)p->n, sizeof *pos);
    for (int placed = 0; placed < p->n; placed++) {
        int pick = -1;
        for (int i = 0; i < p->n && pick < 0; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (int k = 0; k < p->nodes[i].nsrc && ready; k++)
                ready = p->nodes[i].src[k].layer < 0 || done[p->nodes[i].src[k].layer];
            if (ready) pick = i;
        }
        if (pick < 0) {
            int rc = cycle_err(p, done);
            free(done), free(order), free(pos);
            return rc;
        }
        done[pick] = true;
        pos[pick] = placed;
        order[placed] = pick;
    }
    dpt_graph_node *sorted = dpt_calloc((size_t)p->n, sizeof *sorted);
    for (int i = 0; i < p->n; i++) {
        sorted[i] = p->nodes[order[i]];
        for (int k = 0; k < sorted[i].nsrc; k++)
            if (sorted[i].src[k].layer >= 0) sorted[i].src[k].layer = pos[sorted[i].src[k].layer];
    }
    free(p->nodes);
    p->nodes = sorted;
    free(done), free(order), free(pos);
    return 0;
}

/* Every layer leads to the output (the last spec, now the last node) and every input is read. */
static int check_reach(const plan *p) {
    bool *live = dpt_calloc((size_t)p->n, sizeof *live), *used = dpt_calloc((size_t)p->ninputs, 1);
    char msg[384];
    int rc = 0;
    live[p->n - 1] = true;
    for (int i = p->n - 1; i >= 0; i--) {
        if (!live[i]) continue;
        for (int k = 0; k < p->nodes[i].nsrc; k++) {
            const dpt_graph_src *s = &p->nodes[i].src[k];
            if (s->layer >= 0)
                live[s->layer] = true;
            else
                used[s->input] = true;
        }
    }
    for (int i = 0; i < p->n && !rc; i++) {
        if (live[i]) continue;
        snprintf(msg, sizeof msg,
                 "the output of '%s' leads nowhere: no layer after it reads it and it is not the "
                 "model's output (the last layer); expected another layer's inputs to name it, or "
                 "no such layer",
                 p->nodes[i].name);
        rc = node_err(p, i, msg);
    }
    for (int k = 0; k < p->ninputs && !rc; k++)
        if (!used[k])
            rc = dpt_err(p->err, p->errlen,
                         "model input '%s' is read by no layer that leads to the output (expected "
                         "a layer with inputs: %s)",
                         p->inputs[k], p->inputs[k]);
    free(live);
    free(used);
    return rc;
}

/* The last spec's nodes must end the list: a layer that names a later one is a cycle or reads
 * forward, which sorting resolves; only the output's position is fixed. */
int dpt_graph_plan(const dpt_layer_spec *specs, int nspecs, const char (*input_names)[DPT_NAME_MAX],
                   int ninputs, dpt_graph_node **nodes, int *n, char *err, size_t errlen) {
    DPT_ASSERT(nspecs >= 1 && ninputs >= 1);
    plan p = {.specs = specs,
              .nspecs = nspecs,
              .inputs = input_names,
              .ninputs = ninputs,
              .err = err,
              .errlen = errlen};
    expand_all(&p);
    int rc = 0;
    for (int i = 0; i < p.n && !rc; i++) rc = name_node(&p, i);
    for (int i = 0; i < p.n && !rc; i++) rc = resolve(&p, i);
    int out = p.n - 1;
    for (int i = 0; i < p.n && !rc; i++)
        if (reads(&p.nodes[i], out) && i != out) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "reads '%s', the model's output (the last layer); expected the output to be "
                     "read by no layer (put the layer that reads it last, or read another one)",
                     p.nodes[out].name);
            rc = node_err(&p, i, msg);
        }
    if (!rc) rc = sort_nodes(&p);
    if (!rc) rc = check_reach(&p);
    free(p.last);
    if (rc) {
        free(p.nodes);
        return -1;
    }
    *nodes = p.nodes;
    *n = p.n;
    return 0;
}

/* ---- gradient buffers ---- */

typedef struct slots {
    int *of;    /* (nvalues) slot holding each value's gradient, -1 none */
    bool *busy; /* (n_max) */
    int n;
} slots;

static int take_slot(slots *s) {
    for (int k = 0; k < s->n; k++)
        if (!s->busy[k]) {
            s->busy[k] = true;
            return k;
        }
    s->busy[s->n] = true;
    return s->n++;
}

static void drop_slot(slots *s, int v) {
    if (s->of[v] >= 0) s->busy[s->of[v]] = false;
    s->of[v] = -1;
}

void dpt_graph_plan_grads(const dpt_graph_node *nodes, int n, int ninputs, dpt_graph_grad *g,
                          int *nslots, int *nscratch) {
    int nv = ninputs + 2 * n;
    slots s = {.of = dpt_calloc((size_t)nv, sizeof(int)), .busy = dpt_calloc((size_t)nv, 1)};
    for (int v = 0; v < nv; v++) s.of[v] = -1;
    *nscratch = 0;
    for (int i = n - 1; i >= 0; i--) {
        const dpt_graph_node *nd = &nodes[i];
        dpt_graph_grad *gi = &g[i];
        gi->dy_slot = s.of[ninputs + i];
        if (gi->dy_slot < 0 && i < n - 1) gi->dy_slot = DPT_GRAPH_ZERO; /* only its state is read */
        gi->dstate_slot = s.of[ninputs + n + i]; /* -1 when nobody reads the state */
        int scratch = 0;
        for (int k = 0; k < nd->nsrc; k++) {
            const dpt_graph_src *src = &nd->src[k];
            gi->dx_add[k] = false;
            gi->dx_scratch[k] = -1;
            gi->dx_slot[k] = -1;
            if (src->layer < 0) continue;
            int v = ninputs + (src->state ? n : 0) + src->layer;
            if (s.of[v] < 0) {
                s.of[v] = take_slot(&s);
            } else {
                gi->dx_add[k] = true;
                gi->dx_scratch[k] = scratch++;
            }
            gi->dx_slot[k] = s.of[v];
        }
        if (scratch > *nscratch) *nscratch = scratch;
        drop_slot(&s, ninputs + i);
        drop_slot(&s, ninputs + n + i);
    }
    *nslots = s.n;
    free(s.of);
    free(s.busy);
}

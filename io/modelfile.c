/* The contents shared by model files and checkpoints: root attributes, the stored config, the
 * parameter tensors and the norms, written and read back with every shape checked.  Layout:
 * docs/checkpoint.md; see io/modelfile.h. */
#include "io/modelfile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/vocab.h"

/* ---- writing ---- */

/* The tensor's dimensions as HDF5 takes them. */
static void tensor_dims(const dpt_param_tensor *pt, hsize_t dims[DPT_TENSOR_MAX_DIMS]) {
    for (int d = 0; d < DPT_TENSOR_MAX_DIMS; d++) dims[d] = d < pt->ndim ? (hsize_t)pt->dim[d] : 0;
}

/* A per-sample shape as an int32 (rank) array attribute. */
static void put_shape(dpt_h5w *w, const char *name, const dpt_shape *sh) {
    if (w->failed) return;
    hsize_t n = (hsize_t)sh->rank;
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(w->file, name, H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, H5T_NATIVE_INT, sh->dim) < 0) dpt_h5w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
}

static void put_header(dpt_h5w *w, const char *format, int version, const dpt_model *m) {
    uint64_t nparams = m->nparams, checksum = dpt_model_checksum(m);
    dpt_h5w_string(w, w->file, "format", format, 1);
    dpt_h5w_attr(w, w->file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version);
    dpt_h5w_string(w, w->file, "dptrain_version", DPT_VERSION, 1);
    dpt_h5w_attr(w, w->file, "nparams", H5T_STD_U64LE, H5T_NATIVE_UINT64, &nparams);
    dpt_h5w_attr(w, w->file, "checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64, &checksum);
    dpt_h5w_attr(w, w->file, "in_features", H5T_STD_I32LE, H5T_NATIVE_INT, &m->in_features);
    dpt_h5w_attr(w, w->file, "in_steps", H5T_STD_I32LE, H5T_NATIVE_INT, &m->in_steps);
    dpt_h5w_attr(w, w->file, "out_features", H5T_STD_I32LE, H5T_NATIVE_INT, &m->out_features);
    put_shape(w, "input_shape", &m->in_shape);
    dpt_h5w_string(w, w->file, "input_dtype", dpt_dtype_name(m->in_shape.dtype), 1);
    put_shape(w, "output_shape", &m->out_shape);
    if (m->ninputs < 2) return;
    dpt_h5w_attr(w, w->file, "ninputs", H5T_STD_I32LE, H5T_NATIVE_INT, &m->ninputs);
    for (int k = 0; k < m->ninputs; k++) {
        char name[32];
        snprintf(name, sizeof name, "input_shape_%d", k);
        put_shape(w, name, &m->inputs[k].shape);
        snprintf(name, sizeof name, "input_dtype_%d", k);
        dpt_h5w_string(w, w->file, name, dpt_dtype_name(m->inputs[k].shape.dtype), 1);
    }
}

static void put_config(dpt_h5w *w, const dpt_config *c) {
    size_t len = 1;
    for (int i = 0; i < c->noverrides; i++) len += strlen(c->overrides[i]) + 1;
    char *joined = dpt_calloc(len, 1); /* (len) "k=v\nk=v" */
    for (int i = 0; i < c->noverrides; i++) {
        if (i) strcat(joined, "\n");
        strcat(joined, c->overrides[i]);
    }
    dpt_h5w_string(w, w->file, "config", c->text, 0);
    dpt_h5w_string(w, w->file, "config_overrides", joined, 0);
    free(joined);
}

/* One dataset per tensor of the list (n) from buf, in group g. */
static void put_list(dpt_h5w *w, hid_t g, const dpt_param_tensor *list, int n, const float *buf) {
    for (int t = 0; t < n; t++) {
        hsize_t dims[DPT_TENSOR_MAX_DIMS];
        tensor_dims(&list[t], dims);
        dpt_h5w_array(w, g, list[t].name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, list[t].ndim, dims,
                      buf + list[t].offset);
    }
}

/* <name>/<layer>/<tensor> from buf, and the layers' state tensors from state (NULL: none). */
static void put_tensors(dpt_h5w *w, hid_t loc, const char *name, const dpt_model *m,
                        const float *buf, const float *state) {
    hid_t top = dpt_h5w_group(w, loc, name);
    for (int i = 0; i < m->nlayers && !w->failed; i++) {
        const dpt_layer *l = &m->layers[i];
        int nstates = state ? l->nstates : 0;
        if (l->ntensors == 0 && nstates == 0) continue;
        hid_t g = dpt_h5w_group(w, top, l->name);
        put_list(w, g, l->tensors, l->ntensors, buf);
        put_list(w, g, l->states, nstates, state);
        if (g >= 0) H5Gclose(g);
    }
    if (top >= 0) H5Gclose(top);
}

void dpt_modelfile_write_tensors(dpt_h5w *w, hid_t loc, const char *name, const dpt_model *m,
                                 const float *buf) {
    put_tensors(w, loc, name, m, buf, NULL);
}

static void put_norm(dpt_h5w *w, hid_t g, const dpt_norm *n, const char *mean, const char *std) {
    hsize_t dims[1] = {(hsize_t)n->F};
    dpt_h5w_array(w, g, mean, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, n->mean);
    dpt_h5w_array(w, g, std, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, n->std);
}

void dpt_modelfile_write(dpt_h5w *w, const char *format, int version, const dpt_model *m,
                         const dpt_config *c, const dpt_norm *xnorm, const dpt_norm *ynorm) {
    put_header(w, format, version, m);
    put_config(w, c);
    put_tensors(w, w->file, "params", m, m->params, m->state);
    char why[512];
    if (c->vocab && !w->failed && dpt_vocab_write(c->vocab, w->file, why, sizeof why))
        dpt_h5w_fail(w, "vocab");
    int xon = xnorm && xnorm->enabled, yon = ynorm && ynorm->enabled;
    if (!xon && !yon) return;
    hid_t g = dpt_h5w_group(w, w->file, "norm");
    if (xon) put_norm(w, g, xnorm, "x_mean", "x_std");
    if (yon) put_norm(w, g, ynorm, "y_mean", "y_std");
    if (g >= 0) H5Gclose(g);
}

/* ---- reading ---- */

int dpt_modelfile_read_version(hid_t file, const char *path, const char *what, int *version,
                               char *err, size_t errlen) {
    if (dpt_h5r_num_attr(file, path, "format_version", H5T_NATIVE_INT, version, err, errlen))
        return -1;
    if (*version >= DPT_MODELFILE_VERSION_MIN && *version <= DPT_MODELFILE_VERSION) return 0;
    return dpt_err(err, errlen,
                   "%s: %s format_version %d is not supported (this dptrain reads %d to %d%s)",
                   path, what, *version, DPT_MODELFILE_VERSION_MIN, DPT_MODELFILE_VERSION,
                   *version > DPT_MODELFILE_VERSION ? "; a newer dptrain wrote it" : "");
}

/* Root attribute `name`: an int32 array of 1..DPT_SHAPE_MAX_RANK dimensions, each >= 1. */
static int get_shape(hid_t file, const char *path, const char *name, dpt_shape *sh, char *err,
                     size_t errlen) {
    memset(sh, 0, sizeof *sh);
    hid_t a = H5Aexists(file, name) > 0 ? H5Aopen(file, name, H5P_DEFAULT) : -1;
    if (a < 0) return dpt_err(err, errlen, "%s: no attribute '%s'", path, name);
    hid_t space = H5Aget_space(a), type = H5Aget_type(a);
    hsize_t n = 0;
    int ok = H5Sget_simple_extent_ndims(space) == 1 && H5Tget_class(type) == H5T_INTEGER;
    if (ok) H5Sget_simple_extent_dims(space, &n, NULL);
    ok = ok && n >= 1 && n <= DPT_SHAPE_MAX_RANK && H5Aread(a, H5T_NATIVE_INT, sh->dim) >= 0;
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(a);
    sh->rank = ok ? (int)n : 0;
    char why[128];
    if (ok && dpt_shape_check(sh, why, sizeof why) == 0) return 0;
    return dpt_err(err, errlen, "%s: attribute '%s': expected 1 to %d dimensions, each >= 1", path,
                   name, DPT_SHAPE_MAX_RANK);
}

/* An input shape and its element type: attributes `shape` and `dtype`. */
static int read_input(hid_t file, const char *path, const char *shape, const char *dtype_name,
                      dpt_shape *sh, char *err, size_t errlen) {
    if (get_shape(file, path, shape, sh, err, errlen)) return -1;
    char *dtype = dpt_h5r_string_attr(file, dtype_name);
    int rc = 0;
    if (dtype && strcmp(dtype, "int32") == 0)
        sh->dtype = DPT_I32;
    else if (!dtype || strcmp(dtype, "float32") != 0)
        rc = dpt_err(err, errlen, "%s: attribute '%s' is '%s', expected 'float32' or 'int32'", path,
                     dtype_name, dtype ? dtype : "(missing or not a string)");
    free(dtype);
    return rc;
}

/* A model of several inputs: ninputs, input_shape_<k>, input_dtype_<k>. */
static int read_inputs(hid_t file, const char *path, dpt_modelfile_header *h, char *err,
                       size_t errlen) {
    h->ninputs = 1;
    if (H5Aexists(file, "ninputs") <= 0) return 0;
    if (dpt_h5r_num_attr(file, path, "ninputs", H5T_NATIVE_INT, &h->ninputs, err, errlen))
        return -1;
    if (h->ninputs < 2 || h->ninputs > DPT_MODEL_MAX_INPUTS)
        return dpt_err(err, errlen, "%s: attribute 'ninputs' is %d, expected 2 to %d", path,
                       h->ninputs, DPT_MODEL_MAX_INPUTS);
    for (int k = 0; k < h->ninputs; k++) {
        char shape[32], dtype[32];
        snprintf(shape, sizeof shape, "input_shape_%d", k);
        snprintf(dtype, sizeof dtype, "input_dtype_%d", k);
        if (read_input(file, path, shape, dtype, &h->in_shapes[k], err, errlen)) return -1;
    }
    return 0;
}

/* input_shape, input_dtype, output_shape (version 2 files). */
static int read_shapes(hid_t file, const char *path, dpt_modelfile_header *h, char *err,
                       size_t errlen) {
    if (read_input(file, path, "input_shape", "input_dtype", &h->in_shape, err, errlen) ||
        get_shape(file, path, "output_shape", &h->out_shape, err, errlen) ||
        read_inputs(file, path, h, err, errlen))
        return -1;
    h->in_shapes[0] = h->ninputs > 1 ? h->in_shapes[0] : h->in_shape;
    h->has_shapes = true;
    return 0;
}

int dpt_modelfile_read_header(hid_t file, const char *path, dpt_modelfile_header *h, char *err,
                              size_t errlen) {
    memset(h, 0, sizeof *h);
    if (dpt_h5r_num_attr(file, path, "nparams", H5T_NATIVE_UINT64, &h->nparams, err, errlen) ||
        dpt_h5r_num_attr(file, path, "checksum", H5T_NATIVE_UINT64, &h->checksum, err, errlen) ||
        dpt_h5r_num_attr(file, path, "in_features", H5T_NATIVE_INT, &h->in_features, err, errlen) ||
        dpt_h5r_num_attr(file, path, "out_features", H5T_NATIVE_INT, &h->out_features, err, errlen))
        return -1;
    if (h->in_features < 1)
        return dpt_err(err, errlen, "%s: in_features is %d, expected >= 1", path, h->in_features);
    h->in_steps = 1;
    if (H5Aexists(file, "in_steps") > 0 &&
        dpt_h5r_num_attr(file, path, "in_steps", H5T_NATIVE_INT, &h->in_steps, err, errlen))
        return -1;
    if (h->in_steps < 1)
        return dpt_err(err, errlen, "%s: in_steps is %d, expected >= 1", path, h->in_steps);
    if (H5Aexists(file, "input_shape") > 0) {
        if (read_shapes(file, path, h, err, errlen)) return -1;
        if (dpt_shape_last(&h->in_shape) == h->in_features &&
            dpt_shape_outer(&h->in_shape) == h->in_steps)
            return 0;
        char s[96];
        return dpt_err(err, errlen,
                       "%s: attribute 'input_shape' %s disagrees with in_steps %d x in_features "
                       "%d: the file is corrupt or was edited",
                       path, dpt_shape_str(&h->in_shape, s, sizeof s), h->in_steps, h->in_features);
    }
    /* Version 1: what the model was built from, float32 input (the only kind then). */
    h->in_shape =
        h->in_steps > 1 ? dpt_shape_2d(h->in_steps, h->in_features) : dpt_shape_1d(h->in_features);
    h->ninputs = 1;
    h->in_shapes[0] = h->in_shape;
    return 0;
}

int dpt_modelfile_check_shapes(dpt_modelfile_header *h, const char *path, const dpt_model *m,
                               char *err, size_t errlen) {
    if (!h->has_shapes) {
        h->out_shape = m->out_shape;
        return 0;
    }
    if (dpt_shape_equal(&h->in_shape, &m->in_shape) &&
        dpt_shape_equal(&h->out_shape, &m->out_shape))
        return 0;
    char a[96], b[96], c[96], d[96];
    return dpt_err(
        err, errlen,
        "%s: the file records input %s and output %s per sample, but the model built "
        "from the config has input %s and output %s",
        path, dpt_shape_str(&h->in_shape, a, sizeof a), dpt_shape_str(&h->out_shape, b, sizeof b),
        dpt_shape_str(&m->in_shape, c, sizeof c), dpt_shape_str(&m->out_shape, d, sizeof d));
}

/* The tensors of the list (n) of layer l under prefix into buf. */
static int get_list(hid_t file, const char *path, const char *prefix, const dpt_layer *l,
                    const dpt_param_tensor *list, int n, float *buf, char *err, size_t errlen) {
    for (int t = 0; t < n; t++) {
        char name[2 * DPT_NAME_MAX + 64];
        snprintf(name, sizeof name, "%s/%s/%s", prefix, l->name, list[t].name);
        hsize_t dims[DPT_TENSOR_MAX_DIMS];
        tensor_dims(&list[t], dims);
        if (dpt_h5r_f32(file, path, name, list[t].ndim, dims, buf + list[t].offset, err, errlen))
            return -1;
    }
    return 0;
}

int dpt_modelfile_read_tensors(hid_t file, const char *path, const char *prefix, const dpt_model *m,
                               float *buf, char *err, size_t errlen) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (get_list(file, path, prefix, l, l->tensors, l->ntensors, buf, err, errlen)) return -1;
    }
    return 0;
}

int dpt_modelfile_read_state(hid_t file, const char *path, const dpt_model *m, float *state,
                             char *err, size_t errlen) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (get_list(file, path, "/params", l, l->states, l->nstates, state, err, errlen))
            return -1;
    }
    return 0;
}

int dpt_modelfile_read_config(hid_t file, const char *path, dpt_config *c, char *err,
                              size_t errlen) {
    memset(c, 0, sizeof *c);
    char *text = dpt_h5r_string_dataset(file, "/config");
    if (!text) return dpt_err(err, errlen, "%s: no string dataset /config", path);
    char *joined = dpt_h5r_string_dataset(file, "/config_overrides");
    const char *ov[DPT_MAX_OVERRIDES];
    int nov = 0;
    char *save = NULL;
    for (char *line = joined ? strtok_r(joined, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save))
        if (nov < DPT_MAX_OVERRIDES) ov[nov++] = line;
    char name[DPT_PATH_MAX + 16];
    snprintf(name, sizeof name, "%s:/config", path);
    int rc = dpt_config_load_text(c, text, name, ov, nov, err, errlen);
    free(text);
    free(joined);
    if (rc || !dpt_vocab_has(file)) return rc;
    c->vocab = dpt_calloc(1, sizeof *c->vocab);
    char why[768];
    if (dpt_vocab_read(c->vocab, file, why, sizeof why) == 0) return 0;
    dpt_config_free(c);
    return dpt_err(err, errlen, "%s: %s", path, why);
}

/* Fills n from /norm/<mean>, /norm/<std> when present (F values each); disabled otherwise. */
static int load_norm(hid_t file, const char *path, dpt_norm *n, const char *mean, const char *std,
                     int F, char *err, size_t errlen) {
    char mname[32], sname[32];
    snprintf(mname, sizeof mname, "/norm/%s", mean);
    snprintf(sname, sizeof sname, "/norm/%s", std);
    memset(n, 0, sizeof *n);
    if (!dpt_h5r_exists(file, mname)) return 0;
    dpt_norm_alloc(n, F);
    hsize_t dims[1] = {(hsize_t)F};
    if (dpt_h5r_f32(file, path, mname, 1, dims, n->mean, err, errlen) ||
        dpt_h5r_f32(file, path, sname, 1, dims, n->std, err, errlen)) {
        dpt_norm_free(n);
        memset(n, 0, sizeof *n);
        return -1;
    }
    n->enabled = true;
    return 0;
}

int dpt_modelfile_read_norms(hid_t file, const char *path, const dpt_model *m, dpt_norm *xnorm,
                             dpt_norm *ynorm, char *err, size_t errlen) {
    memset(ynorm, 0, sizeof *ynorm);
    if (load_norm(file, path, xnorm, "x_mean", "x_std", m->in_features, err, errlen)) return -1;
    if (load_norm(file, path, ynorm, "y_mean", "y_std", m->out_features, err, errlen) == 0)
        return 0;
    dpt_norm_free(xnorm);
    memset(xnorm, 0, sizeof *xnorm);
    return -1;
}

/* The contents shared by model files and checkpoints: root attributes, the stored config, the
 * parameter tensors and the norms, written and read back with every shape checked.  Layout:
 * docs/checkpoint.md; see io/modelfile.h. */
#include "io/modelfile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- writing ---- */

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

void dpt_modelfile_write_tensors(dpt_h5w *w, hid_t loc, const char *name, const dpt_model *m,
                                 const float *buf) {
    hid_t top = dpt_h5w_group(w, loc, name);
    for (int i = 0; i < m->nlayers && !w->failed; i++) {
        const dpt_layer *l = &m->layers[i];
        if (l->ntensors == 0) continue;
        hid_t g = dpt_h5w_group(w, top, l->name);
        for (int t = 0; t < l->ntensors; t++) {
            const dpt_param_tensor *pt = &l->tensors[t];
            hsize_t dims[2] = {(hsize_t)pt->dim[0], (hsize_t)pt->dim[1]};
            dpt_h5w_array(w, g, pt->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, pt->ndim, dims,
                          buf + pt->offset);
        }
        if (g >= 0) H5Gclose(g);
    }
    if (top >= 0) H5Gclose(top);
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
    dpt_modelfile_write_tensors(w, w->file, "params", m, m->params);
    int xon = xnorm && xnorm->enabled, yon = ynorm && ynorm->enabled;
    if (!xon && !yon) return;
    hid_t g = dpt_h5w_group(w, w->file, "norm");
    if (xon) put_norm(w, g, xnorm, "x_mean", "x_std");
    if (yon) put_norm(w, g, ynorm, "y_mean", "y_std");
    if (g >= 0) H5Gclose(g);
}

/* ---- reading ---- */

int dpt_modelfile_read_header(hid_t file, const char *path, dpt_modelfile_header *h, char *err,
                              size_t errlen) {
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
    return 0;
}

int dpt_modelfile_read_tensors(hid_t file, const char *path, const char *prefix, const dpt_model *m,
                               float *buf, char *err, size_t errlen) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        for (int t = 0; t < l->ntensors; t++) {
            const dpt_param_tensor *pt = &l->tensors[t];
            char name[2 * DPT_NAME_MAX + 64];
            snprintf(name, sizeof name, "%s/%s/%s", prefix, l->name, pt->name);
            hsize_t dims[2] = {(hsize_t)pt->dim[0], (hsize_t)pt->dim[1]};
            if (dpt_h5r_f32(file, path, name, pt->ndim, dims, buf + pt->offset, err, errlen))
                return -1;
        }
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
    return rc;
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

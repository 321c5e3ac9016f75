/* Trained-model files: rank 0 writes one atomically (io/h5file.h), any rank loads it back,
 * rebuilding the model from the stored config and checking its parameters' checksum.  The
 * contents are the model-file layout of io/modelfile.h, so a checkpoint loads here too. */
#include "io/modelio.h"

#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/h5file.h"
#include "io/modelfile.h"

int dpt_model_save(const char *path, const dpt_model *m, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *err, size_t errlen) {
    dpt_h5w w;
    if (dpt_h5w_begin(&w, path, err, errlen)) return -1;
    dpt_modelfile_write(&w, DPT_MODELFILE_FORMAT, DPT_MODELFILE_VERSION, m, c, xnorm, ynorm);
    return dpt_h5w_finish(&w);
}

/* ---- reading ---- */

static int check_format(hid_t file, const char *path, char *err, size_t errlen) {
    if (H5Aexists(file, "format") <= 0)
        return dpt_err(err, errlen, "%s: not a dptrain model file (no 'format' attribute)", path);
    char *format = dpt_h5r_string_attr(file, "format");
    int ok = format &&
             (strcmp(format, DPT_MODELFILE_FORMAT) == 0 || strcmp(format, DPT_CKPT_FORMAT) == 0);
    if (!ok)
        dpt_err(err, errlen, "%s: not a dptrain model file (format is '%s', expected '%s' or '%s')",
                path, format ? format : "not a string", DPT_MODELFILE_FORMAT, DPT_CKPT_FORMAT);
    free(format);
    if (!ok) return -1;
    int version = 0;
    return dpt_modelfile_read_version(file, path, "model", &version, err, errlen);
}

static int build(dpt_model *m, const dpt_config *c, dpt_modelfile_header *h, int max_batch,
                 const char *path, char *err, size_t errlen) {
    char why[1024];
    /* the recorded input shapes (version 1 files: derived from in_steps x in_features), named
     * as the stored config names them */
    dpt_model_input in[DPT_MODEL_MAX_INPUTS];
    memset(in, 0, sizeof in);
    if (h->ninputs > 1 && c->ninputs != h->ninputs)
        return dpt_err(err, errlen,
                       "%s: the file records %d inputs but its config's model.inputs names %d: "
                       "the file is corrupt or was edited",
                       path, h->ninputs, c->ninputs);
    for (int k = 0; k < h->ninputs; k++) {
        snprintf(in[k].name, sizeof in[k].name, "%s", c->ninputs > 0 ? c->inputs[k] : "input");
        in[k].shape = h->in_shapes[k];
    }
    if (dpt_model_build_inputs(m, c->layers, c->nlayers, in, h->ninputs, max_batch, why,
                               sizeof why))
        return dpt_err(err, errlen, "%s: the stored model cannot be built: %s", path, why);
    if ((uint64_t)m->nparams != h->nparams || m->out_features != h->out_features)
        dpt_err(err, errlen,
                "%s: the stored config builds %zu parameters and %d outputs, the file records "
                "%" PRIu64 " and %d",
                path, m->nparams, m->out_features, h->nparams, h->out_features);
    else if (dpt_modelfile_check_shapes(h, path, m, err, errlen) == 0)
        return 0;
    dpt_model_free(m);
    return -1;
}

/* Model and norms once the config is loaded; on failure nothing of them stays allocated. */
static int load_model(hid_t file, const char *path, const dpt_config *c, dpt_model *m,
                      int max_batch, dpt_norm *xnorm, dpt_norm *ynorm, char *err, size_t errlen) {
    dpt_modelfile_header h;
    if (dpt_modelfile_read_header(file, path, &h, err, errlen) ||
        build(m, c, &h, max_batch, path, err, errlen))
        return -1;
    int rc = dpt_modelfile_read_tensors(file, path, "/params", m, m->params, err, errlen);
    if (rc == 0) rc = dpt_modelfile_read_state(file, path, m, m->state, err, errlen);
    if (rc == 0 && dpt_model_checksum(m) != h.checksum)
        rc = dpt_err(err, errlen, "%s: parameter checksum mismatch: file corrupt", path);
    if (rc == 0) rc = dpt_modelfile_read_norms(file, path, m, xnorm, ynorm, err, errlen);
    if (rc) dpt_model_free(m);
    return rc;
}

int dpt_model_load(const char *path, dpt_config *c, dpt_model *m, int max_batch, dpt_norm *xnorm,
                   dpt_norm *ynorm, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    memset(xnorm, 0, sizeof *xnorm);
    memset(ynorm, 0, sizeof *ynorm);
    hid_t file = dpt_h5r_open(path, err, errlen);
    if (file < 0) return -1;
    int rc = check_format(file, path, err, errlen);
    if (rc == 0) rc = dpt_modelfile_read_config(file, path, c, err, errlen);
    if (rc == 0) {
        rc = load_model(file, path, c, m, max_batch, xnorm, ynorm, err, errlen);
        if (rc) dpt_config_free(c);
    }
    H5Fclose(file);
    return rc;
}

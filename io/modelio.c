/* HDF5 files written by rank 0 (trained models, predictions) and reading models back.  Every
 * file is written under a temporary name, fsync'd, renamed and its directory fsync'd, so a crash
 * never leaves a partial file under the real name.  dpt_h5_write_predictions lives here (not in
 * h5data.c) so the writers share one set of helpers (io/h5util.h, also used by checkpoints). */
#include "io/modelio.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "io/h5data.h"
#include "io/h5util.h"

#define FORMAT_NAME    "dptrain-model"
#define FORMAT_VERSION 1
/* A checkpoint holds everything a model file holds under the same names (io/checkpoint.c), so
 * evaluate and predict accept one too. */
#define CKPT_FORMAT_NAME "dptrain-checkpoint"

/* ---- durable files ---- */

int dpt_fsync_path(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0) return dpt_err(err, errlen, "%s: fsync failed: %s", path, strerror(saved));
    return 0;
}

int dpt_fsync_dir_of(const char *path, char *err, size_t errlen) {
    char dir[DPT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else
        slash[slash == dir] = '\0'; /* keep "/" for files in the root */
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    /* Some file systems cannot fsync a directory; the rename is then as durable as it gets. */
    if (rc != 0 && saved != EINVAL && saved != ENOTSUP)
        return dpt_err(err, errlen, "%s: fsync failed: %s", dir, strerror(saved));
    return 0;
}

int dpt_mkdirs(const char *dir, char *err, size_t errlen) {
    char buf[DPT_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return dpt_err(err, errlen, "%s: path too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return dpt_err(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (*buf && mkdir(buf, 0777) != 0 && errno != EEXIST)
        return dpt_err(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (*buf && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
        return dpt_err(err, errlen, "%s: cannot create directory: exists and is not a directory",
                       dir);
    return 0;
}

int dpt_model_save(const char *path, const dpt_model *m, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *err, size_t errlen) {
    dpt_h5w w;
    if (dpt_h5w_begin(&w, path, err, errlen)) return -1;
    dpt_h5w_model(&w, FORMAT_NAME, FORMAT_VERSION, m, c, xnorm, ynorm);
    return dpt_h5w_finish(&w);
}

int dpt_h5_write_predictions(const char *path, const float *pred, int64_t n, int K,
                             const int32_t *labels, char *err, size_t errlen) {
    return dpt_h5_write_predictions_seq(path, pred, n, 1, K, labels, err, errlen);
}

int dpt_h5_write_predictions_seq(const char *path, const float *pred, int64_t n, int T, int K,
                                 const int32_t *labels, char *err, size_t errlen) {
    dpt_h5w w;
    if (dpt_h5w_begin(&w, path, err, errlen)) return -1;
    /* (n, K) for one output per sample, (n, T, K) and labels (n, T) for one per step */
    hsize_t dims[3] = {(hsize_t)n, (hsize_t)T, (hsize_t)K};
    if (T == 1) dims[1] = (hsize_t)K;
    int rank = T == 1 ? 2 : 3;
    dpt_h5w_array(&w, w.file, "pred", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, pred);
    if (labels)
        dpt_h5w_array(&w, w.file, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, rank - 1, dims,
                      labels);
    return dpt_h5w_finish(&w);
}

/* ---- reading ---- */

static int check_format(hid_t file, const char *path, char *err, size_t errlen) {
    if (H5Aexists(file, "format") <= 0)
        return dpt_err(err, errlen, "%s: not a dptrain model file (no 'format' attribute)", path);
    char *format = dpt_h5r_string_attr(file, "format");
    int ok = format && (strcmp(format, FORMAT_NAME) == 0 || strcmp(format, CKPT_FORMAT_NAME) == 0);
    if (!ok)
        dpt_err(err, errlen, "%s: not a dptrain model file (format is '%s', expected '%s' or '%s')",
                path, format ? format : "not a string", FORMAT_NAME, CKPT_FORMAT_NAME);
    free(format);
    if (!ok) return -1;
    int version = 0;
    if (dpt_h5r_num_attr(file, path, "format_version", H5T_NATIVE_INT, &version, err, errlen))
        return -1;
    if (version != FORMAT_VERSION)
        return dpt_err(err, errlen,
                       "%s: model format_version %d is not supported (this dptrain reads %d)", path,
                       version, FORMAT_VERSION);
    return 0;
}

/* Root attributes recorded at save time, checked against what the stored config builds. */
typedef struct header {
    uint64_t nparams, checksum;
    int in_features, out_features;
    int in_steps; /* absent in files of models without sequence input: 1 */
} header;

static int read_header(hid_t file, const char *path, header *h, char *err, size_t errlen) {
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

static int build(dpt_model *m, const dpt_config *c, const header *h, int max_batch,
                 const char *path, char *err, size_t errlen) {
    char why[1024];
    if (dpt_model_build_seq(m, c->layers, c->nlayers, h->in_steps, h->in_features, max_batch, why,
                            sizeof why))
        return dpt_err(err, errlen, "%s: the stored model cannot be built: %s", path, why);
    if ((uint64_t)m->nparams == h->nparams && m->out_features == h->out_features) return 0;
    dpt_err(err, errlen,
            "%s: the stored config builds %zu parameters and %d outputs, the file records "
            "%" PRIu64 " and %d",
            path, m->nparams, m->out_features, h->nparams, h->out_features);
    dpt_model_free(m);
    return -1;
}

/* Model and norms once the config is loaded; on failure nothing of them stays allocated. */
static int load_model(hid_t file, const char *path, const dpt_config *c, dpt_model *m,
                      int max_batch, dpt_norm *xnorm, dpt_norm *ynorm, char *err, size_t errlen) {
    header h;
    if (read_header(file, path, &h, err, errlen) || build(m, c, &h, max_batch, path, err, errlen))
        return -1;
    int rc = dpt_h5r_tensors(file, path, "/params", m, m->params, err, errlen);
    if (rc == 0 && dpt_model_checksum(m) != h.checksum)
        rc = dpt_err(err, errlen, "%s: parameter checksum mismatch: file corrupt", path);
    if (rc == 0) rc = dpt_h5r_norms(file, path, m, xnorm, ynorm, err, errlen);
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
    if (rc == 0) rc = dpt_h5r_config(file, path, c, err, errlen);
    if (rc == 0) {
        rc = load_model(file, path, c, m, max_batch, xnorm, ynorm, err, errlen);
        if (rc) dpt_config_free(c);
    }
    H5Fclose(file);
    return rc;
}

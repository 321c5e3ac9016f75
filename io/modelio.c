/* HDF5 files written by rank 0 (trained models, predictions) and reading models back.  Every
 * file is written under a temporary name, fsync'd, renamed and its directory fsync'd, so a crash
 * never leaves a partial file under the real name.  dpt_h5_write_predictions lives here (not in
 * h5data.c) so the writers share one set of helpers. */
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

#define FORMAT_NAME    "dptrain-model"
#define FORMAT_VERSION 1

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

/* ---- writing ---- */

/* One HDF5 file being written; the first failure is recorded and later calls do nothing, so
 * writers read as a straight sequence. */
typedef struct writer {
    const char *path; /* the real name, for messages */
    char tmp[DPT_PATH_MAX + 32];
    hid_t file;
    int failed;
    char *err;
    size_t errlen;
} writer;

static int begin(writer *w, const char *path, char *err, size_t errlen) {
    *w = (writer){.path = path, .file = -1, .err = err, .errlen = errlen};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", path, (long)getpid());
    /* open(2) first: HDF5 does not report why a create failed, errno does. */
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot create: %s", w->tmp, strerror(errno));
    close(fd);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file >= 0) return 0;
    unlink(w->tmp);
    return dpt_err(err, errlen, "%s: cannot create an HDF5 file", w->tmp);
}

static void fail(writer *w, const char *what) {
    if (!w->failed) dpt_err(w->err, w->errlen, "%s: cannot write %s", w->path, what);
    w->failed = 1;
}

/* Closes, then makes the file durable under its real name; the temporary goes on any error. */
static int finish(writer *w) {
    if (H5Fclose(w->file) < 0) fail(w, "the file (close failed: disk full?)");
    if (!w->failed && dpt_fsync_path(w->tmp, w->err, w->errlen) == 0) {
        if (rename(w->tmp, w->path) == 0) return dpt_fsync_dir_of(w->path, w->err, w->errlen);
        dpt_err(w->err, w->errlen, "%s: cannot rename %s: %s", w->path, w->tmp, strerror(errno));
    }
    unlink(w->tmp);
    return -1;
}

/* Dataset of ndim dims (ndim 0: scalar), data in mtype. */
static void put_array(writer *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim,
                      const hsize_t *dims, const void *data) {
    if (w->failed) return;
    hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    /* HDF5 rejects a NULL buffer even with nothing to write. */
    int empty = H5Sget_simple_extent_npoints(space) == 0;
    if (d < 0 || (!empty && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        fail(w, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
}

static void put_attr(writer *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                     const void *value) {
    if (w->failed) return;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, value) < 0) fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
}

/* Variable-length UTF-8 strings: h5py reads them as str. */
static hid_t vlen_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static void put_string(writer *w, hid_t loc, const char *name, const char *s, int as_attr) {
    hid_t t = vlen_string_type();
    const char *v = s ? s : "";
    if (as_attr)
        put_attr(w, loc, name, t, t, &v);
    else
        put_array(w, loc, name, t, t, 0, NULL, &v);
    H5Tclose(t);
}

static hid_t put_group(writer *w, hid_t loc, const char *name) {
    if (w->failed) return -1;
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) fail(w, name);
    return g;
}

static void put_header(writer *w, const dpt_model *m) {
    int version = FORMAT_VERSION;
    uint64_t nparams = m->nparams, checksum = dpt_model_checksum(m);
    put_string(w, w->file, "format", FORMAT_NAME, 1);
    put_attr(w, w->file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version);
    put_string(w, w->file, "dptrain_version", DPT_VERSION, 1);
    put_attr(w, w->file, "nparams", H5T_STD_U64LE, H5T_NATIVE_UINT64, &nparams);
    put_attr(w, w->file, "checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64, &checksum);
    put_attr(w, w->file, "in_features", H5T_STD_I32LE, H5T_NATIVE_INT, &m->in_features);
    put_attr(w, w->file, "in_steps", H5T_STD_I32LE, H5T_NATIVE_INT, &m->in_steps);
    put_attr(w, w->file, "out_features", H5T_STD_I32LE, H5T_NATIVE_INT, &m->out_features);
}

static void put_config(writer *w, const dpt_config *c) {
    size_t len = 1;
    for (int i = 0; i < c->noverrides; i++) len += strlen(c->overrides[i]) + 1;
    char *joined = dpt_calloc(len, 1); /* (len) "k=v\nk=v" */
    for (int i = 0; i < c->noverrides; i++) {
        if (i) strcat(joined, "\n");
        strcat(joined, c->overrides[i]);
    }
    put_string(w, w->file, "config", c->text, 0);
    put_string(w, w->file, "config_overrides", joined, 0);
    free(joined);
}

static void put_params(writer *w, const dpt_model *m) {
    hid_t params = put_group(w, w->file, "params");
    for (int i = 0; i < m->nlayers && !w->failed; i++) {
        const dpt_layer *l = &m->layers[i];
        if (l->ntensors == 0) continue;
        hid_t g = put_group(w, params, l->name);
        for (int t = 0; t < l->ntensors; t++) {
            const dpt_param_tensor *pt = &l->tensors[t];
            hsize_t dims[2] = {(hsize_t)pt->dim[0], (hsize_t)pt->dim[1]};
            put_array(w, g, pt->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, pt->ndim, dims,
                      m->params + pt->offset);
        }
        if (g >= 0) H5Gclose(g);
    }
    if (params >= 0) H5Gclose(params);
}

static void put_norm(writer *w, hid_t g, const dpt_norm *n, const char *mean, const char *std) {
    hsize_t dims[1] = {(hsize_t)n->F};
    put_array(w, g, mean, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, n->mean);
    put_array(w, g, std, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, n->std);
}

int dpt_model_save(const char *path, const dpt_model *m, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *err, size_t errlen) {
    writer w;
    if (begin(&w, path, err, errlen)) return -1;
    put_header(&w, m);
    put_config(&w, c);
    put_params(&w, m);
    int xon = xnorm && xnorm->enabled, yon = ynorm && ynorm->enabled;
    if (xon || yon) {
        hid_t g = put_group(&w, w.file, "norm");
        if (xon) put_norm(&w, g, xnorm, "x_mean", "x_std");
        if (yon) put_norm(&w, g, ynorm, "y_mean", "y_std");
        if (g >= 0) H5Gclose(g);
    }
    return finish(&w);
}

int dpt_h5_write_predictions(const char *path, const float *pred, int64_t n, int K,
                             const int32_t *labels, char *err, size_t errlen) {
    return dpt_h5_write_predictions_seq(path, pred, n, 1, K, labels, err, errlen);
}

int dpt_h5_write_predictions_seq(const char *path, const float *pred, int64_t n, int T, int K,
                                 const int32_t *labels, char *err, size_t errlen) {
    writer w;
    if (begin(&w, path, err, errlen)) return -1;
    /* (n, K) for one output per sample, (n, T, K) and labels (n, T) for one per step */
    hsize_t dims[3] = {(hsize_t)n, (hsize_t)T, (hsize_t)K};
    if (T == 1) dims[1] = (hsize_t)K;
    int rank = T == 1 ? 2 : 3;
    put_array(&w, w.file, "pred", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, pred);
    if (labels)
        put_array(&w, w.file, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, rank - 1, dims, labels);
    return finish(&w);
}

/* ---- reading ---- */

static int exists(hid_t file, const char *name) {
    return H5Lexists(file, name, H5P_DEFAULT) > 0; /* < 0 when a parent group is missing */
}

/* A scalar string attribute (as_attr) or dataset, fixed or variable length; NULL if it is not
 * one.  The result is malloc'd. */
static char *get_string(hid_t obj, int as_attr) {
    hid_t type = as_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t space = as_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    char *out = NULL;
    if (H5Tget_class(type) == H5T_STRING && H5Sget_simple_extent_npoints(space) == 1) {
        int vlen = H5Tis_variable_str(type) > 0;
        size_t size = vlen ? sizeof(char *) : H5Tget_size(type) + 1;
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, vlen ? H5T_VARIABLE : size);
        H5Tset_cset(mem, H5Tget_cset(type)); /* HDF5 converts neither way between ASCII, UTF-8 */
        char *buf = dpt_calloc(size, 1);     /* (size) the fixed string, or one char pointer */
        herr_t rc = as_attr ? H5Aread(obj, mem, buf)
                            : H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (rc >= 0 && vlen) {
            char *p;
            memcpy(&p, buf, sizeof p);
            out = strdup(p ? p : "");
            H5free_memory(p);
            free(buf);
        } else if (rc >= 0) {
            out = buf;
        } else {
            free(buf);
        }
        H5Tclose(mem);
    }
    H5Sclose(space);
    H5Tclose(type);
    return out;
}

static char *read_string_attr(hid_t file, const char *name) {
    if (H5Aexists(file, name) <= 0) return NULL;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    char *s = a >= 0 ? get_string(a, 1) : NULL;
    if (a >= 0) H5Aclose(a);
    return s;
}

static char *read_string_dataset(hid_t file, const char *name) {
    if (!exists(file, name)) return NULL;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    char *s = d >= 0 ? get_string(d, 0) : NULL;
    if (d >= 0) H5Dclose(d);
    return s;
}

/* A scalar numeric root attribute converted to mtype. */
static int read_num_attr(hid_t file, const char *path, const char *name, hid_t mtype, void *out,
                         char *err, size_t errlen) {
    hid_t a = H5Aexists(file, name) > 0 ? H5Aopen(file, name, H5P_DEFAULT) : -1;
    herr_t rc = a >= 0 ? H5Aread(a, mtype, out) : -1;
    if (a >= 0) H5Aclose(a);
    if (rc < 0) return dpt_err(err, errlen, "%s: missing or unreadable attribute '%s'", path, name);
    return 0;
}

static int check_format(hid_t file, const char *path, char *err, size_t errlen) {
    if (H5Aexists(file, "format") <= 0)
        return dpt_err(err, errlen, "%s: not a dptrain model file (no 'format' attribute)", path);
    char *format = read_string_attr(file, "format");
    int ok = format && strcmp(format, FORMAT_NAME) == 0;
    if (!ok)
        dpt_err(err, errlen, "%s: not a dptrain model file (format is '%s', expected '%s')", path,
                format ? format : "not a string", FORMAT_NAME);
    free(format);
    if (!ok) return -1;
    int version = 0;
    if (read_num_attr(file, path, "format_version", H5T_NATIVE_INT, &version, err, errlen))
        return -1;
    if (version != FORMAT_VERSION)
        return dpt_err(err, errlen,
                       "%s: model format_version %d is not supported (this dptrain reads %d)", path,
                       version, FORMAT_VERSION);
    return 0;
}

/* The stored config text with its overrides (one per line). */
static int load_config(hid_t file, const char *path, dpt_config *c, char *err, size_t errlen) {
    char *text = read_string_dataset(file, "config");
    if (!text) return dpt_err(err, errlen, "%s: no string dataset /config", path);
    char *joined = read_string_dataset(file, "config_overrides");
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

static void shape_str(char *buf, size_t len, int ndim, const hsize_t *dims) {
    int n = snprintf(buf, len, "(");
    for (int i = 0; i < ndim && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s%llu", i ? ", " : "",
                      (unsigned long long)dims[i]);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, ")");
}

/* Dataset `name` must be float with exactly dims (ndim); read as float32 into out. */
static int read_f32(hid_t file, const char *path, const char *name, int ndim, const hsize_t *dims,
                    float *out, char *err, size_t errlen) {
    if (!exists(file, name)) return dpt_err(err, errlen, "%s: missing dataset %s", path, name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    hsize_t got[H5S_MAX_RANK];
    int gdim = H5Sget_simple_extent_dims(space, got, NULL);
    int ok = gdim == ndim && H5Tget_class(type) == H5T_FLOAT;
    for (int i = 0; ok && i < ndim; i++) ok = got[i] == dims[i];
    int rc = 0;
    if (!ok) {
        char want[64], found[64];
        shape_str(want, sizeof want, ndim, dims);
        shape_str(found, sizeof found, gdim > 0 ? gdim : 0, got);
        rc = dpt_err(err, errlen, "%s: %s: expected float data of shape %s, found %s%s", path, name,
                     want, found, H5Tget_class(type) == H5T_FLOAT ? "" : " non-float");
    } else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        rc = dpt_err(err, errlen, "%s: %s: read failed", path, name);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* Root attributes recorded at save time, checked against what the stored config builds. */
typedef struct header {
    uint64_t nparams, checksum;
    int in_features, out_features;
    int in_steps; /* absent in files of models without sequence input: 1 */
} header;

static int read_header(hid_t file, const char *path, header *h, char *err, size_t errlen) {
    if (read_num_attr(file, path, "nparams", H5T_NATIVE_UINT64, &h->nparams, err, errlen) ||
        read_num_attr(file, path, "checksum", H5T_NATIVE_UINT64, &h->checksum, err, errlen) ||
        read_num_attr(file, path, "in_features", H5T_NATIVE_INT, &h->in_features, err, errlen) ||
        read_num_attr(file, path, "out_features", H5T_NATIVE_INT, &h->out_features, err, errlen))
        return -1;
    if (h->in_features < 1)
        return dpt_err(err, errlen, "%s: in_features is %d, expected >= 1", path, h->in_features);
    h->in_steps = 1;
    if (H5Aexists(file, "in_steps") > 0 &&
        read_num_attr(file, path, "in_steps", H5T_NATIVE_INT, &h->in_steps, err, errlen))
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

static int load_params(hid_t file, const char *path, dpt_model *m, char *err, size_t errlen) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        for (int t = 0; t < l->ntensors; t++) {
            const dpt_param_tensor *pt = &l->tensors[t];
            char name[2 * DPT_NAME_MAX + 16];
            snprintf(name, sizeof name, "/params/%s/%s", l->name, pt->name);
            hsize_t dims[2] = {(hsize_t)pt->dim[0], (hsize_t)pt->dim[1]};
            if (read_f32(file, path, name, pt->ndim, dims, m->params + pt->offset, err, errlen))
                return -1;
        }
    }
    return 0;
}

/* Fills n from /norm/<mean>, /norm/<std> when present (F values each); disabled otherwise. */
static int load_norm(hid_t file, const char *path, dpt_norm *n, const char *mean, const char *std,
                     int F, char *err, size_t errlen) {
    char mname[32], sname[32];
    snprintf(mname, sizeof mname, "/norm/%s", mean);
    snprintf(sname, sizeof sname, "/norm/%s", std);
    memset(n, 0, sizeof *n);
    if (!exists(file, mname)) return 0;
    dpt_norm_alloc(n, F);
    hsize_t dims[1] = {(hsize_t)F};
    if (read_f32(file, path, mname, 1, dims, n->mean, err, errlen) ||
        read_f32(file, path, sname, 1, dims, n->std, err, errlen)) {
        dpt_norm_free(n);
        memset(n, 0, sizeof *n);
        return -1;
    }
    n->enabled = true;
    return 0;
}

/* Model and norms once the config is loaded; on failure nothing of them stays allocated. */
static int load_model(hid_t file, const char *path, const dpt_config *c, dpt_model *m,
                      int max_batch, dpt_norm *xnorm, dpt_norm *ynorm, char *err, size_t errlen) {
    header h;
    if (read_header(file, path, &h, err, errlen) || build(m, c, &h, max_batch, path, err, errlen))
        return -1;
    int rc = load_params(file, path, m, err, errlen);
    if (rc == 0 && dpt_model_checksum(m) != h.checksum)
        rc = dpt_err(err, errlen, "%s: parameter checksum mismatch: file corrupt", path);
    if (rc == 0) rc = load_norm(file, path, xnorm, "x_mean", "x_std", m->in_features, err, errlen);
    if (rc == 0 && load_norm(file, path, ynorm, "y_mean", "y_std", m->out_features, err, errlen)) {
        dpt_norm_free(xnorm);
        memset(xnorm, 0, sizeof *xnorm);
        rc = -1;
    }
    if (rc) dpt_model_free(m);
    return rc;
}

int dpt_model_load(const char *path, dpt_config *c, dpt_model *m, int max_batch, dpt_norm *xnorm,
                   dpt_norm *ynorm, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    memset(xnorm, 0, sizeof *xnorm);
    memset(ynorm, 0, sizeof *ynorm);
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return dpt_err(err, errlen, "%s: cannot open as HDF5 (damaged?)", path);
    int rc = check_format(file, path, err, errlen);
    if (rc == 0) rc = load_config(file, path, c, err, errlen);
    if (rc == 0) {
        rc = load_model(file, path, c, m, max_batch, xnorm, ynorm, err, errlen);
        if (rc) dpt_config_free(c);
    }
    H5Fclose(file);
    return rc;
}

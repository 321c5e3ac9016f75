/* HDF5 helpers shared by the writers and readers of model files, predictions and checkpoints:
 * atomic creation (temporary name, fsync, rename, directory fsync), typed datasets and
 * attributes, and the model file's contents.  See io/h5util.h. */
#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "io/h5data.h"
#include "io/modelio.h"

/* ---- writing ---- */

int dpt_h5w_begin(dpt_h5w *w, const char *path, char *err, size_t errlen) {
    *w = (dpt_h5w){.path = path, .file = -1, .err = err, .errlen = errlen};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof w->tmp)
        return dpt_err(err, errlen, "%s: path too long", path);
    /* open(2) first: HDF5 does not report why a create failed, errno does. */
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot create: %s", w->tmp, strerror(errno));
    close(fd);
    errno = 0;
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file >= 0) return 0;
    int saved = errno;
    unlink(w->tmp);
    return dpt_err(err, errlen, "%s: cannot create an HDF5 file%s%s", w->tmp, saved ? ": " : "",
                   saved ? strerror(saved) : "");
}

void dpt_h5w_fail(dpt_h5w *w, const char *what) {
    if (!w->failed) dpt_err(w->err, w->errlen, "%s: cannot write %s", w->path, what);
    w->failed = 1;
}

/* After an HDF5 call that did file I/O failed: errno (cleared before the call) says why, e.g.
 * "No space left on device" or "File too large". */
static void fail_io(dpt_h5w *w, const char *what, int saved_errno) {
    if (!w->failed)
        dpt_err(w->err, w->errlen, "%s: cannot write %s%s%s", w->path, what,
                saved_errno ? ": " : " (disk full?)", saved_errno ? strerror(saved_errno) : "");
    w->failed = 1;
}

int dpt_h5w_finish(dpt_h5w *w) {
    errno = 0;
    if (H5Fclose(w->file) < 0) fail_io(w, "the file (flushing it on close failed)", errno);
    if (!w->failed && dpt_fsync_path(w->tmp, w->err, w->errlen) == 0) {
        if (rename(w->tmp, w->path) == 0) return dpt_fsync_dir_of(w->path, w->err, w->errlen);
        dpt_err(w->err, w->errlen, "%s: cannot rename %s: %s", w->path, w->tmp, strerror(errno));
    }
    unlink(w->tmp);
    return -1;
}

/* "/params/dense_0/W" for name "W" in group /params/dense_0: messages name the whole path. */
static const char *full_name(hid_t loc, const char *name, char *buf, size_t len) {
    char parent[256] = "";
    if (H5Iget_name(loc, parent, sizeof parent) <= 0 || strcmp(parent, "/") == 0) parent[0] = '\0';
    snprintf(buf, len, "%s/%s", parent, name);
    return buf;
}

void dpt_h5w_array(dpt_h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim,
                   const hsize_t *dims, const void *data) {
    if (w->failed) return;
    char full[320];
    hid_t space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    /* HDF5 rejects a NULL buffer even with nothing to write. */
    int empty = H5Sget_simple_extent_npoints(space) == 0;
    errno = 0;
    if (d < 0) {
        dpt_h5w_fail(w, full_name(loc, name, full, sizeof full));
    } else if (!empty && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        int saved = errno;
        fail_io(w, full_name(loc, name, full, sizeof full), saved);
    }
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
}

void dpt_h5w_attr(dpt_h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                  const void *value) {
    if (w->failed) return;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, value) < 0) dpt_h5w_fail(w, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
}

static hid_t vlen_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

void dpt_h5w_string(dpt_h5w *w, hid_t loc, const char *name, const char *s, int as_attr) {
    hid_t t = vlen_string_type();
    const char *v = s ? s : "";
    if (as_attr)
        dpt_h5w_attr(w, loc, name, t, t, &v);
    else
        dpt_h5w_array(w, loc, name, t, t, 0, NULL, &v);
    H5Tclose(t);
}

hid_t dpt_h5w_group(dpt_h5w *w, hid_t loc, const char *name) {
    if (w->failed) return -1;
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) dpt_h5w_fail(w, name);
    return g;
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

void dpt_h5w_tensors(dpt_h5w *w, hid_t loc, const char *name, const dpt_model *m,
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

void dpt_h5w_model(dpt_h5w *w, const char *format, int version, const dpt_model *m,
                   const dpt_config *c, const dpt_norm *xnorm, const dpt_norm *ynorm) {
    put_header(w, format, version, m);
    put_config(w, c);
    dpt_h5w_tensors(w, w->file, "params", m, m->params);
    int xon = xnorm && xnorm->enabled, yon = ynorm && ynorm->enabled;
    if (!xon && !yon) return;
    hid_t g = dpt_h5w_group(w, w->file, "norm");
    if (xon) put_norm(w, g, xnorm, "x_mean", "x_std");
    if (yon) put_norm(w, g, ynorm, "y_mean", "y_std");
    if (g >= 0) H5Gclose(g);
}

/* ---- reading ---- */

hid_t dpt_h5r_open(const char *path, char *err, size_t errlen) {
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    /* The signature is at the start, so a file cut short passes H5Fis_hdf5; the open compares
     * the size with the end address the superblock records. */
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return dpt_err(err, errlen,
                       "%s: cannot read: not a complete HDF5 file (truncated or damaged)", path);
    return file;
}

int dpt_h5r_exists(hid_t file, const char *name) {
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

char *dpt_h5r_string_attr(hid_t file, const char *name) {
    if (H5Aexists(file, name) <= 0) return NULL;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    char *s = a >= 0 ? get_string(a, 1) : NULL;
    if (a >= 0) H5Aclose(a);
    return s;
}

char *dpt_h5r_string_dataset(hid_t file, const char *name) {
    if (!dpt_h5r_exists(file, name)) return NULL;
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    char *s = d >= 0 ? get_string(d, 0) : NULL;
    if (d >= 0) H5Dclose(d);
    return s;
}

int dpt_h5r_num_attr(hid_t file, const char *path, const char *name, hid_t mtype, void *out,
                     char *err, size_t errlen) {
    hid_t a = H5Aexists(file, name) > 0 ? H5Aopen(file, name, H5P_DEFAULT) : -1;
    hid_t type = a >= 0 ? H5Aget_type(a) : -1;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    /* A string cannot be converted to a number; HDF5 would only fail later and say less. */
    herr_t rc = cls == H5T_INTEGER || cls == H5T_FLOAT ? H5Aread(a, mtype, out) : -1;
    if (type >= 0) H5Tclose(type);
    if (a >= 0) H5Aclose(a);
    if (rc < 0) return dpt_err(err, errlen, "%s: missing or unreadable attribute '%s'", path, name);
    return 0;
}

static void shape_str(char *buf, size_t len, int ndim, const hsize_t *dims) {
    int n = snprintf(buf, len, "(");
    for (int i = 0; i < ndim && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s%llu", i ? ", " : "",
                      (unsigned long long)dims[i]);
    if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, ")");
}

int dpt_h5r_f32(hid_t file, const char *path, const char *name, int ndim, const hsize_t *dims,
                float *out, char *err, size_t errlen) {
    if (!dpt_h5r_exists(file, name))
        return dpt_err(err, errlen, "%s: missing dataset %s", path, name);
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return dpt_err(err, errlen, "%s: %s: not a readable dataset", path, name);
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    hsize_t got[H5S_MAX_RANK];
    int gdim = H5Sget_simple_extent_dims(space, got, NULL);
    int ok = gdim == ndim && H5Tget_class(type) == H5T_FLOAT;
    /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): ndim == gdim <= 32 */
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

int dpt_h5r_tensors(hid_t file, const char *path, const char *prefix, const dpt_model *m,
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

int dpt_h5r_config(hid_t file, const char *path, dpt_config *c, char *err, size_t errlen) {
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

int dpt_h5r_norms(hid_t file, const char *path, const dpt_model *m, dpt_norm *xnorm,
                  dpt_norm *ynorm, char *err, size_t errlen) {
    memset(ynorm, 0, sizeof *ynorm);
    if (load_norm(file, path, xnorm, "x_mean", "x_std", m->in_features, err, errlen)) return -1;
    if (load_norm(file, path, ynorm, "y_mean", "y_std", m->out_features, err, errlen) == 0)
        return 0;
    dpt_norm_free(xnorm);
    memset(xnorm, 0, sizeof *xnorm);
    return -1;
}

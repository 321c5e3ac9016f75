/* Generic HDF5 files: written through the atomic writer (io/fs.h) with the first failure
 * recorded, so writers read as a straight sequence of calls; read back with every problem turned
 * into one message naming the file and the object.  See io/h5file.h. */
#include "io/h5file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

int dpt_h5_check_file(const char *path, char *err, size_t errlen) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    if (isdir) return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(EISDIR));
    if (H5Fis_hdf5(path) <= 0) return dpt_err(err, errlen, "%s: not an HDF5 file", path);
    return 0;
}

/* ---- writing ---- */

int dpt_h5w_begin(dpt_h5w *w, const char *path, char *err, size_t errlen) {
    *w = (dpt_h5w){.file = -1, .err = err, .errlen = errlen};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (dpt_atomic_begin(&w->out, path, err, errlen)) return -1;
    dpt_atomic_close_stream(&w->out); /* HDF5 writes the temporary by name */
    errno = 0;                        /* HDF5 does not report why a create failed, errno does */
    w->file = H5Fcreate(w->out.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file >= 0) return 0;
    int saved = errno;
    dpt_atomic_abort(&w->out);
    return dpt_err(err, errlen, "%s: cannot create an HDF5 file%s%s", w->out.tmp, saved ? ": " : "",
                   saved ? strerror(saved) : "");
}

void dpt_h5w_fail(dpt_h5w *w, const char *what) {
    if (!w->failed) dpt_err(w->err, w->errlen, "%s: cannot write %s", w->out.path, what);
    w->failed = 1;
}

/* After an HDF5 call that did file I/O failed: errno (cleared before the call) says why, e.g.
 * "No space left on device" or "File too large". */
static void fail_io(dpt_h5w *w, const char *what, int saved_errno) {
    if (!w->failed)
        dpt_err(w->err, w->errlen, "%s: cannot write %s%s%s", w->out.path, what,
                saved_errno ? ": " : " (disk full?)", saved_errno ? strerror(saved_errno) : "");
    w->failed = 1;
}

int dpt_h5w_finish(dpt_h5w *w) {
    errno = 0;
    if (w->file >= 0 && H5Fclose(w->file) < 0)
        fail_io(w, "the file (flushing it on close failed)", errno);
    w->file = -1;
    if (!w->failed) return dpt_atomic_commit(&w->out, w->err, w->errlen);
    dpt_atomic_abort(&w->out);
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

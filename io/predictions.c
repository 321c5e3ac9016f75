/* Prediction files: the outputs of `dptrain predict`, written by rank 0 atomically as one HDF5
 * file (io/h5file.h).  See io/predictions.h. */
#include "io/predictions.h"

#include <hdf5.h>

#include "io/h5file.h"

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

int dpt_h5_write_predictions_shape(const char *path, const float *pred, int64_t n,
                                   const dpt_shape *shape, const int32_t *labels, char *err,
                                   size_t errlen) {
    if (shape->rank < 3)
        return dpt_h5_write_predictions_seq(path, pred, n, (int)dpt_shape_outer(shape),
                                            dpt_shape_last(shape), labels, err, errlen);
    dpt_h5w w;
    if (dpt_h5w_begin(&w, path, err, errlen)) return -1;
    hsize_t dims[1 + DPT_SHAPE_MAX_RANK] = {(hsize_t)n}; /* (n, H, W, K) */
    for (int i = 0; i < shape->rank; i++) dims[1 + i] = (hsize_t)shape->dim[i];
    dpt_h5w_array(&w, w.file, "pred", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1 + shape->rank, dims,
                  pred);
    if (labels)
        dpt_h5w_array(&w, w.file, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, shape->rank, dims,
                      labels);
    return dpt_h5w_finish(&w);
}

/* texts (n) as a 1-D dataset of variable-length UTF-8 strings. */
static void put_texts(dpt_h5w *w, const char *name, const char *const *texts, int64_t n) {
    if (w->failed) return;
    hsize_t dims[1] = {(hsize_t)n};
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate_simple(1, dims, NULL);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t d = H5Dcreate2(w->file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || (n > 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, texts) < 0))
        dpt_h5w_fail(w, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    H5Tclose(type);
}

int dpt_h5_write_decoded(const char *path, const int32_t *tokens, const int32_t *lens, int64_t n,
                         int T, const char *const *texts, char *err, size_t errlen) {
    dpt_h5w w;
    if (dpt_h5w_begin(&w, path, err, errlen)) return -1;
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)T};
    dpt_h5w_array(&w, w.file, "tokens", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims, tokens);
    dpt_h5w_array(&w, w.file, "lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, lens);
    if (texts) put_texts(&w, "text", texts, n);
    return dpt_h5w_finish(&w);
}

/* HDF5 fixtures for tests.  See h5fixture.h. */
#include "h5fixture.h"

#include <stdio.h>
#include <stdlib.h>

void dpt_test_h5_put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int ndim,
                     const hsize_t *dims, const void *data) {
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        fprintf(stderr, "test fixture: cannot write dataset %s\n", name);
        abort();
    }
    H5Dclose(d);
    H5Sclose(s);
}

int dpt_test_h5_read(const char *file, const char *name, hsize_t *dims, hid_t mtype, void *out) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    int ndim = -1;
    if (d >= 0) {
        hid_t s = H5Dget_space(d);
        ndim = H5Sget_simple_extent_dims(s, dims, NULL);
        if (out && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) ndim = -1;
        H5Sclose(s);
        H5Dclose(d);
    }
    H5Fclose(f);
    return ndim;
}

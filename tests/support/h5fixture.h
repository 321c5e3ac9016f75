/* HDF5 fixtures for tests: writing a whole dataset into a file being made by hand (the tests'
 * input files and damaged variants) and reading one back.  A fixture that HDF5 refuses is a
 * broken test, not a tested property: dpt_test_h5_put prints what failed and aborts. */
#ifndef DPT_TEST_H5FIXTURE_H
#define DPT_TEST_H5FIXTURE_H

#include <hdf5.h>

/* Dataset `name` of ndim dims in f (file type ftype) from data in mtype. */
void dpt_test_h5_put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int ndim,
                     const hsize_t *dims, const void *data);
/* Dataset `name` of file: its dims (at most H5S_MAX_RANK), and its values converted to mtype
 * into out when out is not NULL.  Returns ndim, or -1 when the file or dataset cannot be read. */
int dpt_test_h5_read(const char *file, const char *name, hsize_t *dims, hid_t mtype, void *out);

#endif

/* Scratch directories for tests (tests/io, tests/parallel): a fresh directory under /tmp, paths
 * in it, what it holds, and its removal.  Plain C without MPI or cmocka: each caller turns a
 * failure into its own kind of check (mpitest.h makes the MPI version). */
#ifndef DPT_TEST_SCRATCH_H
#define DPT_TEST_SCRATCH_H

#include <stddef.h>

/* A fresh directory /tmp/<prefix>XXXXXX (mkdtemp) into dir (len bytes).  Returns 0 or -1. */
int dpt_test_scratch_make(char *dir, size_t len, const char *prefix);
/* rm -rf dir, making read-only directories in it writable first.  Returns 0 or -1. */
int dpt_test_scratch_remove(const char *dir);
/* "<dir>/<name>" in one of 32 rotating buffers of 512 bytes (enough for the paths one check
 * holds at once). */
const char *dpt_test_path(const char *dir, const char *name);
/* Entries of dir other than "." and ".." (-1 when dir cannot be opened). */
int dpt_test_count_entries(const char *dir);
/* Entries of dir whose name holds ".tmp." (left-over temporaries of the atomic writer). */
int dpt_test_count_temporaries(const char *dir);

#endif

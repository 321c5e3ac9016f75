/* Assertions for MPI test programs: a failed check prints rank, file and line and ends the whole
 * job through MPI_Abort, so one failing rank never leaves the others waiting in a collective.
 * Scratch directories come from tests/support (scratch.h). */
#ifndef DPT_MPITEST_H
#define DPT_MPITEST_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scratch.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) mpitest_fail(__FILE__, __LINE__, #cond, "");                                  \
    } while (0)

/* A check whose failure also shows an error message (e.g. the err buffer of the call). */
#define CHECK_MSG(cond, msg)                                                                       \
    do {                                                                                           \
        if (!(cond)) mpitest_fail(__FILE__, __LINE__, #cond, (msg));                               \
    } while (0)

/* Checks that message s contains the fragment sub. */
#define CHECK_CONTAINS(s, sub) mpitest_contains(__FILE__, __LINE__, (s), (sub))

static inline _Noreturn void mpitest_fail(const char *file, int line, const char *what,
                                          const char *detail) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "[rank %d] %s:%d: check failed: %s%s%s\n", rank, file, line, what,
            *detail ? "\n    got: " : "", detail);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    for (;;) {
    }
}

static inline void mpitest_contains(const char *file, int line, const char *s, const char *sub) {
    char what[512];
    snprintf(what, sizeof what, "message contains \"%s\"", sub);
    if (!strstr(s, sub)) mpitest_fail(file, line, what, s);
}

/* A fresh directory /tmp/<prefix>?????? made by rank 0 and shared with every rank. */
static inline void mpitest_tmpdir(char *dir, int len, const char *prefix) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) CHECK(dpt_test_scratch_make(dir, (size_t)len, prefix) == 0);
    MPI_Bcast(dir, len, MPI_CHAR, 0, MPI_COMM_WORLD);
}

/* Once every rank is done with it, rank 0 removes the directory and all it holds. */
static inline void mpitest_remove_tmpdir(const char *dir) {
    int rank = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) CHECK_MSG(dpt_test_scratch_remove(dir) == 0, dir);
}

/* Runs one named property on every rank; rank 0 reports it. */
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        fn();                                                                                      \
        MPI_Barrier(MPI_COMM_WORLD);                                                               \
        int r_;                                                                                    \
        MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                                        \
        if (r_ == 0) printf("ok %s\n", #fn);                                                       \
    } while (0)

#endif

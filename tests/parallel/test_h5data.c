/* Sharded HDF5 reading at 1 to 4 ranks: each rank gets exactly its block of rows (float64
 * converted, integer labels narrowed), and each kind of bad file gets its own message.  Rank 0
 * writes the files with the serial API; then everyone reads them through MPI-IO. */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5fixture.h"
#include "io/h5data.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"
#include "scratch.h"

static char dir[64]; /* a fresh directory shared by all ranks */

/* Rank 0 writes X (n, F) float64 with X[g][j] = 10 g + j + 0.5 and y (ny) int64 = g % 4;
 * corrupt: row 7 column 1 of X is NaN and label of row 5 is 12. */
static void write_labelled(const char *path, int n, int ny, int nan_row, int bad_label_row) {
    if (dpt_world.rank == 0) {
        double x[16 * 3]; /* (n, 3) */
        int64_t y[16];    /* (ny) */
        for (int g = 0; g < n; g++)
            for (int j = 0; j < 3; j++) x[g * 3 + j] = 10.0 * g + j + 0.5;
        for (int g = 0; g < ny; g++) y[g] = g % 4;
        if (nan_row >= 0) x[nan_row * 3 + 1] = NAN;
        if (bad_label_row >= 0) y[bad_label_row] = 12;
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t dx[2] = {(hsize_t)n, 3}, dy[1] = {(hsize_t)ny};
        dpt_test_h5_put(f, "X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dx, x);
        dpt_test_h5_put(f, "y", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dy, y);
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void check_block(const dpt_shard *s, int64_t lo, int64_t hi) {
    int r = dpt_world.rank, P = dpt_world.size;
    CHECK(s->row0 == lo + dpt_split_lo(hi - lo, P, r));
    CHECK(s->nrows == dpt_split_lo(hi - lo, P, r + 1) - dpt_split_lo(hi - lo, P, r));
    for (int64_t i = 0; i < s->nrows; i++) {
        int64_t g = s->row0 + i;
        for (int j = 0; j < 3; j++) CHECK(s->x[i * 3 + j] == (float)(10.0 * g + j + 0.5));
        CHECK(s->labels[i] == g % 4);
    }
    int64_t total = s->nrows;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(total == hi - lo);
}

static void each_rank_reads_its_block_of_float64_rows_and_int64_labels(void) {
    const int sizes[2] = {10, 11};
    for (int t = 0; t < 2; t++) {
        const char *path = dpt_test_path(dir, t ? "eleven.h5" : "ten.h5");
        write_labelled(path, sizes[t], sizes[t], -1, -1);
        char err[512] = "";
        dpt_h5info info;
        CHECK_MSG(dpt_h5_inspect(&info, path, "X", "y", MPI_COMM_WORLD, err, sizeof err) == 0, err);
        CHECK(info.n == sizes[t] && info.F == 3 && info.K == 1 && info.labels && info.has_y);
        CHECK(info.T == 1 && info.y_steps == 1 && !info.has_lengths); /* plain vectors */
        dpt_shard s;
        CHECK_MSG(dpt_h5_read_shard(&s, path, "X", "y", 0, sizes[t], 4, MPI_COMM_WORLD, err,
                                    sizeof err) == 0,
                  err);
        CHECK(s.y == NULL && s.labels != NULL);
        check_block(&s, 0, sizes[t]);
        dpt_shard_free(&s);
        /* A sub-range (e.g. the validation tail) is split the same way. */
        CHECK_MSG(dpt_h5_read_shard(&s, path, "X", "y", 3, sizes[t] - 1, 4, MPI_COMM_WORLD, err,
                                    sizeof err) == 0,
                  err);
        check_block(&s, 3, sizes[t] - 1);
        dpt_shard_free(&s);
    }
}

static void float_targets_are_read_as_n_by_k_and_x_alone_without_y(void) {
    const char *path = dpt_test_path(dir, "regression.h5");
    if (dpt_world.rank == 0) {
        float x[10 * 2], y[10 * 2]; /* (10, 2) each */
        for (int i = 0; i < 20; i++) x[i] = (float)i, y[i] = (float)i * -0.25f;
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t d[2] = {10, 2};
        dpt_test_h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d, x);
        dpt_test_h5_put(f, "targets", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d, y);
        dpt_test_h5_put(f, "t1", H5T_IEEE_F64LE, H5T_NATIVE_FLOAT, 1, d, y); /* 1-D float: (N, 1) */
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char err[512] = "";
    dpt_shard s;
    CHECK_MSG(
        dpt_h5_read_shard(&s, path, "X", "targets", 0, 10, 0, MPI_COMM_WORLD, err, sizeof err) == 0,
        err);
    CHECK(s.info.K == 2 && !s.info.labels && s.labels == NULL);
    for (int64_t i = 0; i < s.nrows * 2; i++) CHECK(s.y[i] == (float)(s.row0 * 2 + i) * -0.25f);
    dpt_shard_free(&s);
    CHECK_MSG(dpt_h5_read_shard(&s, path, "X", "t1", 0, 10, 0, MPI_COMM_WORLD, err, sizeof err) ==
                  0,
              err);
    CHECK(s.info.K == 1 && !s.info.labels);
    for (int64_t i = 0; i < s.nrows; i++) CHECK(s.y[i] == (float)(s.row0 + i) * -0.25f);
    dpt_shard_free(&s);
    CHECK_MSG(dpt_h5_read_shard(&s, path, "X", NULL, 0, 10, 0, MPI_COMM_WORLD, err, sizeof err) ==
                  0,
              err);
    CHECK(!s.info.has_y && s.y == NULL && s.labels == NULL && s.x[0] == (float)(s.row0 * 2));
    dpt_shard_free(&s);
}

/* Inspection must fail on every rank with a message containing want. */
static void expect_inspect_error(const char *path, const char *xname, const char *yname,
                                 const char *want) {
    char err[512] = "";
    dpt_h5info info;
    CHECK(dpt_h5_inspect(&info, path, xname, yname, MPI_COMM_WORLD, err, sizeof err) == -1);
    CHECK_CONTAINS(err, want);
    CHECK_CONTAINS(err, path);
    dpt_shard s;
    CHECK(dpt_h5_read_shard(&s, path, xname, yname, 0, 1, 0, MPI_COMM_WORLD, err, sizeof err) ==
          -1);
    CHECK_CONTAINS(err, want);
    CHECK(s.x == NULL);
}

static void a_missing_or_foreign_file_is_named_with_the_reason(void) {
    expect_inspect_error(dpt_test_path(dir, "absent.h5"), "X", "y",
                         "absent.h5: cannot open: No such file");
    const char *text = dpt_test_path(dir, "notes.txt");
    if (dpt_world.rank == 0) {
        FILE *f = fopen(text, "w");
        fputs("not hdf5\n", f);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    expect_inspect_error(text, "X", "y", "notes.txt: not an HDF5 file");
}

static void bad_shapes_and_types_are_reported_with_what_was_found(void) {
    const char *path = dpt_test_path(dir, "bad.h5");
    if (dpt_world.rank == 0) {
        float hyper[2 * 2 * 2 * 2] = {0}; /* (2, 2, 2, 2) */
        int32_t ints[10 * 2] = {0};       /* (10, 2) */
        int32_t ints3[10 * 2 * 2] = {0};  /* (10, 2, 2) */
        float x[10 * 2] = {0}, y9[9] = {0};
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t d4[4] = {2, 2, 2, 2}, d2[2] = {10, 2}, d9[1] = {9}, d3[3] = {10, 2, 2};
        dpt_test_h5_put(f, "hyper", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, d4, hyper);
        dpt_test_h5_put(f, "ints", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d2, ints);
        dpt_test_h5_put(f, "ints3", H5T_STD_I32LE, H5T_NATIVE_INT32, 3, d3, ints3);
        dpt_test_h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, x);
        dpt_test_h5_put(f, "y9", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d9, y9);
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    expect_inspect_error(
        path, "features", "y",
        "no dataset 'features' (data.x); datasets in the file: X, hyper, ints, ints3, y9");
    expect_inspect_error(path, "X", "labels", "no dataset 'labels' (data.y)");
    expect_inspect_error(path, "y9", NULL,
                         "dataset 'y9': expected a 2-D dataset (N, F), a 3-D dataset (N, T, F) "
                         "or a 4-D dataset (N, H, W, C), found 1-D (9)");
    expect_inspect_error(path, "X", "y9", "X has 10 rows but y9 has 9");
    /* 2-D integer y with vectors X: one label per output step (one-to-many), T = 2. */
    char err[512] = "";
    dpt_h5info info;
    CHECK_MSG(dpt_h5_inspect(&info, path, "X", "ints", MPI_COMM_WORLD, err, sizeof err) == 0, err);
    CHECK(info.labels && info.T == 1 && info.y_steps == 2 && info.K == 1);
    expect_inspect_error(path, "X", "ints3",
                         "dataset 'ints3': expected (N) or (N, T) integer labels, or (N, K), "
                         "(N, T, K) or (N, H, W, K) float targets, found 3-D (10, 2, 2) int32");
    /* 4-D float y is image targets (N, H, W, K): here its rows do not match X's. */
    expect_inspect_error(path, "X", "hyper", "X has 10 rows but hyper has 2");
}

/* Value errors are found by the rank that holds the row; the others read fine. */
static void expect_value_error_on_owner(const char *path, int64_t n, int64_t row, int nclasses,
                                        const char *want) {
    char err[512] = "";
    dpt_shard s;
    int rc = dpt_h5_read_shard(&s, path, "X", "y", 0, n, nclasses, MPI_COMM_WORLD, err, sizeof err);
    int owner = dpt_split_lo(n, dpt_world.size, dpt_world.rank) <= row &&
                row < dpt_split_lo(n, dpt_world.size, dpt_world.rank + 1);
    CHECK(rc == (owner ? -1 : 0));
    if (owner) CHECK_CONTAINS(err, want);
    if (!owner) dpt_shard_free(&s);
}

static void nan_and_out_of_range_labels_name_the_first_bad_row(void) {
    const char *nan = dpt_test_path(dir, "nan.h5"), *label = dpt_test_path(dir, "label.h5");
    write_labelled(nan, 11, 11, 7, -1);
    write_labelled(label, 11, 11, -1, 5);
    expect_value_error_on_owner(nan, 11, 7, 4, "nan.h5: X row 7, column 1: NaN");
    expect_value_error_on_owner(label, 11, 5, 10,
                                "label.h5: y row 5: label 12 out of range [0, 10)");
    char err[512] = "";
    dpt_shard s;
    /* Without a class count the label is merely non-negative: fine. */
    CHECK_MSG(dpt_h5_read_shard(&s, label, "X", "y", 0, 11, 0, MPI_COMM_WORLD, err, sizeof err) ==
                  0,
              err);
    dpt_shard_free(&s);
}

static void rows_beyond_the_file_are_refused(void) {
    const char *path = dpt_test_path(dir, "ten.h5");
    char err[512] = "";
    dpt_shard s;
    CHECK(dpt_h5_read_shard(&s, path, "X", "y", 5, 12, 0, MPI_COMM_WORLD, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "rows [5, 12) requested, the file has 10");
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(dir, sizeof dir, "dpt_h5_");
    RUN(each_rank_reads_its_block_of_float64_rows_and_int64_labels);
    RUN(float_targets_are_read_as_n_by_k_and_x_alone_without_y);
    RUN(a_missing_or_foreign_file_is_named_with_the_reason);
    RUN(bad_shapes_and_types_are_reported_with_what_was_found);
    RUN(nan_and_out_of_range_labels_name_the_first_bad_row);
    RUN(rows_beyond_the_file_are_refused);
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

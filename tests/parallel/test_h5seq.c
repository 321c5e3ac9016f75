/* Sequence data at 1 to 3 ranks: X (N, T, F) in float32 and float64, per-sample and per-step
 * targets and labels, optional lengths found by default or by name, and one message for each
 * kind of bad file.  N = 11 on purpose: no rank count used here divides it.  Rank 0 writes the
 * files with the serial API; then everyone reads them through MPI-IO. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "h5fixture.h"
#include "io/h5data.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"
#include "scratch.h"

enum { N = 11, T = 4, F = 3, K = 2 }; /* rows, steps, features, target columns */

static char dir[64]; /* a fresh directory shared by all ranks */

/* The values every file below is made of, so any rank can check any row it holds. */
static double x_at(int64_t g, int t, int j) {
    return 100.0 * (double)g + 10.0 * t + j + 0.5;
}
static float y_at(int64_t g, int t, int k) {
    return -(float)g - 0.25f * (float)t - 0.125f * (float)k;
}
static int label_at(int64_t g, int t) {
    return (int)((g + t) % 5);
}
static int length_of(int64_t g) {
    return 1 + (int)(g % T);
}

/* Rank 0 writes the sequence file: X32 (N, T, F) float32, X64 the same in float64, X2 (N, F),
 * ysteps (N, T, K) float32, yvec (N, K) float64, lsteps (N, T) int16, lsample (N) int64,
 * lengths (N) int32, len_alt (N) int64 = T. */
static void write_sequences(const char *path) {
    if (dpt_world.rank != 0) return;
    static float x32[N * T * F], ys[N * T * K], yv32[N * K];
    static double x64[N * T * F], yv[N * K];
    static int16_t ls[N * T];
    static int64_t lv[N], alt[N];
    static int32_t len[N];
    for (int g = 0; g < N; g++) {
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < F; j++) x64[(g * T + t) * F + j] = x_at(g, t, j);
            for (int k = 0; k < K; k++) ys[(g * T + t) * K + k] = y_at(g, t, k);
            ls[g * T + t] = (int16_t)label_at(g, t);
        }
        for (int k = 0; k < K; k++) yv[g * K + k] = yv32[g * K + k] = y_at(g, 0, k);
        lv[g] = label_at(g, 0);
        len[g] = length_of(g);
        alt[g] = T;
    }
    for (int i = 0; i < N * T * F; i++) x32[i] = (float)x64[i];
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dx[3] = {N, T, F}, dys[3] = {N, T, K}, dyv[2] = {N, K}, dls[2] = {N, T}, d1[1] = {N};
    hsize_t dx2[2] = {N, F};
    dpt_test_h5_put(f, "X32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dx, x32);
    dpt_test_h5_put(f, "X64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dx, x64);
    dpt_test_h5_put(f, "X2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dx2, x64);
    dpt_test_h5_put(f, "ysteps", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dys, ys);
    dpt_test_h5_put(f, "yvec", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dyv, yv);
    dpt_test_h5_put(f, "lsteps", H5T_STD_I16LE, H5T_NATIVE_INT16, 2, dls, ls);
    dpt_test_h5_put(f, "lsample", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, lv);
    dpt_test_h5_put(f, "lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, len);
    dpt_test_h5_put(f, "len_alt", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, alt);
    H5Fclose(f);
}

static void check_split(const dpt_shard *s, int64_t lo, int64_t hi) {
    int r = dpt_world.rank, P = dpt_world.size;
    CHECK(s->row0 == lo + dpt_split_lo(hi - lo, P, r));
    CHECK(s->nrows == dpt_split_lo(hi - lo, P, r + 1) - dpt_split_lo(hi - lo, P, r));
    int64_t total = s->nrows;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(total == hi - lo);
}

/* x of the shard is (nrows, T, F) in row-major order. */
static void check_x(const dpt_shard *s) {
    for (int64_t i = 0; i < s->nrows; i++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < F; j++)
                CHECK(s->x[(i * T + t) * F + j] == (float)x_at(s->row0 + i, t, j));
}

static dpt_shard read_ok(const char *path, const char *xname, const char *yname, const char *lname,
                         int64_t lo, int64_t hi, int nclasses) {
    char err[512] = "";
    dpt_shard s;
    CHECK_MSG(dpt_h5_read_shard_seq(&s, path, xname, yname, lname, lo, hi, nclasses, MPI_COMM_WORLD,
                                    err, sizeof err) == 0,
              err);
    check_split(&s, lo, hi);
    return s;
}

static void float32_and_float64_sequences_arrive_as_rows_of_t_by_f(void) {
    const char *path = dpt_test_path(dir, "seq.h5");
    write_sequences(path);
    MPI_Barrier(MPI_COMM_WORLD);
    const char *xs[2] = {"X32", "X64"};
    for (int v = 0; v < 2; v++) {
        char err[512] = "";
        dpt_h5info info;
        CHECK_MSG(dpt_h5_inspect_seq(&info, path, xs[v], "ysteps", NULL, MPI_COMM_WORLD, err,
                                     sizeof err) == 0,
                  err);
        CHECK(info.n == N && info.T == T && info.F == F && info.K == K && info.y_steps == T);
        CHECK(info.has_y && !info.labels && info.has_lengths);
        dpt_shard s = read_ok(path, xs[v], "ysteps", NULL, 0, N, 0);
        check_x(&s);
        dpt_shard_free(&s);
        s = read_ok(path, xs[v], NULL, NULL, 2, N - 1, 0); /* a sub-range, X alone */
        CHECK(s.info.T == T && !s.info.has_y && s.y == NULL && s.labels == NULL);
        check_x(&s);
        dpt_shard_free(&s);
    }
}

static void per_step_and_per_sample_targets_keep_their_layout(void) {
    const char *path = dpt_test_path(dir, "seq.h5");
    dpt_shard s = read_ok(path, "X32", "ysteps", NULL, 0, N, 0); /* (N, T, K) floats */
    CHECK(s.info.y_steps == T && s.info.K == K && s.labels == NULL);
    for (int64_t i = 0; i < s.nrows; i++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++) CHECK(s.y[(i * T + t) * K + k] == y_at(s.row0 + i, t, k));
    dpt_shard_free(&s);
    s = read_ok(path, "X32", "lsteps", NULL, 0, N, 5); /* (N, T) int16 labels */
    CHECK(s.info.labels && s.info.y_steps == T && s.info.K == 1 && s.y == NULL);
    for (int64_t i = 0; i < s.nrows; i++) {
        int len = length_of(s.row0 + i); /* steps past the length read as 0 */
        for (int t = 0; t < T; t++)
            CHECK(s.labels[i * T + t] == (t < len ? label_at(s.row0 + i, t) : 0));
    }
    dpt_shard_free(&s);
    s = read_ok(path, "X64", "yvec", NULL, 0, N, 0); /* (N, K) per sample */
    CHECK(s.info.y_steps == 1 && s.info.K == K && s.info.T == T);
    for (int64_t i = 0; i < s.nrows; i++)
        for (int k = 0; k < K; k++) CHECK(s.y[i * K + k] == y_at(s.row0 + i, 0, k));
    dpt_shard_free(&s);
    s = read_ok(path, "X64", "lsample", NULL, 0, N, 5); /* (N) labels */
    CHECK(s.info.labels && s.info.y_steps == 1);
    for (int64_t i = 0; i < s.nrows; i++) CHECK(s.labels[i] == label_at(s.row0 + i, 0));
    dpt_shard_free(&s);
}

static void lengths_come_from_lengths_by_default_or_from_the_named_dataset(void) {
    const char *path = dpt_test_path(dir, "seq.h5");
    dpt_shard s = read_ok(path, "X32", "lsample", "", 0, N, 5); /* "" = NULL = default */
    CHECK(s.info.has_lengths && s.lengths != NULL);
    for (int64_t i = 0; i < s.nrows; i++) CHECK(s.lengths[i] == length_of(s.row0 + i));
    dpt_shard_free(&s);
    /* the old entry point finds them too */
    char err[512] = "";
    CHECK_MSG(dpt_h5_read_shard(&s, path, "X32", "lsample", 0, N, 5, MPI_COMM_WORLD, err,
                                sizeof err) == 0,
              err);
    CHECK(s.lengths != NULL);
    for (int64_t i = 0; i < s.nrows; i++) CHECK(s.lengths[i] == length_of(s.row0 + i));
    dpt_shard_free(&s);
    s = read_ok(path, "X32", "lsteps", "len_alt", 0, N, 5); /* every step valid: none zeroed */
    for (int64_t i = 0; i < s.nrows; i++) {
        CHECK(s.lengths[i] == T);
        for (int t = 0; t < T; t++) CHECK(s.labels[i * T + t] == label_at(s.row0 + i, t));
    }
    dpt_shard_free(&s);
    /* For plain vectors a dataset called "lengths" is not sequence lengths. */
    s = read_ok(path, "X2", "lsample", NULL, 0, N, 5);
    CHECK(!s.info.has_lengths && s.lengths == NULL && s.info.T == 1 && s.info.F == F);
    dpt_shard_free(&s);
}

static void a_file_without_lengths_reads_every_step(void) {
    const char *path = dpt_test_path(dir, "nolen.h5");
    if (dpt_world.rank == 0) {
        float x[N * T * F] = {0};
        hsize_t d[3] = {N, T, F};
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        dpt_test_h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d, x);
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    dpt_shard s = read_ok(path, "X", NULL, NULL, 0, N, 0);
    CHECK(!s.info.has_lengths && s.lengths == NULL && s.info.T == T && s.info.y_steps == 1);
    dpt_shard_free(&s);
}

/* Inspection and reading must both fail on every rank with a message containing want. */
static void expect_shape_error(const char *path, const char *xname, const char *yname,
                               const char *lname, const char *want) {
    char err[512] = "";
    dpt_h5info info;
    CHECK(dpt_h5_inspect_seq(&info, path, xname, yname, lname, MPI_COMM_WORLD, err, sizeof err) ==
          -1);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, want);
    dpt_shard s;
    err[0] = '\0';
    CHECK(dpt_h5_read_shard_seq(&s, path, xname, yname, lname, 0, 1, 0, MPI_COMM_WORLD, err,
                                sizeof err) == -1);
    CHECK_CONTAINS(err, want);
    CHECK(s.x == NULL && s.lengths == NULL);
}

/* Rank 0 writes the misshapen datasets: X5 (2, 2, 2, 2, 2); X28 (N, 28, 1); y20 (N, 20, 1);
 * y10 (10, 28, 1); flen (N) float; len2 (N, 1) int; len10 (10) int; ilab (N, 28) int. */
static void write_misshapen(const char *path) {
    if (dpt_world.rank != 0) return;
    static float z[N * 28 * 2];
    static int32_t zi[N * 28];
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d5[5] = {2, 2, 2, 2, 2}, dx[3] = {N, 28, 1}, dy20[3] = {N, 20, 1},
            dy10[3] = {10, 28, 1};
    hsize_t d1[1] = {N}, d2[2] = {N, 1}, d10[1] = {10}, dil[2] = {N, 28}, dx2[2] = {N, 2};
    dpt_test_h5_put(f, "X5", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 5, d5, z);
    dpt_test_h5_put(f, "X28", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dx, z);
    dpt_test_h5_put(f, "X2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dx2, z);
    dpt_test_h5_put(f, "y20", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dy20, z);
    dpt_test_h5_put(f, "y10", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dy10, z);
    dpt_test_h5_put(f, "ysteps", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dx, z);
    dpt_test_h5_put(f, "flen", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, z);
    dpt_test_h5_put(f, "len2", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d2, zi);
    dpt_test_h5_put(f, "len10", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d10, zi);
    dpt_test_h5_put(f, "ilab", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dil, zi);
    H5Fclose(f);
}

/* Per-step targets with vectors X (N, F) are one-to-many: the targets' T is the output length. */
static void expect_one_to_many(const char *path, const char *yname, bool labels) {
    char err[512] = "";
    dpt_h5info info;
    CHECK_MSG(dpt_h5_inspect_seq(&info, path, "X2", yname, NULL, MPI_COMM_WORLD, err, sizeof err) ==
                  0,
              err);
    CHECK(info.T == 1 && info.y_steps == 28 && info.labels == labels && !info.has_lengths);
}

static void misshapen_sequence_files_are_refused_with_what_was_found(void) {
    const char *path = dpt_test_path(dir, "shapes.h5");
    write_misshapen(path);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_shape_error(path, "X5", NULL, NULL,
                       "dataset 'X5': expected a 2-D dataset (N, F), a 3-D dataset (N, T, F) or a "
                       "4-D dataset (N, H, W, C), found 5-D (2, 2, 2, 2, 2)");
    /* Targets with their own time axis (T_out 20 != T 28) are the model's to judge. */
    char err[512] = "";
    dpt_h5info info;
    CHECK_MSG(
        dpt_h5_inspect_seq(&info, path, "X28", "y20", NULL, MPI_COMM_WORLD, err, sizeof err) == 0,
        err);
    CHECK(info.T == 28 && info.y_steps == 20 && info.y_shape.rank == 2 &&
          info.y_shape.dim[0] == 20);
    expect_shape_error(path, "X28", "y10", NULL, ": X28 has 11 rows but y10 has 10");
    expect_one_to_many(path, "ilab", true);
    expect_one_to_many(path, "ysteps", false);
    expect_shape_error(path, "X28", NULL, "flen",
                       "dataset 'flen': expected (N) integer sequence lengths, found 1-D (11) "
                       "float32");
    expect_shape_error(path, "X28", NULL, "len2",
                       "dataset 'len2': expected (N) integer sequence lengths, found 2-D (11, 1)");
    expect_shape_error(path, "X28", "ilab", "len10", ": X28 has 11 rows but len10 has 10");
    expect_shape_error(path, "X28", NULL, "seq_len",
                       ": no dataset 'seq_len' (data.lengths); datasets in the file: X2, X28, X5");
    expect_shape_error(path, "X2", NULL, "flen",
                       "dataset 'flen' (data.lengths): sequence lengths need a 3-D X2 (N, T, F), "
                       "but X2 is 2-D (11, 2)");
}

/* Rank 0 writes X (N, 28, 2) float64 = 0, y (N, 28) int labels = 1 and lengths (N) = 28, then
 * applies the one corruption `what` names at row `row`. */
static void write_corrupt(const char *path, const char *what, int row) {
    if (dpt_world.rank != 0) return;
    static double x[N * 28 * 2], yf[N * 28];
    static int32_t y[N * 28], len[N];
    for (int i = 0; i < N * 28 * 2; i++) x[i] = 0;
    for (int i = 0; i < N * 28; i++) y[i] = 1, yf[i] = 0.5;
    for (int i = 0; i < N; i++) len[i] = 28;
    if (!strcmp(what, "length0")) len[row] = 0;
    if (!strcmp(what, "length29")) len[row] = 29;
    if (!strcmp(what, "label")) y[row * 28 + 7] = 12;
    if (!strcmp(what, "nan-pad")) len[row] = 3, x[(row * 28 + 20) * 2 + 1] = NAN;
    if (!strcmp(what, "pad-label")) len[row] = 5, y[row * 28 + 10] = -1;
    if (!strcmp(what, "inf-y")) yf[row * 28 + 9] = -INFINITY;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dx[3] = {N, 28, 2}, dy[2] = {N, 28}, dyf[3] = {N, 28, 1}, dl[1] = {N};
    dpt_test_h5_put(f, "X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dx, x);
    dpt_test_h5_put(f, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dy, y);
    dpt_test_h5_put(f, "yf", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, dyf, yf);
    dpt_test_h5_put(f, "lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dl, len);
    H5Fclose(f);
}

/* Value errors are found by the rank that holds the row; the others read fine. */
static void expect_value_error_on_owner(const char *what, int64_t row, const char *yname,
                                        const char *want) {
    char name[64], err[512] = "";
    snprintf(name, sizeof name, "bad-%s.h5", what);
    const char *path = dpt_test_path(dir, name);
    write_corrupt(path, what, (int)row);
    MPI_Barrier(MPI_COMM_WORLD);
    dpt_shard s;
    int rc = dpt_h5_read_shard_seq(&s, path, "X", yname, NULL, 0, N, 10, MPI_COMM_WORLD, err,
                                   sizeof err);
    int owner = dpt_split_lo(N, dpt_world.size, dpt_world.rank) <= row &&
                row < dpt_split_lo(N, dpt_world.size, dpt_world.rank + 1);
    CHECK_MSG(rc == (owner ? -1 : 0), err);
    if (owner) {
        CHECK_CONTAINS(err, path);
        CHECK_CONTAINS(err, want);
        CHECK(s.x == NULL && s.lengths == NULL && s.labels == NULL);
    } else {
        dpt_shard_free(&s);
    }
}

static void bad_values_name_row_step_and_column(void) {
    expect_value_error_on_owner("length0", 5, "y", ": lengths row 5: 0 is outside [1, 28]");
    expect_value_error_on_owner("length29", 10, "y", ": lengths row 10: 29 is outside [1, 28]");
    expect_value_error_on_owner("label", 3, "y",
                                ": y row 3, step 7: label 12 out of range [0, 10)");
    expect_value_error_on_owner("nan-pad", 8, NULL, ": X row 8, step 20, feature 1: NaN");
    expect_value_error_on_owner("inf-y", 6, "yf",
                                ": yf row 6, step 9, column 0: -Inf (or beyond the float32 range)");
}

/* Padding conventions differ (-1, -100, ...): labels past a sample's length are not checked. */
static void padded_label_steps_may_hold_anything_and_read_as_zero(void) {
    const int64_t row = 9;
    const char *path = dpt_test_path(dir, "pad-label.h5");
    write_corrupt(path, "pad-label", (int)row);
    MPI_Barrier(MPI_COMM_WORLD);
    dpt_shard s = read_ok(path, "X", "y", NULL, 0, N, 10);
    if (s.row0 <= row && row < s.row0 + s.nrows) {
        const int32_t *l = s.labels + (row - s.row0) * 28; /* (28) */
        CHECK(s.lengths[row - s.row0] == 5 && l[4] == 1 && l[5] == 0 && l[10] == 0);
    }
    dpt_shard_free(&s);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(dir, sizeof dir, "dpt_h5seq_");
    RUN(float32_and_float64_sequences_arrive_as_rows_of_t_by_f);
    RUN(per_step_and_per_sample_targets_keep_their_layout);
    RUN(lengths_come_from_lengths_by_default_or_from_the_named_dataset);
    RUN(a_file_without_lengths_reads_every_step);
    RUN(misshapen_sequence_files_are_refused_with_what_was_found);
    RUN(bad_values_name_row_step_and_column);
    RUN(padded_label_steps_may_hold_anything_and_read_as_zero);
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

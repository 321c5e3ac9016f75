/* Data of other shapes at 1 to 3 ranks: images X (N, H, W, C), integer token ids X (N, T) read as
 * int32 (not converted to float), targets with their own time axis y (N, T_out, K) / (N, T_out)
 * and their own lengths (found as "y_lengths" or by name), through MPI-IO shards and the serial
 * row reader; one message for each kind of bad file.  N = 11: no rank count here divides it. */
#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h5fixture.h"
#include "io/h5data.h"
#include "io/stream.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"
#include "scratch.h"

enum { N = 11, H = 3, W = 2, C = 2, T = 4, F = 3, U = 6, K = 2 }; /* U = T_out */

static char dir[64]; /* a fresh directory shared by all ranks */

static double img_at(int64_t g, int h, int w, int c) {
    return 1000.0 * (double)g + 100.0 * h + 10.0 * w + c + 0.5;
}
static int id_at(int64_t g, int t) {
    return (int)(g * 7 + t);
}
static float y_at(int64_t g, int u, int k) {
    return (float)g + 0.25f * (float)u + 0.125f * (float)k;
}
static int ylen_of(int64_t g) {
    return 1 + (int)(g % U);
}
static int len_of(int64_t g) {
    return 1 + (int)(g % T);
}
static int pixel_at(int64_t g, int i) { /* 0..255, both ends included */
    return (int)((g * 37 + i * 101) % 256);
}

/* Rank 0 writes: img (N, H, W, C) float64, ids (N, T) int16, lengths (N) = len_of,
 * X (N, T, F) float32, y (N, U, K) float32, y_lengths (N) = ylen_of, ylab (N, U) int32 with -1
 * past each y length, ylen_alt (N) = U, yvec (N, K) float32, badlen (N) with a 7 at row 3,
 * fylen (N) float32, negids (N, T) int32 with -3 at row 4, step 2; X5 (N, 1, 1, 1, 1);
 * img8 (N, H, W, C) uint8 = pixel_at; yimg (N, H, W, K) float32 = g + i. */
static void write_file(const char *path) {
    if (dpt_world.rank != 0) return;
    static double img[N * H * W * C];
    static int16_t ids[N * T];
    static int32_t negids[N * T], len[N], ylen[N], ylab[N * U], alt[N], badlen[N];
    static float x[N * T * F], y[N * U * K], yvec[N * K], fylen[N], x5[N], yimg[N * H * W * K];
    static uint8_t img8[N * H * W * C];
    for (int g = 0; g < N; g++) {
        for (int i = 0; i < H * W * C; i++) {
            img[g * H * W * C + i] = img_at(g, i / (W * C), i / C % W, i % C);
            img8[g * H * W * C + i] = (uint8_t)pixel_at(g, i);
        }
        for (int i = 0; i < H * W * K; i++) yimg[g * H * W * K + i] = (float)(g + i);
        for (int t = 0; t < T; t++) ids[g * T + t] = (int16_t)id_at(g, t), negids[g * T + t] = 1;
        for (int i = 0; i < T * F; i++) x[g * T * F + i] = (float)i;
        for (int u = 0; u < U; u++) {
            for (int k = 0; k < K; k++) y[(g * U + u) * K + k] = y_at(g, u, k);
            ylab[g * U + u] = u < ylen_of(g) ? (g + u) % 3 : -1;
        }
        for (int k = 0; k < K; k++) yvec[g * K + k] = 1;
        len[g] = len_of(g), ylen[g] = ylen_of(g), alt[g] = U, badlen[g] = 1, fylen[g] = 1;
        x5[g] = 0;
    }
    negids[4 * T + 2] = -3;
    badlen[3] = 7;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t di[4] = {N, H, W, C}, dt[2] = {N, T}, d1[1] = {N}, dx[3] = {N, T, F};
    hsize_t dy[3] = {N, U, K}, dl[2] = {N, U}, dv[2] = {N, K}, d5[5] = {N, 1, 1, 1, 1};
    dpt_test_h5_put(f, "img", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, di, img);
    dpt_test_h5_put(f, "ids", H5T_STD_I16LE, H5T_NATIVE_INT16, 2, dt, ids);
    dpt_test_h5_put(f, "negids", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dt, negids);
    dpt_test_h5_put(f, "lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, len);
    dpt_test_h5_put(f, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dx, x);
    dpt_test_h5_put(f, "y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dy, y);
    dpt_test_h5_put(f, "y_lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, ylen);
    dpt_test_h5_put(f, "ylab", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dl, ylab);
    dpt_test_h5_put(f, "ylen_alt", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, alt);
    dpt_test_h5_put(f, "yvec", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dv, yvec);
    dpt_test_h5_put(f, "badlen", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, badlen);
    dpt_test_h5_put(f, "fylen", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, fylen);
    dpt_test_h5_put(f, "X5", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 5, d5, x5);
    hsize_t dk[4] = {N, H, W, K};
    dpt_test_h5_put(f, "img8", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, di, img8);
    dpt_test_h5_put(f, "yimg", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dk, yimg);
    H5Fclose(f);
}

static const char *path_of_file(void) {
    return dpt_test_path(dir, "shapes.h5");
}

static dpt_shard read_ok(const dpt_h5names *n, int nclasses) {
    char err[512] = "";
    dpt_shard s;
    CHECK_MSG(dpt_h5_read_shard_ds(&s, path_of_file(), n, 0, N, nclasses, MPI_COMM_WORLD, err,
                                   sizeof err) == 0,
              err);
    int r = dpt_world.rank, P = dpt_world.size;
    CHECK(s.row0 == dpt_split_lo(N, P, r) && s.nrows == dpt_split_lo(N, P, r + 1) - s.row0);
    return s;
}

static void images_arrive_as_rows_of_h_w_c(void) {
    dpt_h5names n = {"img", NULL, NULL, NULL, false, 0, NULL};
    dpt_shard s = read_ok(&n, 0);
    const dpt_shape *xs = &s.info.x_shape;
    CHECK(xs->rank == 3 && xs->dim[0] == H && xs->dim[1] == W && xs->dim[2] == C);
    CHECK(xs->dtype == DPT_F32 && s.info.T == H * W && s.info.F == C && !s.info.has_lengths);
    for (int64_t i = 0; i < s.nrows; i++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++)
                    CHECK(s.x[((i * H + h) * W + w) * C + c] == (float)img_at(s.row0 + i, h, w, c));
    dpt_shard_free(&s);
}

static void integer_x_is_read_as_int32_token_ids_with_lengths(void) {
    dpt_h5names n = {"ids", NULL, NULL, NULL, false, 0, NULL};
    dpt_shard s = read_ok(&n, 0);
    const dpt_shape *xs = &s.info.x_shape;
    CHECK(xs->rank == 1 && xs->dim[0] == T && xs->dtype == DPT_I32 && s.info.T == T &&
          s.info.F == 1);
    CHECK(dpt_h5info_x_ids(&s.info) && s.info.has_lengths); /* (N, T) ids have a time axis */
    const int32_t *ids = dpt_shard_x_ids(&s);               /* (nrows, T) */
    for (int64_t i = 0; i < s.nrows; i++) {
        CHECK(s.lengths[i] == len_of(s.row0 + i));
        for (int t = 0; t < T; t++) CHECK(ids[i * T + t] == id_at(s.row0 + i, t));
    }
    dpt_shard_free(&s);
    /* A negative id is an error on the rank holding row 4; the others read fine. */
    char err[512] = "";
    dpt_h5names neg = {"negids", NULL, NULL, NULL, false, 0, NULL};
    int rc =
        dpt_h5_read_shard_ds(&s, path_of_file(), &neg, 0, N, 0, MPI_COMM_WORLD, err, sizeof err);
    bool owner = dpt_split_lo(N, dpt_world.size, dpt_world.rank) <= 4 &&
                 4 < dpt_split_lo(N, dpt_world.size, dpt_world.rank + 1);
    CHECK_MSG(rc == (owner ? -1 : 0), err);
    if (owner)
        CHECK_CONTAINS(err, ": negids row 4, position 2: token id -3 is negative, expected >= 0");
    if (!rc) dpt_shard_free(&s);
}

static void targets_have_their_own_time_axis_and_lengths(void) {
    dpt_h5names n = {"X",   "y", NULL, NULL,
                     false, 0,   NULL}; /* y_lengths found by its default name */
    dpt_shard s = read_ok(&n, 0);
    const dpt_h5info *in = &s.info;
    CHECK(in->T == T && in->y_steps == U && in->K == K && !in->labels);
    CHECK(in->y_shape.rank == 2 && in->y_shape.dim[0] == U && in->y_shape.dim[1] == K);
    CHECK(in->has_lengths && in->has_y_lengths && s.y_lengths && s.lengths);
    CHECK(dpt_shard_y_step_lengths(&s) == s.y_lengths);
    for (int64_t i = 0; i < s.nrows; i++) {
        CHECK(s.y_lengths[i] == ylen_of(s.row0 + i) && s.lengths[i] == len_of(s.row0 + i));
        for (int u = 0; u < U; u++)
            for (int k = 0; k < K; k++) CHECK(s.y[(i * U + u) * K + k] == y_at(s.row0 + i, u, k));
    }
    dpt_shard_free(&s);
    /* Labels past a target length may hold anything (-1 here) and read as 0. */
    /* (named: the automatic lengths of ylab would be ylab_lengths) */
    dpt_h5names lab = {"X", "ylab", NULL, "y_lengths", false, 0, NULL};
    s = read_ok(&lab, 3);
    CHECK(s.info.labels && s.info.y_steps == U && s.info.y_shape.dtype == DPT_I32);
    for (int64_t i = 0; i < s.nrows; i++)
        for (int u = 0; u < U; u++)
            CHECK(s.labels[i * U + u] ==
                  (u < ylen_of(s.row0 + i) ? (int)((s.row0 + i + u) % 3) : 0));
    dpt_shard_free(&s);
    /* A named dataset replaces the default one. */
    dpt_h5names alt = {"X", "y", NULL, "ylen_alt", false, 0, NULL};
    s = read_ok(&alt, 0);
    for (int64_t i = 0; i < s.nrows; i++) CHECK(s.y_lengths[i] == U);
    dpt_shard_free(&s);
}

static void the_row_reader_moves_ids_and_target_lengths(void) {
    char err[512] = "";
    dpt_h5names n = {"ids", "ylab", NULL, "y_lengths", false, 0, NULL};
    dpt_h5rows *r;
    CHECK_MSG(dpt_h5rows_open_ds(&r, path_of_file(), &n, 3, 4, err, sizeof err) == 0, err);
    const dpt_h5info *in = dpt_h5rows_info(r);
    CHECK(dpt_h5info_x_ids(in) && in->has_y_lengths && in->has_lengths);
    dpt_shard s = {0};
    s.x = calloc(4 * T, sizeof(float)); /* (4, T) int32 ids in 4-byte slots */
    s.labels = calloc(4 * U, sizeof(int32_t));
    s.lengths = calloc(4, sizeof(int32_t));
    s.y_lengths = calloc(4, sizeof(int32_t));
    CHECK_MSG(dpt_h5rows_read(r, 6, 4, &s, err, sizeof err) == 0, err);
    const int32_t *ids = dpt_shard_x_ids(&s);
    for (int i = 0; i < 4; i++) {
        CHECK(s.y_lengths[i] == ylen_of(6 + i) && ids[i * T + 3] == id_at(6 + i, 3));
        CHECK(s.labels[i * U + U - 1] == (U - 1 < ylen_of(6 + i) ? (6 + i + U - 1) % 3 : 0));
    }
    dpt_shard_free(&s);
    dpt_h5rows_close(r);
}

/* Inspection and reading must both fail on every rank with a message containing want. */
static void expect_error(const char *x, const char *y, const char *yl, const char *want) {
    char err[512] = "";
    dpt_h5info info;
    dpt_h5names n = {x, y, NULL, yl, false, 0, NULL};
    CHECK(dpt_h5_inspect_ds(&info, path_of_file(), &n, MPI_COMM_WORLD, err, sizeof err) == -1);
    CHECK_CONTAINS(err, path_of_file());
    CHECK_CONTAINS(err, want);
}

/* uint8 X is pixels: float32 value / 255 (the bits of np.float32(v) / np.float32(255)), through
 * the shards and the row reader; the other integer types stay token ids (ids above: int16). */
static void uint8_x_is_read_as_float_pixels_divided_by_255(void) {
    dpt_h5names n = {"img8", NULL, NULL, NULL, false, 0, NULL};
    dpt_shard s = read_ok(&n, 0);
    const dpt_shape *xs = &s.info.x_shape;
    CHECK(xs->rank == 3 && xs->dtype == DPT_F32 && s.info.x_u8 && !dpt_h5info_x_ids(&s.info));
    CHECK(s.info.T == H * W && s.info.F == C && !s.info.has_lengths);
    for (int64_t i = 0; i < s.nrows; i++)
        for (int j = 0; j < H * W * C; j++) {
            float want = (float)pixel_at(s.row0 + i, j) / 255.0f;
            CHECK(s.x[i * H * W * C + j] == want); /* finite values: == is bit equality */
        }
    dpt_shard_free(&s);
    char err[512] = "";
    dpt_h5rows *r;
    CHECK_MSG(dpt_h5rows_open_ds(&r, path_of_file(), &n, 0, 4, err, sizeof err) == 0, err);
    dpt_data d;
    dpt_data_alloc(&d, dpt_h5rows_info(r), 4, false);
    CHECK_MSG(dpt_h5rows_read(r, 7, 4, &d.shard, err, sizeof err) == 0, err);
    for (int j = 0; j < 4 * H * W * C; j++)
        CHECK(d.shard.x[j] == (float)pixel_at(7 + j / (H * W * C), j % (H * W * C)) / 255.0f);
    dpt_data_free(&d);
    dpt_h5rows_close(r);
}

/* data.target: input: no y dataset, the targets are X: y_shape = x_shape, nothing read for y. */
static void target_input_takes_the_targets_shape_from_x(void) {
    dpt_h5names n = {"img8", NULL, NULL, NULL, true, 0, NULL};
    dpt_shard s = read_ok(&n, 0);
    const dpt_h5info *in = &s.info;
    CHECK(in->y_is_x && !in->has_y && !in->labels && dpt_shape_equal(&in->y_shape, &in->x_shape));
    CHECK(in->y_steps == H * W && in->K == C && !s.y && !s.labels);
    dpt_shard_free(&s);
}

/* 4-D float y: one K-vector per pixel, (H, W, K) per row. */
static void image_targets_are_rows_of_h_w_k(void) {
    dpt_h5names n = {"img", "yimg", NULL, NULL, false, 0, NULL};
    dpt_shard s = read_ok(&n, 0);
    const dpt_h5info *in = &s.info;
    CHECK(in->y_shape.rank == 3 && in->y_shape.dim[0] == H && in->y_shape.dim[1] == W &&
          in->y_shape.dim[2] == K && in->y_steps == H * W && in->K == K && !in->labels);
    for (int64_t i = 0; i < s.nrows; i++)
        for (int j = 0; j < H * W * K; j++)
            CHECK(s.y[i * H * W * K + j] == (float)(s.row0 + i + j));
    dpt_shard_free(&s);
}

static void bad_shapes_and_target_lengths_are_named(void) {
    expect_error("X5", NULL, NULL,
                 "dataset 'X5': expected a 2-D dataset (N, F), a 3-D dataset (N, T, F) or a 4-D "
                 "dataset (N, H, W, C), found 5-D (11, 1, 1, 1, 1)");
    expect_error("X", "yvec", "y_lengths",
                 "dataset 'y_lengths' (data.y_lengths): target lengths need per-step targets "
                 "yvec (N, T_out, K) or (N, T_out), but yvec is one target per sample");
    expect_error("X", "y", "nope", ": no dataset 'nope' (data.y_lengths); datasets in the file:");
    expect_error("X", "y", "fylen",
                 "dataset 'fylen': expected (N) integer target lengths, found 1-D (11) float32");
    /* Out-of-range target lengths: found by the rank holding row 3. */
    char err[512] = "";
    dpt_shard s;
    dpt_h5names n = {"X", "y", NULL, "badlen", false, 0, NULL};
    int rc = dpt_h5_read_shard_ds(&s, path_of_file(), &n, 0, N, 0, MPI_COMM_WORLD, err, sizeof err);
    bool owner = dpt_split_lo(N, dpt_world.size, dpt_world.rank) <= 3 &&
                 3 < dpt_split_lo(N, dpt_world.size, dpt_world.rank + 1);
    CHECK_MSG(rc == (owner ? -1 : 0), err);
    if (owner) CHECK_CONTAINS(err, ": badlen row 3: 7 is outside [1, 6]");
    if (!rc) dpt_shard_free(&s);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(dir, sizeof dir, "dpt_h5shapes_");
    write_file(path_of_file());
    MPI_Barrier(MPI_COMM_WORLD);
    RUN(images_arrive_as_rows_of_h_w_c);
    RUN(integer_x_is_read_as_int32_token_ids_with_lengths);
    RUN(targets_have_their_own_time_axis_and_lengths);
    RUN(the_row_reader_moves_ids_and_target_lengths);
    RUN(bad_shapes_and_target_lengths_are_named);
    RUN(uint8_x_is_read_as_float_pixels_divided_by_255);
    RUN(target_input_takes_the_targets_shape_from_x);
    RUN(image_targets_are_rows_of_h_w_k);
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

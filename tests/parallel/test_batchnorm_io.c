/* batch_norm's moving statistics in files: a model file and a checkpoint written by rank 0 give
 * every rank the same state bits (/params/<layer>/moving_mean, moving_variance), evaluation with
 * the loaded model gives the same bits as with the original, and a changed moving statistic is
 * caught by the checksum. */
#include <hdf5.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/optim.h"
#include "core/rng.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/modelio.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "scratch.h"

/* Whether n bytes at a and b are the same bits (floats compared bit for bit on purpose). */
static bool same_bits(const void *a, const void *b, size_t n) {
    return memcmp(a, b, n) == 0;
}

static const char yaml[] = "model:\n"
                           "  layers:\n"
                           "    - {type: dense, units: 4}\n"
                           "    - {type: batch_norm, momentum: 0.5}\n"
                           "    - {type: dense, units: 2}\n"
                           "loss: mse\n"
                           "optimizer: {name: adamw, lr: 0.01}\n"
                           "data:\n"
                           "  train: train.h5\n";

static char dir[64];

typedef struct fixture {
    dpt_config c;
    dpt_model m;
    dpt_optim o;
} fixture;

static void make(fixture *f, int train) {
    char err[512] = "";
    CHECK_MSG(dpt_config_load_text(&f->c, yaml, "bn.yaml", NULL, 0, err, sizeof err) == 0, err);
    dpt_shape in = dpt_shape_1d(3);
    CHECK_MSG(dpt_model_build(&f->m, f->c.layers, f->c.nlayers, &in, 8, err, sizeof err) == 0, err);
    dpt_model_init_params(&f->m, 4);
    CHECK_MSG(dpt_optim_init(&f->o, &f->c.optim, f->m.nparams, err, sizeof err) == 0, err);
    float x[8 * 3];
    dpt_rng rng;
    dpt_rng_seed(&rng, 8, 0);
    for (int i = 0; i < 24; i++) x[i] = 3.0f * dpt_rng_uniform(&rng) - 1.0f;
    dpt_step_ctx ctx = {.training = true};
    for (int k = 0; k < train; k++) dpt_model_forward(&f->m, x, 8, &ctx); /* moving stats move */
}

static void free_fixture(fixture *f) {
    dpt_optim_free(&f->o);
    dpt_model_free(&f->m);
    dpt_config_free(&f->c);
}

/* Evaluation output of m on fixed rows. */
static void eval(dpt_model *m, float *out) {
    float x[8 * 3];
    for (int i = 0; i < 24; i++) x[i] = (float)(i % 7) * 0.3f - 0.9f;
    const float *y = dpt_model_forward(m, x, 8, NULL);
    memcpy(out, y, 16 * sizeof *out);
}

static void model_file_keeps_the_moving_statistics(void) {
    fixture f;
    make(&f, 3);
    CHECK(f.m.nstate == 8 && f.m.state[0] != 0.0f && f.m.state[4] != 1.0f);
    const char *path = dpt_test_path(dir, "bn.h5");
    char err[512] = "";
    if (dpt_world.rank == 0)
        CHECK_MSG(dpt_model_save(path, &f.m, &f.c, NULL, NULL, err, sizeof err) == 0, err);
    MPI_Barrier(MPI_COMM_WORLD);
    dpt_config c;
    dpt_model g;
    dpt_norm x, y;
    CHECK_MSG(dpt_model_load(path, &c, &g, 8, &x, &y, err, sizeof err) == 0, err);
    CHECK(g.nstate == f.m.nstate && same_bits(g.state, f.m.state, 8 * sizeof(float)));
    float a[16], b[16];
    eval(&f.m, a);
    eval(&g, b);
    CHECK(same_bits(a, b, sizeof a));
    dpt_model_free(&g);
    dpt_config_free(&c);
    MPI_Barrier(MPI_COMM_WORLD);
    /* A moving statistic changed in the file (a rank 0 edit) is a checksum mismatch. */
    if (dpt_world.rank == 0) {
        hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t d = H5Dopen2(file, "/params/batch_norm_0/moving_variance", H5P_DEFAULT);
        float v[4];
        CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        v[2] *= 2.0f;
        CHECK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(d);
        H5Fclose(file);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(dpt_model_load(path, &c, &g, 8, &x, &y, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "checksum mismatch");
    MPI_Barrier(MPI_COMM_WORLD);
    free_fixture(&f);
}

static void checkpoint_restores_the_moving_statistics(void) {
    fixture f, g;
    make(&f, 2);
    make(&g, 0); /* a fresh model: moving stats 0 and 1 */
    CHECK(!same_bits(f.m.state, g.m.state, 8 * sizeof(float)));
    char err[512] = "", written[512] = "";
    dpt_train_state st = {.step = 5, .world_size = dpt_world.size, .threads = 1};
    if (dpt_world.rank == 0)
        CHECK_MSG(dpt_ckpt_write(dir, 2, &f.m, &f.o, &st, &f.c, NULL, NULL, written, sizeof written,
                                 err, sizeof err) == 0,
                  err);
    MPI_Barrier(MPI_COMM_WORLD);
    dpt_train_state got;
    dpt_norm x, y;
    CHECK_MSG(dpt_ckpt_read(dpt_test_path(dir, "ckpt-0000000005.h5"), &g.m, &g.o, &got, &x, &y, err,
                            sizeof err) == 0,
              err);
    CHECK(same_bits(f.m.state, g.m.state, 8 * sizeof(float)));
    CHECK(same_bits(f.m.params, g.m.params, f.m.nparams * sizeof(float)));
    free_fixture(&f);
    free_fixture(&g);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(dir, sizeof dir, "dpt_bn_");
    model_file_keeps_the_moving_statistics();
    checkpoint_restores_the_moving_statistics();
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

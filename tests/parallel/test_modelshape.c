/* Model files and checkpoints record the model's per-sample input and output shapes
 * (format_version 2: input_shape, input_dtype, output_shape); files in the layout before them
 * (format_version 1, made here by taking the new attributes away from a fresh file, which leaves
 * exactly the old layout) still load with the shapes derived from what they hold; a recorded
 * shape that the config does not build and a version from the future are refused by name. */
#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/config.h"
#include "io/modelio.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "scratch.h"

static char dir[64]; /* a fresh directory shared by all ranks */

/* A vector model (3) -> (2) and a sequence model (5, 3) -> (5, 2). */
static const char yaml_dense[] = "model:\n"
                                 "  layers:\n"
                                 "    - {type: dense, units: 4, activation: tanh}\n"
                                 "    - {type: dense, units: 2}\n"
                                 "data: {train: train.h5}\n";
static const char yaml_seq[] = "model:\n"
                               "  layers:\n"
                               "    - {type: lstm, units: 4, return_sequences: true}\n"
                               "    - {type: dense, units: 2}\n"
                               "data: {train: train.h5}\n";

typedef struct fixture {
    dpt_config c;
    dpt_model m;
    dpt_optim o;
} fixture;

static void make_fixture(fixture *f, const char *yaml, int T, int F) {
    char err[512] = "";
    memset(f, 0, sizeof *f);
    CHECK_MSG(dpt_config_load_text(&f->c, yaml, "test.yaml", NULL, 0, err, sizeof err) == 0, err);
    dpt_shape in = dpt_shape_from_steps(T, F);
    CHECK_MSG(dpt_model_build(&f->m, f->c.layers, f->c.nlayers, &in, 16, err, sizeof err) == 0,
              err);
    dpt_model_init_params(&f->m, 5);
    CHECK_MSG(dpt_optim_init(&f->o, &f->c.optim, f->m.nparams, err, sizeof err) == 0, err);
}

static void free_fixture(fixture *f) {
    dpt_model_free(&f->m);
    dpt_optim_free(&f->o);
    dpt_config_free(&f->c);
}

/* The int32 array attribute `name` of the file's root; returns its length. */
static int root_ints(const char *path, const char *name, int *out, int cap) {
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    CHECK_MSG(a >= 0, name);
    hid_t space = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    CHECK(n >= 1 && n <= cap && H5Aread(a, H5T_NATIVE_INT, out) >= 0);
    H5Sclose(space);
    H5Aclose(a);
    H5Fclose(file);
    return (int)n;
}

/* Rank 0 edits the root of path: `what` is "v1" (the layout before shapes), "future"
 * (format_version 3) or "other-input" (input_shape (4)). */
static void edit_root(const char *path, const char *what) {
    MPI_Barrier(MPI_COMM_WORLD); /* every rank is done reading it */
    if (dpt_world.rank == 0) {
        hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        CHECK(file >= 0);
        int version = strcmp(what, "future") == 0 ? 3 : 1;
        const char *shape = strcmp(what, "other-input") == 0    ? "input_shape"
                            : strcmp(what, "other-output") == 0 ? "output_shape"
                                                                : NULL;
        if (shape) {
            int four = 4;
            hid_t a = H5Aopen(file, shape, H5P_DEFAULT);
            CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &four) >= 0);
            H5Aclose(a);
        } else {
            hid_t a = H5Aopen(file, "format_version", H5P_DEFAULT);
            CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &version) >= 0);
            H5Aclose(a);
        }
        if (strcmp(what, "v1") == 0) {
            CHECK(H5Adelete(file, "input_shape") >= 0);
            CHECK(H5Adelete(file, "input_dtype") >= 0);
            CHECK(H5Adelete(file, "output_shape") >= 0);
        }
        H5Fclose(file);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void save(const char *path, const fixture *f) {
    if (dpt_world.rank == 0) {
        char err[512] = "";
        CHECK_MSG(dpt_model_save(path, &f->m, &f->c, NULL, NULL, err, sizeof err) == 0, err);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void load_ok(const char *path, const fixture *f) {
    char err[512] = "";
    fixture g;
    dpt_norm x, y;
    CHECK_MSG(dpt_model_load(path, &g.c, &g.m, 8, &x, &y, err, sizeof err) == 0, err);
    CHECK(dpt_shape_equal(&g.m.in_shape, &f->m.in_shape));
    CHECK(dpt_shape_equal(&g.m.out_shape, &f->m.out_shape));
    CHECK(memcmp(g.m.params, f->m.params, f->m.nparams * sizeof(float)) == 0);
    dpt_model_free(&g.m);
    dpt_config_free(&g.c);
    dpt_norm_free(&x);
    dpt_norm_free(&y);
}

static void load_refused(const char *path, const char *want) {
    char err[512] = "";
    dpt_config c;
    dpt_model m;
    dpt_norm x, y;
    CHECK(dpt_model_load(path, &c, &m, 8, &x, &y, err, sizeof err) == -1);
    CHECK_CONTAINS(err, path);
    CHECK_CONTAINS(err, want);
}

static void model_files_record_shapes_and_the_old_layout_still_loads(void) {
    fixture f;
    make_fixture(&f, yaml_dense, 1, 3);
    char path[128];
    snprintf(path, sizeof path, "%s/dense.h5", dir);
    save(path, &f);
    int v[4], n = root_ints(path, "input_shape", v, 4);
    CHECK(n == 1 && v[0] == 3);
    n = root_ints(path, "output_shape", v, 4);
    CHECK(n == 1 && v[0] == 2);
    n = root_ints(path, "format_version", v, 4);
    CHECK(n == 1 && v[0] == 2);
    load_ok(path, &f);
    edit_root(path, "v1");
    load_ok(path, &f); /* (3) and (2) derived from in_features and the built model */
    free_fixture(&f);

    make_fixture(&f, yaml_seq, 5, 3);
    snprintf(path, sizeof path, "%s/seq.h5", dir);
    save(path, &f);
    n = root_ints(path, "input_shape", v, 4);
    CHECK(n == 2 && v[0] == 5 && v[1] == 3);
    n = root_ints(path, "output_shape", v, 4);
    CHECK(n == 2 && v[0] == 5 && v[1] == 2);
    edit_root(path, "v1");
    load_ok(path, &f); /* (5, 3) from in_steps x in_features */
    free_fixture(&f);
}

static void a_recorded_shape_the_config_does_not_build_and_a_future_version_are_refused(void) {
    fixture f;
    make_fixture(&f, yaml_dense, 1, 3);
    char path[128];
    snprintf(path, sizeof path, "%s/other.h5", dir);
    save(path, &f);
    edit_root(path, "other-output");
    load_refused(path, "the file records input (3) float32 and output (4) float32 per sample, but "
                       "the model built from the config has input (3) float32 and output (2) "
                       "float32");
    snprintf(path, sizeof path, "%s/edited.h5", dir);
    save(path, &f);
    edit_root(path, "other-input"); /* the input shape is what the model is built from */
    load_refused(path, "attribute 'input_shape' (4) float32 disagrees with in_steps 1 x "
                       "in_features 3: the file is corrupt or was edited");
    snprintf(path, sizeof path, "%s/future.h5", dir);
    save(path, &f);
    edit_root(path, "future");
    load_refused(path, "model format_version 3 is not supported (this dptrain reads 1 to 2; a "
                       "newer dptrain wrote it)");
    free_fixture(&f);
}

static void checkpoints_record_shapes_and_the_old_layout_still_resumes(void) {
    fixture f, g;
    make_fixture(&f, yaml_seq, 5, 3);
    make_fixture(&g, yaml_seq, 5, 3);
    char d[128], path[256] = "", err[512] = "";
    snprintf(d, sizeof d, "%s/ckpt", dir);
    dpt_train_state st = {.step = 7, .seed = 42, .world_size = 1, .threads = 1}, back;
    if (dpt_world.rank == 0)
        CHECK_MSG(dpt_ckpt_write(d, 3, &f.m, &f.o, &st, &f.c, NULL, NULL, path, sizeof path, err,
                                 sizeof err) == 0,
                  err);
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
    int v[4], n = root_ints(path, "input_shape", v, 4);
    CHECK(n == 2 && v[0] == 5 && v[1] == 3);
    dpt_norm x, y;
    CHECK_MSG(dpt_ckpt_read(path, &g.m, &g.o, &back, &x, &y, err, sizeof err) == 0, err);
    CHECK(back.step == 7 && memcmp(g.m.params, f.m.params, f.m.nparams * sizeof(float)) == 0);
    edit_root(path, "v1");
    memset(g.m.params, 0, g.m.nparams * sizeof(float));
    CHECK_MSG(dpt_ckpt_read(path, &g.m, &g.o, &back, &x, &y, err, sizeof err) == 0, err);
    CHECK(memcmp(g.m.params, f.m.params, f.m.nparams * sizeof(float)) == 0);
    edit_root(path, "future");
    CHECK(dpt_ckpt_read(path, &g.m, &g.o, &back, &x, &y, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "checkpoint format_version 3 is not supported (this dptrain reads 1 to 2");
    free_fixture(&f);
    free_fixture(&g);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mpitest_tmpdir(dir, sizeof dir, "dpt_modelshape_");
    RUN(model_files_record_shapes_and_the_old_layout_still_loads);
    RUN(a_recorded_shape_the_config_does_not_build_and_a_future_version_are_refused);
    RUN(checkpoints_record_shapes_and_the_old_layout_still_resumes);
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

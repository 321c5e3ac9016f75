/* Model files: rank 0 saves, every rank loads the file back on its own and gets bit-identical
 * parameters, the same config and norms; a flipped bit in a parameter, a foreign HDF5 file and
 * an unwritable directory each give their message, and no temporary file is ever left. */
#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/config.h"
#include "io/modelio.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "scratch.h"

static const char yaml[] = "model:\n"
                           "  layers:\n"
                           "    - {type: dense, units: 8, activation: tanh}\n"
                           "    - {type: dense, units: 2, name: head}\n"
                           "data:\n"
                           "  train: train.h5\n";
static const char *const overrides[] = {"model.layers.0.units=5", "training.seed=9"};

static char dir[64]; /* a fresh directory shared by all ranks */

/* A trained-looking model: config with overrides, parameters from a seed, fitted norms. */
typedef struct fixture {
    dpt_config c;
    dpt_model m;
    dpt_norm x, y;
} fixture;

static void make_fixture(fixture *f) {
    char err[512] = "";
    CHECK_MSG(dpt_config_load_text(&f->c, yaml, "test.yaml", overrides, 2, err, sizeof err) == 0,
              err);
    dpt_shape in = dpt_shape_1d(3);
    CHECK_MSG(dpt_model_build(&f->m, f->c.layers, f->c.nlayers, &in, 16, err, sizeof err) == 0,
              err);
    dpt_model_init_params(&f->m, 21);
    const double mean[3] = {1.5, -2, 1e3}, sq[3] = {4, 9, 0};
    dpt_norm_alloc(&f->x, 3);
    dpt_norm_set(&f->x, mean, sq, 1);
    dpt_norm_alloc(&f->y, 2);
    dpt_norm_set(&f->y, mean, sq, 4);
}

static void free_fixture(fixture *f) {
    dpt_model_free(&f->m);
    dpt_config_free(&f->c);
    dpt_norm_free(&f->x);
    dpt_norm_free(&f->y);
}

static void save_on_rank0(const char *path, const fixture *f, int with_norms) {
    if (dpt_world.rank == 0) {
        char err[512] = "";
        CHECK_MSG(dpt_model_save(path, &f->m, &f->c, with_norms ? &f->x : NULL,
                                 with_norms ? &f->y : NULL, err, sizeof err) == 0,
                  err);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static int same_norm(const dpt_norm *a, const dpt_norm *b) {
    return a->enabled == b->enabled && a->F == b->F &&
           memcmp(a->mean, b->mean, (size_t)a->F * sizeof(float)) == 0 &&
           memcmp(a->std, b->std, (size_t)a->F * sizeof(float)) == 0;
}

static void every_rank_loads_bit_identical_parameters_config_and_norms(void) {
    fixture f = {0};
    make_fixture(&f);
    CHECK(f.m.nparams == 5 * 3 + 5 + 2 * 5 + 2); /* the override made the first layer 5 wide */
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/model.h5", dir);
    save_on_rank0(path, &f, 1);
    CHECK(dpt_test_count_entries(dir) == 1); /* the temporary was renamed away */
    MPI_Barrier(MPI_COMM_WORLD);             /* before rank 0 writes the next temporary below */
    fixture g = {0};
    CHECK_MSG(dpt_model_load(path, &g.c, &g.m, 7, &g.x, &g.y, err, sizeof err) == 0, err);
    CHECK(g.m.nparams == f.m.nparams && g.m.max_batch == 7);
    CHECK(memcmp(g.m.params, f.m.params, f.m.nparams * sizeof(float)) == 0);
    CHECK(dpt_model_checksum(&g.m) == dpt_model_checksum(&f.m));
    CHECK(strcmp(g.c.text, yaml) == 0 && g.c.noverrides == 2);
    CHECK(strcmp(g.c.overrides[0], overrides[0]) == 0 &&
          strcmp(g.c.overrides[1], overrides[1]) == 0);
    CHECK(g.c.seed == 9 && g.c.nlayers == f.c.nlayers);
    CHECK(strcmp(g.m.layers[g.m.nlayers - 1].name, "head") == 0);
    CHECK(same_norm(&g.x, &f.x) && same_norm(&g.y, &f.y) && g.x.std[1] == 3.0f);
    free_fixture(&g);
    /* Saved without norms: loaded with them disabled. */
    save_on_rank0(path, &f, 0);
    CHECK_MSG(dpt_model_load(path, &g.c, &g.m, 7, &g.x, &g.y, err, sizeof err) == 0, err);
    CHECK(!g.x.enabled && !g.y.enabled);
    CHECK(memcmp(g.m.params, f.m.params, f.m.nparams * sizeof(float)) == 0);
    free_fixture(&g);
    free_fixture(&f);
}

/* Rank 0 flips the lowest bit of the first element of /params/<layer>/W in place. */
static void flip_bit(const char *path, const char *layer) {
    if (dpt_world.rank == 0) {
        char name[128];
        snprintf(name, sizeof name, "/params/%s/W", layer);
        hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
        CHECK(d >= 0);
        hsize_t dims[2];
        hid_t space = H5Dget_space(d);
        H5Sget_simple_extent_dims(space, dims, NULL);
        uint32_t *w = calloc(dims[0] * dims[1], sizeof *w); /* (out, in) as raw bits */
        CHECK(H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
        w[0] ^= 1u;
        CHECK(H5Dwrite(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
        free(w);
        H5Sclose(space);
        H5Dclose(d);
        H5Fclose(file);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void a_flipped_parameter_bit_is_detected_by_the_checksum(void) {
    fixture f = {0}, g = {0};
    make_fixture(&f);
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/flipped.h5", dir);
    save_on_rank0(path, &f, 1);
    flip_bit(path, f.m.layers[0].name);
    CHECK(dpt_model_load(path, &g.c, &g.m, 4, &g.x, &g.y, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "flipped.h5: parameter checksum mismatch: file corrupt");
    CHECK(g.m.params == NULL && g.c.text == NULL && g.x.mean == NULL); /* nothing leaks */
    free_fixture(&f);
}

static void a_data_file_is_not_taken_for_a_model(void) {
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/data.h5", dir);
    if (dpt_world.rank == 0) {
        hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        H5Fclose(file);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    fixture g = {0};
    CHECK(dpt_model_load(path, &g.c, &g.m, 4, &g.x, &g.y, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "data.h5: not a dptrain model file (no 'format' attribute)");
    snprintf(path, sizeof path, "%s/absent.h5", dir);
    CHECK(dpt_model_load(path, &g.c, &g.m, 4, &g.x, &g.y, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "absent.h5: cannot open: No such file or directory");
}

static void saving_into_a_missing_directory_fails_without_leaving_files(void) {
    if (dpt_world.rank != 0) return;
    fixture f = {0};
    make_fixture(&f);
    char path[128], err[512] = "";
    snprintf(path, sizeof path, "%s/no/such/dir/model.h5", dir);
    int before = dpt_test_count_entries(dir);
    CHECK(dpt_model_save(path, &f.m, &f.c, NULL, NULL, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "cannot create: No such file or directory");
    CHECK(dpt_test_count_entries(dir) == before);
    free_fixture(&f);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(dir, sizeof dir, "dpt_model_");
    RUN(every_rank_loads_bit_identical_parameters_config_and_norms);
    RUN(a_flipped_parameter_bit_is_detected_by_the_checksum);
    RUN(a_data_file_is_not_taken_for_a_model);
    RUN(saving_into_a_missing_directory_fails_without_leaving_files);
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

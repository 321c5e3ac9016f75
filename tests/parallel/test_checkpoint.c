/* Checkpoints: rank 0 writes, every rank reads back bit-identical parameters, optimizer state and
 * train state; keep/latest behave as documented; corrupt, truncated and foreign files and a
 * changed optimizer are refused with their message; and a write that fails (no directory, a
 * read-only directory, a full disk) leaves the previous checkpoint and latest as they were.
 *
 * The read-only and full-disk cases run in forked children before MPI_Init: fork() after
 * MPI_Init is not supported by every Open MPI transport, and the child changes process-wide
 * state (RLIMIT_FSIZE, SIGXFSZ, its user id) that must not leak into the MPI part.  The child
 * uses no MPI at all and reports through its exit status; the parent checks it after MPI_Init. */
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/config.h"
#include "io/modelio.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "scratch.h"

/* Checks usable before MPI_Init (in the forked children) and after: before, a failure prints
 * and ends the child with status 1; after, it is a CHECK (MPI_Abort). */
#define EXPECT(cond, msg)                                                                          \
    do {                                                                                           \
        if (!(cond)) expect_fail(__FILE__, __LINE__, #cond, (msg));                                \
    } while (0)
#define EXPECT_CONTAINS(s, sub) EXPECT(strstr((s), (sub)) != NULL, (s))

static _Noreturn void expect_fail(const char *file, int line, const char *what, const char *got) {
    int mpi = 0;
    MPI_Initialized(&mpi);
    if (mpi) mpitest_fail(file, line, what, got);
    fprintf(stderr, "[forked child] %s:%d: check failed: %s%s%s\n", file, line, what,
            *got ? "\n    got: " : "", got);
    fflush(stderr);
    _exit(1);
}

/* DPT_TEST_VERBOSE=1 prints the messages, to review their wording. */
static void show(const char *msg) {
    if (getenv("DPT_TEST_VERBOSE") && dpt_world.rank == 0) fprintf(stderr, "    %s\n", msg);
}

static const char yaml[] = "model:\n"
                           "  layers:\n"
                           "    - {type: dense, units: 5, activation: tanh}\n"
                           "    - {type: dense, units: 2, name: head}\n"
                           "data:\n"
                           "  train: train.h5\n";

static char dir[64]; /* a fresh directory shared by all ranks */

/* A model part-way through training: config, parameters, optimizer state, norms, train state. */
typedef struct fixture {
    dpt_config c;
    dpt_model m; /* in_features 3: W0 (5, 3), b0 (5), head W (2, 5), b (2) */
    dpt_optim o;
    dpt_norm x, y;
    dpt_train_state st;
} fixture;

/* param_seed initialises the parameters, so two fixtures can start out different; units is the
 * width of the first layer. */
static void make_fixture_units(fixture *f, const char *optimizer, uint64_t param_seed, int units) {
    char err[512] = "", ov[64], width[64];
    snprintf(ov, sizeof ov, "optimizer=%s", optimizer);
    snprintf(width, sizeof width, "model.layers.0.units=%d", units);
    const char *ovs[] = {ov, "training.seed=9", width};
    memset(f, 0, sizeof *f);
    EXPECT(dpt_config_load_text(&f->c, yaml, "test.yaml", ovs, 3, err, sizeof err) == 0, err);
    dpt_shape in = dpt_shape_1d(3);
    EXPECT(dpt_model_build(&f->m, f->c.layers, f->c.nlayers, &in, 16, err, sizeof err) == 0, err);
    dpt_model_init_params(&f->m, param_seed);
    EXPECT(dpt_optim_init(&f->o, &f->c.optim, f->m.nparams, err, sizeof err) == 0, err);
    const double mean[3] = {1.5, -2, 1e3}, sq[3] = {4, 9, 0};
    dpt_norm_alloc(&f->x, 3);
    dpt_norm_set(&f->x, mean, sq, 1);
    dpt_norm_alloc(&f->y, 2);
    dpt_norm_set(&f->y, mean, sq, 4);
    f->st = (dpt_train_state){.step = 1234,
                              .epoch = 3,
                              .epoch_step = 17,
                              .seed = 9,
                              .world_size = 2,
                              .threads = 4,
                              .nonfinite_skips = 1};
}

static void make_fixture(fixture *f, const char *optimizer, uint64_t param_seed) {
    make_fixture_units(f, optimizer, param_seed, 5);
}

/* Three optimizer steps on made-up gradients: every state element becomes distinct. */
static void train_a_little(fixture *f) {
    float *g = calloc(f->m.nparams, sizeof *g); /* (nparams) */
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < f->m.nparams; i++) g[i] = sinf((float)(i * 7 + (size_t)k));
        dpt_optim_step(&f->o, f->m.params, g, 0.01f);
    }
    free(g);
}

static void free_fixture(fixture *f) {
    dpt_model_free(&f->m);
    dpt_optim_free(&f->o);
    dpt_config_free(&f->c);
    dpt_norm_free(&f->x);
    dpt_norm_free(&f->y);
}

static int same_floats(const float *a, const float *b, size_t n) {
    if (!a || !b) return a == b;
    return memcmp(a, b, n * sizeof *a) == 0;
}

static int same_norm(const dpt_norm *a, const dpt_norm *b) {
    return a->enabled == b->enabled && a->F == b->F &&
           same_floats(a->mean, b->mean, (size_t)a->F) && same_floats(a->std, b->std, (size_t)a->F);
}

static int same_state(const dpt_train_state *a, const dpt_train_state *b) {
    return a->step == b->step && a->epoch == b->epoch && a->epoch_step == b->epoch_step &&
           a->seed == b->seed && a->world_size == b->world_size && a->threads == b->threads &&
           a->nonfinite_skips == b->nonfinite_skips;
}

/* Writes f's checkpoint at `step` into d; returns dpt_ckpt_write's result, message in err. */
static int write_ckpt(const char *d, int keep, fixture *f, int64_t step, int norms, char *err,
                      size_t errlen) {
    char written[512] = "";
    f->st.step = step;
    int rc = dpt_ckpt_write(d, keep, &f->m, &f->o, &f->st, &f->c, norms ? &f->x : NULL,
                            norms ? &f->y : NULL, written, sizeof written, err, errlen);
    if (rc == 0) {
        char want[512];
        snprintf(want, sizeof want, "%s/ckpt-%010lld.h5", d, (long long)step);
        EXPECT(strcmp(written, want) == 0, written);
    }
    return rc;
}

static void write_on_rank0(const char *d, int keep, fixture *f, int64_t step, int norms) {
    if (dpt_world.rank == 0) {
        char err[1024] = "";
        EXPECT(write_ckpt(d, keep, f, step, norms, err, sizeof err) == 0, err);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static int by_name(const void *a, const void *b) {
    return strcmp(a, b);
}

/* The sorted names in d, space-separated, e.g. "ckpt-0000000003.h5 latest". */
static const char *listing(const char *d) {
    static char out[1024];
    char names[32][256];
    int n = 0;
    DIR *dp = opendir(d);
    EXPECT(dp != NULL, d);
    for (struct dirent *e; (e = readdir(dp)) && n < 32;)
        if (e->d_name[0] != '.') snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(dp);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, " ");
        strcat(out, names[i]);
    }
    return out;
}

static const char *read_text(const char *path) {
    static char buf[256];
    FILE *fp = fopen(path, "r");
    EXPECT(fp != NULL, path);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void write_text(const char *path, const char *text, size_t n) {
    FILE *fp = fopen(path, "w");
    EXPECT(fp != NULL && fwrite(text, 1, n, fp) == n, path);
    fclose(fp);
}

/* dst := the first half of src (a file cut short by a crash or a full quota). */
static void copy_half(const char *src, const char *dst) {
    struct stat st;
    EXPECT(stat(src, &st) == 0, src);
    size_t n = (size_t)st.st_size / 2;
    char *buf = malloc(n); /* (n) */
    FILE *fp = fopen(src, "rb");
    EXPECT(fp != NULL && fread(buf, 1, n, fp) == n, src);
    fclose(fp);
    write_text(dst, buf, n);
    free(buf);
}

/* A fresh subdirectory of dir (made by rank 0, seen by all). */
static const char *subdir(const char *name) {
    const char *d = dpt_test_path(dir, name);
    if (dpt_world.rank == 0) EXPECT(mkdir(d, 0755) == 0, d);
    MPI_Barrier(MPI_COMM_WORLD);
    return d;
}

/* ---------------------------------------------------------------------------------------------
 * Round trip and layout */

static int64_t root_i64(hid_t file, const char *name) {
    int64_t v = -1;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    EXPECT(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &v) >= 0, name);
    H5Aclose(a);
    return v;
}

/* What h5py users see: the model file's names plus /optimizer/{m,v}/<layer>/<tensor>. */
static void check_layout(const char *path, const fixture *f) {
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(file >= 0, path);
    EXPECT(root_i64(file, "step") == 1234 && root_i64(file, "epoch_step") == 17, path);
    EXPECT(root_i64(file, "optimizer_t") == 3 && root_i64(file, "format_version") == 2, path);
    EXPECT(H5Aexists(file, "model_hash") > 0 && H5Aexists(file, "checksum") > 0, path);
    EXPECT(H5Lexists(file, "/params/head/W", H5P_DEFAULT) > 0, path);
    EXPECT(H5Lexists(file, "/config", H5P_DEFAULT) > 0, path);
    EXPECT((H5Lexists(file, "/optimizer/m", H5P_DEFAULT) > 0) == (f->o.m != NULL), path);
    EXPECT((H5Lexists(file, "/optimizer/v", H5P_DEFAULT) > 0) == (f->o.v != NULL), path);
    if (f->o.m) {
        hid_t d = H5Dopen2(file, "/optimizer/m/head/W", H5P_DEFAULT), s = H5Dget_space(d);
        hsize_t dims[2] = {0, 0};
        EXPECT(H5Sget_simple_extent_dims(s, dims, NULL) == 2 && dims[0] == 2 && dims[1] == 5,
               "/optimizer/m/head/W is (2, 5)");
        float w[10]; /* (2, 5) */
        EXPECT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0, path);
        const dpt_param_tensor *t = &f->m.layers[f->m.nlayers - 1].tensors[0];
        EXPECT(same_floats(w, f->o.m + t->offset, 10), "m of head/W stored at its offset");
        H5Sclose(s);
        H5Dclose(d);
    }
    H5Fclose(file);
}

static void round_trip(const char *optimizer, int norms) {
    fixture f, g;
    make_fixture(&f, optimizer, 21);
    train_a_little(&f);
    const char *d = subdir(optimizer);
    write_on_rank0(d, 3, &f, 1234, norms);
    if (dpt_world.rank == 0) check_layout(dpt_test_path(d, "ckpt-0000001234.h5"), &f);
    make_fixture(&g, optimizer, 77); /* other parameters, zero optimizer state */
    EXPECT(!same_floats(g.m.params, f.m.params, f.m.nparams), "fixtures start out different");
    dpt_train_state st;
    dpt_norm x, y;
    char err[1024] = "";
    const char *path = dpt_test_path(d, "ckpt-0000001234.h5");
    EXPECT(dpt_ckpt_read(path, &g.m, &g.o, &st, &x, &y, err, sizeof err) == 0, err);
    EXPECT(same_floats(g.m.params, f.m.params, f.m.nparams), "parameters bit-identical");
    EXPECT(same_floats(g.o.m, f.o.m, f.o.n) && same_floats(g.o.v, f.o.v, f.o.n), optimizer);
    EXPECT(g.o.t == 3 && same_state(&st, &f.st), "t and the train state");
    dpt_norm off = {0};
    EXPECT(same_norm(&x, norms ? &f.x : &off) && same_norm(&y, norms ? &f.y : &off), "norms");
    dpt_norm_free(&x);
    dpt_norm_free(&y);
    free_fixture(&g);
    free_fixture(&f);
}

static void a_checkpoint_reads_back_bit_identical_on_every_rank(void) {
    round_trip("adam", 1);     /* m and v */
    round_trip("adamw", 1);    /* m and v */
    round_trip("momentum", 1); /* m only */
    round_trip("rmsprop", 0);  /* m only, no norms */
    round_trip("sgd", 0);      /* no state at all */
}

static void the_stored_config_and_the_model_part_can_be_read_alone(void) {
    fixture f;
    make_fixture(&f, "adam", 21);
    const char *path = dpt_test_path(dir, "adam/ckpt-0000001234.h5"); /* from the round trip */
    dpt_config c;
    char err[1024] = "", msg[256];
    EXPECT(dpt_ckpt_read_config(path, &c, err, sizeof err) == 0, err);
    EXPECT(strcmp(c.text, yaml) == 0 && c.noverrides == 3 && c.seed == 9, c.text);
    EXPECT(dpt_config_model_diff(&c, &f.c, msg, sizeof msg) == 0, msg);
    dpt_config_free(&c);
    /* dpt_model_load (evaluate, predict) accepts a checkpoint as a model file. */
    dpt_model m;
    dpt_norm x, y;
    EXPECT(dpt_model_load(path, &c, &m, 4, &x, &y, err, sizeof err) == 0, err);
    EXPECT(m.nparams == f.m.nparams && x.enabled && y.enabled, path);
    dpt_model_free(&m);
    dpt_norm_free(&x);
    dpt_norm_free(&y);
    dpt_config_free(&c);
    free_fixture(&f);
}

/* ---------------------------------------------------------------------------------------------
 * keep and latest */

static void keep_two_leaves_the_two_newest_and_latest_names_the_newest(void) {
    fixture f;
    make_fixture(&f, "adam", 21);
    const char *d = subdir("keep");
    if (dpt_world.rank == 0) { /* files that are not checkpoints stay */
        write_text(dpt_test_path(d, "notes.txt"), "x", 1);
        write_text(dpt_test_path(d, "ckpt-abc.h5"), "x", 1);
    }
    for (int64_t step = 1; step <= 4; step++) write_on_rank0(d, 2, &f, step, 1);
    EXPECT(strcmp(listing(d), "ckpt-0000000003.h5 ckpt-0000000004.h5 ckpt-abc.h5 latest "
                              "notes.txt") == 0,
           listing(d));
    EXPECT(strcmp(read_text(dpt_test_path(d, "latest")), "ckpt-0000000004.h5\n") == 0,
           read_text(dpt_test_path(d, "latest")));
    char path[512], err[1024] = "";
    EXPECT(dpt_ckpt_resolve("latest", d, path, sizeof path, err, sizeof err) == 0, err);
    EXPECT(strcmp(path, dpt_test_path(d, "ckpt-0000000004.h5")) == 0, path);
    const char *explicit_path = dpt_test_path(d, "ckpt-0000000003.h5");
    EXPECT(dpt_ckpt_resolve(explicit_path, d, path, sizeof path, err, sizeof err) == 0, err);
    EXPECT(strcmp(path, explicit_path) == 0, path);
    MPI_Barrier(MPI_COMM_WORLD);
    /* Back to an earlier step (a resume from an older file) with keep 1: the file just written
     * stays even though another has a higher step. */
    write_on_rank0(d, 1, &f, 2, 1);
    EXPECT(strcmp(listing(d), "ckpt-0000000002.h5 ckpt-abc.h5 latest notes.txt") == 0, listing(d));
    EXPECT(strcmp(read_text(dpt_test_path(d, "latest")), "ckpt-0000000002.h5\n") == 0, "latest");
    free_fixture(&f);
}

static void resolve_names_what_is_missing(void) {
    const char *d = subdir("resolve");
    char path[512], err[1024] = "", want[512];
    EXPECT(dpt_ckpt_resolve("latest", d, path, sizeof path, err, sizeof err) == -1, "no latest");
    snprintf(want, sizeof want, "no checkpoint in %s yet (no %s/latest)", d, d);
    EXPECT(strcmp(err, want) == 0, err);
    MPI_Barrier(MPI_COMM_WORLD); /* everyone saw "no latest" before rank 0 writes one */
    if (dpt_world.rank == 0) write_text(dpt_test_path(d, "latest"), "ckpt-0000000009.h5\n", 19);
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT(dpt_ckpt_resolve("latest", d, path, sizeof path, err, sizeof err) == -1, "missing");
    snprintf(want, sizeof want, "%s/latest names ckpt-0000000009.h5, which does not exist", d);
    EXPECT_CONTAINS(err, want);
    MPI_Barrier(MPI_COMM_WORLD);
    if (dpt_world.rank == 0) write_text(dpt_test_path(d, "latest"), "../elsewhere.h5\n", 16);
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT(dpt_ckpt_resolve("latest", d, path, sizeof path, err, sizeof err) == -1, "a path");
    EXPECT_CONTAINS(err, "latest: expected one line holding a checkpoint file name in");
    EXPECT_CONTAINS(err, "found '../elsewhere.h5?'");
    EXPECT(dpt_ckpt_resolve(dpt_test_path(d, "nope.h5"), d, path, sizeof path, err, sizeof err) ==
               -1,
           "explicit");
    EXPECT_CONTAINS(err, "nope.h5: cannot open: No such file or directory");
    EXPECT(dpt_ckpt_resolve(d, d, path, sizeof path, err, sizeof err) == -1, "a directory");
    EXPECT_CONTAINS(err, "is a directory; expected a checkpoint file");
}

/* ---------------------------------------------------------------------------------------------
 * Damaged and foreign files */

/* Rank 0 flips every bit of the first byte of dataset `name`'s data, in the file itself. */
static void flip_byte(const char *path, const char *name) {
    if (dpt_world.rank == 0) {
        hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
        haddr_t off = H5Dget_offset(d); /* contiguous data: where its bytes start */
        EXPECT(d >= 0 && off != HADDR_UNDEF, name);
        H5Dclose(d);
        H5Fclose(file);
        int fd = open(path, O_RDWR);
        unsigned char b;
        EXPECT(fd >= 0 && pread(fd, &b, 1, (off_t)off) == 1, path);
        b ^= 0xff;
        EXPECT(pwrite(fd, &b, 1, (off_t)off) == 1, path);
        close(fd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* dpt_ckpt_read must fail with `want` in its message and leave g's model and optimizer as they
 * were, with no norms allocated. */
static void expect_refused(const char *path, fixture *g, const char *want) {
    size_t n = g->m.nparams;
    float *before = malloc(n * sizeof *before); /* (n) */
    memcpy(before, g->m.params, n * sizeof *before);
    int64_t t = g->o.t;
    dpt_train_state st = {.step = -7};
    dpt_norm x, y;
    char err[1024] = "";
    EXPECT(dpt_ckpt_read(path, &g->m, &g->o, &st, &x, &y, err, sizeof err) == -1, path);
    show(err);
    EXPECT_CONTAINS(err, want);
    EXPECT(same_floats(g->m.params, before, n) && g->o.t == t && st.step == -7, "untouched");
    EXPECT(x.mean == NULL && y.mean == NULL && !x.enabled, "no norms");
    free(before);
}

static void damaged_bytes_in_parameters_or_state_fail_the_checksums(void) {
    fixture f, g;
    make_fixture(&f, "adam", 21);
    train_a_little(&f);
    make_fixture(&g, "adam", 77);
    const char *d = subdir("flip");
    write_on_rank0(d, 3, &f, 5, 1);
    const char *path = dpt_test_path(d, "ckpt-0000000005.h5");
    flip_byte(path, "/params/dense_0/W");
    expect_refused(path, &g,
                   "ckpt-0000000005.h5: parameter checksum mismatch: file corrupt or "
                   "truncated");
    MPI_Barrier(MPI_COMM_WORLD);
    write_on_rank0(d, 3, &f, 5, 1); /* a clean copy again */
    flip_byte(path, "/optimizer/v/head/b");
    expect_refused(path, &g, "ckpt-0000000005.h5: optimizer state checksum mismatch");
    free_fixture(&f);
    free_fixture(&g);
}

static void truncated_and_foreign_files_are_refused_cleanly(void) {
    fixture f, g;
    make_fixture(&f, "adam", 21);
    make_fixture(&g, "adam", 77);
    const char *d = subdir("foreign");
    write_on_rank0(d, 3, &f, 5, 1);
    const char *ckpt = dpt_test_path(d, "ckpt-0000000005.h5"), *half = dpt_test_path(d, "half.h5");
    const char *model = dpt_test_path(d, "model.h5"), *noise = dpt_test_path(d, "noise.h5");
    const char *bare = dpt_test_path(d, "bare.h5");
    if (dpt_world.rank == 0) {
        char err[1024] = "";
        copy_half(ckpt, half);
        EXPECT(dpt_model_save(model, &f.m, &f.c, &f.x, &f.y, err, sizeof err) == 0, err);
        char bytes[4096];
        for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (char)(i * 131 + 7);
        write_text(noise, bytes, sizeof bytes);
        H5Fclose(H5Fcreate(bare, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    expect_refused(half, &g, "half.h5: cannot read: not a complete HDF5 file");
    expect_refused(model, &g,
                   "model.h5: not a dptrain checkpoint (format is 'dptrain-model', expected "
                   "'dptrain-checkpoint'): a model file holds no optimizer state");
    expect_refused(noise, &g, "noise.h5: not a dptrain checkpoint (not an HDF5 file)");
    expect_refused(bare, &g, "bare.h5: not a dptrain checkpoint (format attribute missing");
    dpt_config c;
    char err[1024] = "";
    EXPECT(dpt_ckpt_read_config(model, &c, err, sizeof err) == -1 && c.text == NULL, model);
    EXPECT_CONTAINS(err, "not a dptrain checkpoint");
    free_fixture(&f);
    free_fixture(&g);
}

static void another_optimizer_or_model_shape_is_refused(void) {
    fixture f, sgd, wide;
    make_fixture(&f, "adam", 21);
    make_fixture(&sgd, "sgd", 77);
    const char *d = subdir("mismatch");
    write_on_rank0(d, 3, &f, 5, 1);
    const char *path = dpt_test_path(d, "ckpt-0000000005.h5");
    expect_refused(path, &sgd,
                   "ckpt-0000000005.h5: the checkpoint was written with optimizer 'adam', the "
                   "config now says 'sgd'");
    /* a model with a wider first layer: 7 units instead of 5 */
    char err[1024] = "";
    make_fixture(&wide, "adam", 77);
    dpt_model_free(&wide.m);
    dpt_optim_free(&wide.o);
    EXPECT(dpt_layer_spec_set(&wide.c.layers[0], "units", "7", err, sizeof err) == 0, err);
    dpt_shape in = dpt_shape_1d(3);
    EXPECT(dpt_model_build(&wide.m, wide.c.layers, wide.c.nlayers, &in, 16, err, sizeof err) == 0,
           err);
    EXPECT(dpt_optim_init(&wide.o, &wide.c.optim, wide.m.nparams, err, sizeof err) == 0, err);
    expect_refused(path, &wide, "the checkpoint holds 32 parameters, this model has 44");
    free_fixture(&f);
    free_fixture(&sgd);
    free_fixture(&wide);
}

/* ---------------------------------------------------------------------------------------------
 * Failed writes */

static void a_directory_that_cannot_be_created_is_reported(void) {
    const char *d = subdir("blocked"), *file = dpt_test_path(d, "file");
    if (dpt_world.rank != 0) return;
    fixture f;
    make_fixture(&f, "adam", 21);
    write_text(file, "x", 1);
    char sub[512], err[1024] = "";
    snprintf(sub, sizeof sub, "%s/sub", file); /* a directory below a regular file */
    EXPECT(write_ckpt(sub, 3, &f, 1, 1, err, sizeof err) == -1, sub);
    EXPECT_CONTAINS(err, "file/sub: cannot create directory: Not a directory");
    EXPECT(strcmp(listing(d), "file") == 0, listing(d));
    free_fixture(&f);
}

/* The checkpoint is complete before latest is replaced; when latest cannot be, the new file
 * goes again, so latest never names a missing file and no file appears that latest ignores.  A
 * directory named latest makes the rename fail. */
static void a_latest_that_cannot_be_replaced_takes_the_new_checkpoint_away(void) {
    const char *d = subdir("latest-blocked");
    if (dpt_world.rank != 0) return;
    fixture f;
    make_fixture(&f, "adam", 21);
    EXPECT(mkdir(dpt_test_path(d, "latest"), 0755) == 0, d);
    char err[1024] = "";
    EXPECT(write_ckpt(d, 3, &f, 1, 1, err, sizeof err) == -1, "latest is a directory");
    show(err);
    EXPECT_CONTAINS(err, "latest-blocked/latest: cannot write: Is a directory");
    EXPECT(strcmp(listing(d), "latest") == 0, listing(d));
    free_fixture(&f);
}

/* In the child: d holds checkpoint 1 (first layer `units` wide) and latest; returns its size. */
static off_t first_checkpoint(const char *d, fixture *f, int units) {
    char err[1024] = "";
    make_fixture_units(f, "adam", 21, units);
    train_a_little(f);
    EXPECT(mkdir(d, 0755) == 0, d);
    EXPECT(write_ckpt(d, 3, f, 1, 1, err, sizeof err) == 0, err);
    struct stat st;
    EXPECT(stat(dpt_test_path(d, "ckpt-0000000001.h5"), &st) == 0, d);
    return st.st_size;
}

/* In the child: exactly checkpoint 1 and latest naming it, and it still reads back. */
static void expect_first_checkpoint_intact(const char *d, const fixture *f) {
    EXPECT(strcmp(listing(d), "ckpt-0000000001.h5 latest") == 0, listing(d));
    EXPECT(strcmp(read_text(dpt_test_path(d, "latest")), "ckpt-0000000001.h5\n") == 0, "latest");
    fixture g;
    char units[32];
    dpt_layer_spec_get(&f->c.layers[0], "units", units, sizeof units);
    make_fixture_units(&g, "adam", 77, atoi(units));
    dpt_train_state st;
    dpt_norm x, y;
    char err[1024] = "";
    EXPECT(dpt_ckpt_read(dpt_test_path(d, "ckpt-0000000001.h5"), &g.m, &g.o, &st, &x, &y, err,
                         sizeof err) == 0,
           err);
    EXPECT(same_floats(g.m.params, f->m.params, f->m.nparams) && st.step == 1, "checkpoint 1");
    dpt_norm_free(&x);
    dpt_norm_free(&y);
    free_fixture(&g);
}

/* A file size limit makes write(2) fail with EFBIG, as a full disk fails with ENOSPC.  A small
 * checkpoint stays in HDF5's caches until the close, so it fails there, whether early (1 KiB) or
 * at its very last byte; a large one (tensors of 240 kB) fails in the write of a dataset. */
typedef struct disk_case {
    const char *name;
    int units;  /* of the first layer */
    long limit; /* bytes; -1 = one less than the first checkpoint's size */
} disk_case;

static void full_disk_case(const char *base, const disk_case *k) {
    const char *d = dpt_test_path(base, k->name);
    fixture f;
    off_t size = first_checkpoint(d, &f, k->units);
    struct rlimit rl;
    EXPECT(getrlimit(RLIMIT_FSIZE, &rl) == 0, "getrlimit");
    rlim_t unlimited = rl.rlim_cur;
    rl.rlim_cur = k->limit < 0 ? (rlim_t)size - 1 : (rlim_t)k->limit;
    EXPECT(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
    char err[1024] = "";
    EXPECT(write_ckpt(d, 3, &f, 2, 1, err, sizeof err) == -1, k->name);
    show(err);
    EXPECT_CONTAINS(err, "ckpt-0000000002.h5");
    EXPECT_CONTAINS(err, "File too large");
    expect_first_checkpoint_intact(d, &f);
    rl.rlim_cur = unlimited; /* the limit was the only obstacle */
    EXPECT(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
    EXPECT(write_ckpt(d, 3, &f, 2, 1, err, sizeof err) == 0, err);
    free_fixture(&f);
}

static void child_full_disk(const char *base) {
    static const disk_case cases[] = {
        {"small-1k", 5, 1024}, {"small-last-byte", 5, -1}, {"large-64k", 20000, 65536}};
    signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of being killed */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) full_disk_case(base, &cases[i]);
}

/* chmod 0555 stops every user but root, so as root the child first becomes nobody (65534). */
static void child_read_only_directory(const char *base) {
    const char *d = dpt_test_path(base, "ro");
    fixture f;
    first_checkpoint(d, &f, 5);
    EXPECT(chmod(base, 0755) == 0 && chmod(d, 0555) == 0, d);
    if (geteuid() == 0) EXPECT(setgid(65534) == 0 && setuid(65534) == 0, "become nobody");
    EXPECT(access(d, W_OK) != 0, "the directory is read-only for this process");
    char err[1024] = "";
    EXPECT(write_ckpt(d, 3, &f, 2, 1, err, sizeof err) == -1, "a write into a read-only dir");
    show(err);
    EXPECT_CONTAINS(err, "ckpt-0000000002.h5.tmp.");
    EXPECT_CONTAINS(err, "cannot create: Permission denied");
    expect_first_checkpoint_intact(d, &f);
    free_fixture(&f);
}

/* Runs fn(base) in a child process; its exit status (0 = every check passed). */
static int in_child(void (*fn)(const char *), const char *base) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        fn(base);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int full_disk_status = -1, read_only_status = -1;

static void run_children_before_mpi(void) {
    char base[64];
    if (dpt_test_scratch_make(base, sizeof base, "dpt_ckfork_"))
        return; /* statuses stay -1: reported after MPI_Init */
    full_disk_status = in_child(child_full_disk, base);
    read_only_status = in_child(child_read_only_directory, base);
    if (dpt_test_scratch_remove(base) != 0) fprintf(stderr, "warning: could not remove %s\n", base);
}

static void a_full_disk_leaves_the_previous_checkpoint_and_latest_untouched(void) {
    CHECK_MSG(full_disk_status == 0, "the forked child failed (its message is above)");
}

static void a_read_only_directory_leaves_the_previous_checkpoint_and_latest_untouched(void) {
    CHECK_MSG(read_only_status == 0, "the forked child failed (its message is above)");
}

int main(int argc, char **argv) {
    run_children_before_mpi();
    dpt_dist_init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mpitest_tmpdir(dir, sizeof dir, "dpt_ckpt_");
    RUN(a_checkpoint_reads_back_bit_identical_on_every_rank);
    RUN(the_stored_config_and_the_model_part_can_be_read_alone);
    RUN(keep_two_leaves_the_two_newest_and_latest_names_the_newest);
    RUN(resolve_names_what_is_missing);
    RUN(damaged_bytes_in_parameters_or_state_fail_the_checksums);
    RUN(truncated_and_foreign_files_are_refused_cleanly);
    RUN(another_optimizer_or_model_shape_is_refused);
    RUN(a_directory_that_cannot_be_created_is_reported);
    RUN(a_latest_that_cannot_be_replaced_takes_the_new_checkpoint_away);
    RUN(a_full_disk_leaves_the_previous_checkpoint_and_latest_untouched);
    RUN(a_read_only_directory_leaves_the_previous_checkpoint_and_latest_untouched);
    mpitest_remove_tmpdir(dir);
    dpt_dist_finalize();
    return 0;
}

/* The distributed context at 2 and 3 ranks: rank numbering, chunk-safe sums, max, thread-count
 * precedence, and the model check passing when all ranks hold the same parameters. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/util.h"
#include "mpitest.h"
#include "parallel/dist.h"

static void context_matches_mpi_and_one_node(void) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(dpt_world.initialized && dpt_world.rank == rank && dpt_world.size == size);
    CHECK(dpt_world.thread_level >= MPI_THREAD_FUNNELED);
    /* The tests run on one machine: every rank is local. */
    CHECK(dpt_world.local_size == size && dpt_world.local_rank == rank);
}

static void sums_and_max_combine_every_rank(void) {
    int P = dpt_world.size, r = dpt_world.rank;
    float f[1000];  /* (1000) */
    double d[1000]; /* (1000) */
    for (int i = 0; i < 1000; i++) f[i] = (float)(r + i), d[i] = 0.5 * (r + i);
    dpt_allreduce_sum_f32(f, 1000);
    dpt_allreduce_sum_f64(d, 1000);
    for (int i = 0; i < 1000; i++) {
        /* NOLINTNEXTLINE(bugprone-integer-division): P (P - 1) is even */
        CHECK(f[i] == (float)(P * i + P * (P - 1) / 2));
        /* NOLINTNEXTLINE(bugprone-integer-division): P (P - 1) is even */
        CHECK(d[i] == 0.5 * (P * i + P * (P - 1) / 2));
    }
    CHECK(dpt_allreduce_max_int(3 * r) == 3 * (P - 1));
    CHECK(dpt_allreduce_max_int(-r) == 0);
}

static void explicit_threads_win_then_omp_then_slurm(void) {
    setenv("OMP_NUM_THREADS", "5", 1);
    setenv("SLURM_CPUS_PER_TASK", "6", 1);
    CHECK(dpt_dist_pick_threads(3) == 3);
    CHECK(dpt_dist_pick_threads(0) == 5);
    setenv("OMP_NUM_THREADS", "4,2", 1); /* nested list: the outer level counts */
    CHECK(dpt_dist_pick_threads(0) == 4);
    unsetenv("OMP_NUM_THREADS");
    CHECK(dpt_dist_pick_threads(0) == 6);
    setenv("OMP_NUM_THREADS", "", 1); /* empty counts as unset */
    CHECK(dpt_dist_pick_threads(0) == 6);
    unsetenv("OMP_NUM_THREADS");
    unsetenv("SLURM_CPUS_PER_TASK");
}

static void without_settings_the_affinity_mask_is_shared_by_the_node(void) {
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    int mask = CPU_COUNT(&set), online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int share = online / dpt_world.local_size > 0 ? online / dpt_world.local_size : 1;
    int got = dpt_dist_pick_threads(0);
    /* Bound ranks (mpirun binds at <= 2 ranks) use their mask; unbound ones share the node. */
    CHECK(got == (mask == online && dpt_world.local_size > 1 ? share : mask));
    CHECK(got >= 1);
}

static void identical_models_pass_the_check(void) {
    dpt_layer_spec spec[2];
    char err[256];
    CHECK(dpt_layer_spec_parse(&spec[0], "dense units=4", err, sizeof err) == 0);
    CHECK(dpt_layer_spec_parse(&spec[1], "dense units=2", err, sizeof err) == 0);
    dpt_model m;
    dpt_shape in = dpt_shape_1d(3);
    CHECK(dpt_model_build(&m, spec, 2, &in, 4, err, sizeof err) == 0);
    dpt_model_init_params(&m, 11);
    dpt_dist_check_model(&m); /* returns only when every rank agrees */
    dpt_model_free(&m);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    RUN(context_matches_mpi_and_one_node);
    RUN(sums_and_max_combine_every_rank);
    RUN(explicit_threads_win_then_omp_then_slurm);
    RUN(without_settings_the_affinity_mask_is_shared_by_the_node);
    RUN(identical_models_pass_the_check);
    dpt_dist_finalize();
    return 0;
}

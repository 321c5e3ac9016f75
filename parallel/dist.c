/* The distributed context: MPI start-up and shutdown, the fatal-error path that ends every
 * rank, chunked reductions, the start-up model consistency check and the thread-count choice. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "parallel/dist.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

dpt_dist dpt_world = {.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};

/* Reductions are split so every count passed to MPI fits an int with room to spare. */
#define CHUNK ((size_t)(INT_MAX / 2))

void dpt_dist_init(int *argc, char ***argv) {
    int provided = 0;
    /* MULTIPLE for the gradient communication thread (SERIALIZED would do: the step makes no
     * MPI call while buckets are in flight) and the I/O thread; below SERIALIZED the step
     * falls back to one allreduce after backward (dpt_step_set_overlap). */
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    dpt_world.initialized = 1;
    dpt_world.thread_level = provided;
    dpt_world.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(MPI_COMM_WORLD, &dpt_world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dpt_world.size);
    if (provided < MPI_THREAD_FUNNELED)
        dpt_fatal("the MPI library provides thread level %d, dptrain needs MPI_THREAD_FUNNELED",
                  provided);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dpt_world.rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &dpt_world.local_rank);
    MPI_Comm_size(node, &dpt_world.local_size);
    MPI_Comm_free(&node);
}

static int mpi_running(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

void dpt_dist_finalize(void) {
    if (mpi_running()) MPI_Finalize();
    dpt_world.initialized = 0;
}

/* Ends every rank of the job.  Before MPI_Init and after MPI_Finalize there are no other ranks
 * to release, so this is the one place outside cli/ where plain exit() is right. */
static _Noreturn void end_job(void) {
    if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, DPT_EXIT_ERROR);
    exit(DPT_EXIT_ERROR);
}

/* One write per message so lines from different ranks do not interleave. */
static void print_error(const char *fmt, va_list ap) {
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    if (len > 0 && msg[len - 1] == '\n') msg[len - 1] = '\0';
    fprintf(stderr, "[rank %d] dptrain: error: %s\n", dpt_world.rank, msg);
    fflush(stderr);
}

_Noreturn void dpt_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    end_job();
}

void dpt_log0(const char *fmt, ...) {
    if (dpt_world.rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void allreduce_sum(void *buf, size_t n, size_t elem, MPI_Datatype type) {
    DPT_ASSERT(dpt_world.initialized);
    for (size_t done = 0; done < n; done += CHUNK) {
        size_t len = n - done < CHUNK ? n - done : CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * elem, (int)len, type, MPI_SUM,
                      dpt_world.comm);
    }
}

void dpt_allreduce_sum_f32(float *buf, size_t n) {
    allreduce_sum(buf, n, sizeof *buf, MPI_FLOAT);
}

void dpt_allreduce_sum_f64(double *buf, size_t n) {
    allreduce_sum(buf, n, sizeof *buf, MPI_DOUBLE);
}

int dpt_allreduce_max_int(int v) {
    DPT_ASSERT(dpt_world.initialized);
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, dpt_world.comm);
    return v;
}

/* Ranks that differ print their own details first; the barrier makes sure those lines are out
 * before rank 0's MPI_Abort can kill them, and every rank leaves together. */
void dpt_dist_check_model(const dpt_model *m) {
    uint64_t mine[2] = {(uint64_t)m->nparams, dpt_model_checksum(m)};
    uint64_t root[2] = {mine[0], mine[1]};
    MPI_Bcast(root, 2, MPI_UINT64_T, 0, dpt_world.comm);
    int bad = mine[0] != root[0] || mine[1] != root[1], nbad = bad;
    MPI_Allreduce(MPI_IN_PLACE, &nbad, 1, MPI_INT, MPI_SUM, dpt_world.comm);
    if (nbad == 0) return;
    if (bad)
        fprintf(stderr,
                "[rank %d] dptrain: error: model differs from rank 0: %llu parameters with "
                "checksum %016llx here, %llu parameters with checksum %016llx on rank 0\n",
                dpt_world.rank, (unsigned long long)mine[0], (unsigned long long)mine[1],
                (unsigned long long)root[0], (unsigned long long)root[1]);
    fflush(stderr);
    MPI_Barrier(dpt_world.comm);
    if (dpt_world.rank == 0)
        dpt_fatal("%d of %d ranks hold a model different from rank 0's", nbad, dpt_world.size);
    end_job();
}

/* A positive integer from the environment, 0 when unset or empty; fatal when malformed.
 * OMP_NUM_THREADS may be a nesting list ("4,2"): its first entry is this level's count. */
static int env_threads(const char *name) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v <= 0 || v > INT_MAX || (*end && *end != ','))
        dpt_fatal("environment variable %s='%s': expected a positive integer", name, s);
    return (int)v;
}

int dpt_dist_cpus_per_rank(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int mask = CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    /* An unbound process sees every CPU: the ranks on this node must share them. */
    if (mask == online && dpt_world.local_size > 1) mask /= dpt_world.local_size;
    return mask > 0 ? mask : 1;
}

int dpt_dist_pick_threads(int requested) {
    if (requested > 0) return requested;
    int n = env_threads("OMP_NUM_THREADS");
    if (n > 0) return n;
    n = env_threads("SLURM_CPUS_PER_TASK");
    if (n > 0) return n;
    return dpt_dist_cpus_per_rank();
}

/* The distributed context (the one global in dptrain), fatal errors that end the whole job,
 * and the reductions the trainer needs. */
#ifndef DPT_DIST_H
#define DPT_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

typedef struct dpt_dist {
    int rank, size;
    int local_rank, local_size; /* ranks on this node */
    int thread_level;           /* provided by MPI_Init_thread */
    MPI_Comm comm;
    int initialized;
} dpt_dist;

extern dpt_dist dpt_world;

/* MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the training step's communication thread
 * calls MPI while the main thread computes; BLIS/OpenMP threads never do); fatal below
 * MPI_THREAD_FUNNELED.  Works without mpirun (singleton). */
void dpt_dist_init(int *argc, char ***argv);
void dpt_dist_finalize(void);

/* Exit codes of dptrain (documented in docs/). */
/* DPT_EXIT_STOPPED: a stop signal ended training after a checkpoint was written; a job script
 * can requeue and continue with --resume latest. */
enum { DPT_EXIT_OK = 0, DPT_EXIT_ERROR = 1, DPT_EXIT_USAGE = 2, DPT_EXIT_STOPPED = 3 };

/* Prints "[rank r] dptrain: error: <message>" to stderr and ends the whole job with
 * MPI_Abort(DPT_EXIT_ERROR) (plain exit before MPI_Init or after finalize). */
_Noreturn void dpt_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Rank 0 prints to stdout (flushed). */
void dpt_log0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In-place sums over all ranks; n may exceed INT_MAX (chunked). */
void dpt_allreduce_sum_f32(float *buf, size_t n);
void dpt_allreduce_sum_f64(double *buf, size_t n);
int dpt_allreduce_max_int(int v);

/* Every rank checks that its model has rank 0's parameter count and checksum; fatal if not. */
void dpt_dist_check_model(const dpt_model *m);

/* CPUs this rank may use: its affinity mask, or when it is not bound (the mask is the whole
 * node) the node's CPUs shared among the ranks on the node. */
int dpt_dist_cpus_per_rank(void);

/* Thread count for this rank: explicit > 0 wins, then OMP_NUM_THREADS, SLURM_CPUS_PER_TASK,
 * then the CPUs of this process's affinity mask shared among the ranks on the node. */
int dpt_dist_pick_threads(int requested);

#endif

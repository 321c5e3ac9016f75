/* Gradient allreduce overlapped with backward (DESIGN.md §6): the bucket plan (ranges of the
 * flat gradient buffer made of whole layers, last layer first) and the communication thread
 * that runs one blocking MPI_Allreduce per bucket, in plan order, as backward hands them over.
 * Open MPI does not progress non-blocking collectives in the background, hence a thread. */
#ifndef DPT_COMM_H
#define DPT_COMM_H

#include <mpi.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/trace.h"

/* The communication thread's name (/proc/<pid>/task/<tid>/comm, top -H, gdb). */
#define DPT_COMM_THREAD_NAME "dpt-comm"

/* One bucket: floats [off, off + len) of the reduced buffer.  It is complete once backward
 * reports its gradients final from off up (dpt_model.grads_ready). */
typedef struct dpt_bucket {
    size_t off, len;
    int first_layer; /* lowest layer index whose gradients are in the bucket; -1 = released by
                        the step itself (the bucket that carries the statistics slots) */
    int last_layer;  /* highest layer index in the bucket (-1 for a slots-only bucket) */
} dpt_bucket;

/* Fills b (NULL: only counts) with buckets of the model's gradient offsets [0, nparams) in
 * reverse order: the pieces backward reports final (whole layers, or a layer's grad_pieces:
 * core/layer.h), from the last one down, are merged while the bucket stays within
 * bucket_bytes; a piece larger than that is a bucket of its own.  Layers without parameters
 * belong to no bucket.  Returns the number of buckets (0 when the model has no parameters). */
int dpt_bucket_plan(const dpt_model *m, size_t bucket_bytes, dpt_bucket *b);

/* The communication thread and its hand-over state.  Only the thread that calls
 * dpt_comm_release/_wait (the training step's) drives it. */
typedef struct dpt_comm {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* released > done or stop: the thread has something to do */
    pthread_cond_t idle; /* done caught up with released */
    float *base;         /* the reduced buffer; buckets index it (not owned) */
    const dpt_bucket *b; /* (nb) the plan, in reduction order (not owned) */
    int nb;
    uint64_t released, done; /* buckets handed over / reduced since the start, all steps */
    int64_t step;            /* step number recorded with the allreduce events */
    bool stop;
    bool running;
    MPI_Comm comm;    /* a duplicate of the job's communicator, errors returned */
    dpt_trace *trace; /* the thread's trace (tid 1), owned by the caller */
} dpt_comm;

/* Collective over comm: duplicates it and starts the thread with every signal blocked (the
 * main thread keeps receiving SIGTERM/SIGUSR1/SIGINT).  base and b must stay valid until
 * dpt_comm_stop.  Any failure is fatal (dpt_fatal). */
void dpt_comm_start(dpt_comm *c, MPI_Comm comm, float *base, const dpt_bucket *b, int nb,
                    dpt_trace *trace);
/* Hands over the next n buckets in plan order (the plan repeats every step); step is the
 * number recorded with their allreduce events. */
void dpt_comm_release(dpt_comm *c, int n, int64_t step);
/* Waits until every bucket released so far is reduced (sleeps; no spinning). */
void dpt_comm_wait(dpt_comm *c);
/* Collective: stops and joins the thread, frees the communicator.  Idempotent. */
void dpt_comm_stop(dpt_comm *c);

#endif

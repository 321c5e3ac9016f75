/* The bucket plan and the communication thread: the main thread hands buckets over as backward
 * completes them (mutex + condition variable; the thread sleeps when idle), the thread reduces
 * them one blocking MPI_Allreduce at a time in plan order, and the step waits for all of them
 * before it averages and updates. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "parallel/comm.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "parallel/dist.h"

/* Counts passed to MPI stay well inside an int (as in dist.c). */
#define CHUNK ((size_t)(INT_MAX / 2))

int dpt_bucket_plan(const dpt_model *m, size_t bucket_bytes, dpt_bucket *b) {
    size_t cap = bucket_bytes / sizeof(float); /* floats per bucket */
    int nb = 0;
    dpt_bucket last = {0};
    for (int i = m->nlayers - 1; i >= 0; i--) {
        const dpt_layer *l = &m->layers[i];
        if (l->nparams == 0) continue;
        size_t off = l->tensors[0].offset;
        int np = l->grad_pieces > 1 ? l->grad_pieces : 1;
        for (int p = np - 1; p >= 0; p--) { /* the pieces backward reports, last first */
            size_t lo = off + dpt_layer_piece_start(l, p),
                   hi = off + dpt_layer_piece_start(l, p + 1);
            if (nb > 0 && last.len + (hi - lo) <= cap) {
                /* The piece lies right before the bucket's gradients: it grows downwards. */
                DPT_ASSERT(hi == last.off);
                last.off = lo;
                last.len += hi - lo;
                last.first_layer = i;
            } else {
                last = (dpt_bucket){.off = lo, .len = hi - lo, .first_layer = i, .last_layer = i};
                nb++;
            }
            if (b) b[nb - 1] = last;
        }
    }
    return nb;
}

static _Noreturn void mpi_failed(const char *what, int k, const dpt_bucket *b, int rc) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "code %d", rc);
    dpt_fatal("%s of gradient bucket %d (%zu floats at offset %zu) failed: %s", what, k, b->len,
              b->off, msg);
}

static void reduce_bucket(dpt_comm *c, int k, int64_t step) {
    const dpt_bucket *b = &c->b[k];
    double t0 = dpt_now_s();
    for (size_t done = 0; done < b->len; done += CHUNK) {
        size_t len = b->len - done < CHUNK ? b->len - done : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, c->base + b->off + done, (int)len, MPI_FLOAT, MPI_SUM,
                               c->comm);
        if (rc != MPI_SUCCESS) mpi_failed("MPI_Allreduce", k, b, rc);
    }
    dpt_trace_add(c->trace, DPT_PH_ALLREDUCE, t0, dpt_now_s(), step, (uint32_t)k);
}

/* Bucket k of a step is the (done mod nb)-th of the plan: buckets always go in plan order. */
static void *comm_main(void *arg) {
    dpt_comm *c = arg;
    pthread_setname_np(pthread_self(), DPT_COMM_THREAD_NAME); /* for top, gdb and the tests */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* already inherited; kept in case of reuse */
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->done == c->released) pthread_cond_wait(&c->work, &c->mu);
        if (c->done == c->released) break; /* stop requested and nothing left */
        int k = (int)(c->done % (uint64_t)c->nb);
        int64_t step = c->step;
        pthread_mutex_unlock(&c->mu);
        reduce_bucket(c, k, step);
        pthread_mutex_lock(&c->mu);
        c->done++;
        if (c->done == c->released) pthread_cond_signal(&c->idle);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void dpt_comm_start(dpt_comm *c, MPI_Comm comm, float *base, const dpt_bucket *b, int nb,
                    dpt_trace *trace) {
    DPT_ASSERT(nb > 0 && base && b && trace);
    memset(c, 0, sizeof *c);
    c->base = base;
    c->b = b;
    c->nb = nb;
    c->trace = trace;
    /* A communicator of its own keeps the buckets apart from any other collective; errors come
     * back as codes so they end the job through dpt_fatal with a message. */
    if (MPI_Comm_dup(comm, &c->comm) != MPI_SUCCESS)
        dpt_fatal("cannot duplicate the communicator for the communication thread");
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work, NULL);
    pthread_cond_init(&c->idle, NULL);
    /* The thread inherits the mask at creation: blocking everything around pthread_create
     * leaves no window in which a stop signal could land on it instead of the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->thread, NULL, comm_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) dpt_fatal("cannot start the communication thread: %s", strerror(rc));
    c->running = true;
}

void dpt_comm_release(dpt_comm *c, int n, int64_t step) {
    DPT_ASSERT(c->running && n >= 0);
    if (n == 0) return;
    pthread_mutex_lock(&c->mu);
    c->released += (uint64_t)n;
    c->step = step;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
}

void dpt_comm_wait(dpt_comm *c) {
    DPT_ASSERT(c->running);
    pthread_mutex_lock(&c->mu);
    while (c->done < c->released) pthread_cond_wait(&c->idle, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

void dpt_comm_stop(dpt_comm *c) {
    if (!c->running) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Comm_free(&c->comm);
    c->running = false;
}

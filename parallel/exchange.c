/* Per-epoch row exchange between ranks (each rank receives exactly the rows it will consume)
 * and standardisation statistics reduced across ranks. */
#include "parallel/exchange.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"

void dpt_exchange_free(dpt_exchange *x) {
    free(x->send_counts);
    free(x->send_displs);
    free(x->recv_counts);
    free(x->recv_displs);
    free(x->req);
    free(x->order);
    free(x->serve);
    free(x->sendbuf);
    free(x->recvbuf);
    memset(x, 0, sizeof *x);
}

static void *grow(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) dpt_fatal("out of memory (%zu bytes for the row exchange)", bytes);
    return q;
}

/* Sizes the buffers; reallocates only when a capacity is exceeded. */
static void reserve(dpt_exchange *x, int size, int64_t nneed, int64_t nserve, size_t row_bytes) {
    if (x->size != size) {
        x->send_counts = grow(x->send_counts, (size_t)size * sizeof(int));
        x->send_displs = grow(x->send_displs, (size_t)size * sizeof(int));
        x->recv_counts = grow(x->recv_counts, (size_t)size * sizeof(int));
        x->recv_displs = grow(x->recv_displs, (size_t)size * sizeof(int));
        x->size = size;
    }
    if (nneed > x->cap_need) {
        x->req = grow(x->req, (size_t)nneed * sizeof(int64_t));
        x->order = grow(x->order, (size_t)nneed * sizeof(int64_t));
        x->cap_need = nneed;
    }
    if (nserve > x->cap_serve) {
        x->serve = grow(x->serve, (size_t)nserve * sizeof(int64_t));
        x->cap_serve = nserve;
    }
    if ((size_t)nserve * row_bytes > x->cap_send_bytes) {
        x->cap_send_bytes = (size_t)nserve * row_bytes;
        x->sendbuf = grow(x->sendbuf, x->cap_send_bytes);
    }
    if ((size_t)nneed * row_bytes > x->cap_recv_bytes) {
        x->cap_recv_bytes = (size_t)nneed * row_bytes;
        x->recvbuf = grow(x->recvbuf, x->cap_recv_bytes);
    }
}

/* The rank whose block [split_lo(n,P,r), split_lo(n,P,r+1)) contains g. */
static int owner_of(int64_t g, int64_t n, int P) {
    int64_t q = n / P, r = n % P;
    if (g < r * (q + 1)) return (int)(g / (q + 1));
    return (int)(r + (g - r * (q + 1)) / q);
}

static void prefix(const int *counts, int *displs, int size) {
    int64_t sum = 0;
    for (int r = 0; r < size; r++) {
        displs[r] = (int)sum;
        sum += counts[r];
    }
    DPT_ASSERT(sum <= INT_MAX);
}

/* Groups the requests by owner (a counting sort that keeps `need` order within an owner);
 * send_counts/displs then describe the requests this rank sends. */
static void group_requests(dpt_exchange *x, const int64_t *need, int64_t nneed, int64_t n) {
    memset(x->send_counts, 0, (size_t)x->size * sizeof(int));
    for (int64_t i = 0; i < nneed; i++) {
        DPT_ASSERT(need[i] >= 0 && need[i] < n);
        x->send_counts[owner_of(need[i], n, x->size)]++;
    }
    prefix(x->send_counts, x->send_displs, x->size);
    memcpy(x->recv_displs, x->send_displs, (size_t)x->size * sizeof(int)); /* fill cursors */
    for (int64_t i = 0; i < nneed; i++) {
        int64_t at = x->recv_displs[owner_of(need[i], n, x->size)]++;
        x->req[at] = need[i];
        x->order[at] = i;
    }
}

static void pack_rows(dpt_exchange *x, int64_t nserve, const void *local, int64_t row0,
                      int64_t nlocal, size_t row_bytes) {
    for (int64_t i = 0; i < nserve; i++) {
        int64_t at = x->serve[i] - row0;
        DPT_ASSERT(at >= 0 && at < nlocal);
        memcpy(x->sendbuf + i * row_bytes, (const char *)local + at * row_bytes, row_bytes);
    }
}

void dpt_exchange_rows(dpt_exchange *x, const void *local, int64_t row0, int64_t nlocal,
                       size_t row_bytes, int64_t n, const int64_t *need, int64_t nneed, void *out,
                       MPI_Comm comm) {
    int size;
    MPI_Comm_size(comm, &size);
    DPT_ASSERT(nneed <= INT_MAX && row_bytes > 0 && row_bytes <= INT_MAX);
    reserve(x, size, nneed, 0, row_bytes);
    group_requests(x, need, nneed, n);

    /* Phase 1: requests.  send_* = ids asked of each rank, recv_* = ids each rank asks of us. */
    MPI_Alltoall(x->send_counts, 1, MPI_INT, x->recv_counts, 1, MPI_INT, comm);
    prefix(x->recv_counts, x->recv_displs, size);
    int64_t nserve = (int64_t)x->recv_displs[size - 1] + x->recv_counts[size - 1];
    reserve(x, size, nneed, nserve, row_bytes);
    MPI_Alltoallv(x->req, x->send_counts, x->send_displs, MPI_INT64_T, x->serve, x->recv_counts,
                  x->recv_displs, MPI_INT64_T, comm);

    /* Phase 2: rows travel the other way, so the count arrays swap roles. */
    pack_rows(x, nserve, local, row0, nlocal, row_bytes);
    MPI_Datatype row;
    MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row);
    MPI_Type_commit(&row);
    MPI_Alltoallv(x->sendbuf, x->recv_counts, x->recv_displs, row, x->recvbuf, x->send_counts,
                  x->send_displs, row, comm);
    MPI_Type_free(&row);
    for (int64_t i = 0; i < nneed; i++)
        memcpy((char *)out + x->order[i] * row_bytes, x->recvbuf + i * row_bytes, row_bytes);
}

/* sums (F + 1): per-column sums, then the row count, summed over comm. */
static void column_sums(double *sums, const float *x, int64_t rows, int F, MPI_Comm comm) {
    memset(sums, 0, (size_t)(F + 1) * sizeof(double));
    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < F; j++) sums[j] += x[i * F + j];
    sums[F] = (double)rows;
    MPI_Allreduce(MPI_IN_PLACE, sums, F + 1, MPI_DOUBLE, MPI_SUM, comm);
}

void dpt_norm_fit(dpt_norm *nrm, const float *x, int64_t rows, int F, MPI_Comm comm) {
    double *mean = dpt_calloc((size_t)F + 1, sizeof(double)); /* (F + 1) sums, then means */
    double *sq = dpt_calloc((size_t)F, sizeof(double));       /* (F) squared deviations */
    column_sums(mean, x, rows, F, comm);
    int64_t count = (int64_t)mean[F];
    for (int j = 0; j < F; j++) mean[j] = count > 0 ? mean[j] / (double)count : 0.0;
    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < F; j++) {
            double d = x[i * F + j] - mean[j];
            sq[j] += d * d;
        }
    MPI_Allreduce(MPI_IN_PLACE, sq, F, MPI_DOUBLE, MPI_SUM, comm);
    dpt_norm_alloc(nrm, F);
    dpt_norm_set(nrm, mean, sq, count);
    free(mean);
    free(sq);
}

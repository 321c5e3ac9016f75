/* Moving data rows between ranks: per-epoch exchange so that each rank holds exactly the rows
 * of the global shuffled order it will consume, and dataset statistics reduced across ranks.
 * Rows are sharded in contiguous blocks: rank r holds [dpt_split_lo(N,P,r), dpt_split_lo(N,P,r+1)).
 */
#ifndef DPT_EXCHANGE_H
#define DPT_EXCHANGE_H

#include <mpi.h>
#include <stdint.h>

#include "core/norm.h"

/* Collective.  local holds rows [row0, row0 + nlocal) of a dataset of n rows, sharded as above,
 * each row_bytes long (any element type: rows are moved as bytes).  need (nneed) lists global
 * row ids this rank wants; on return out (nneed rows) holds them in that order.  Scratch buffers
 * are owned by the caller-provided plan so nothing is allocated per epoch once sized. */
typedef struct dpt_exchange {
    int size;
    int *send_counts, *send_displs, *recv_counts, *recv_displs; /* (size) in rows */
    int64_t *req;   /* (nneed) requested ids, grouped by owner */
    int64_t *order; /* (nneed) position in `need` of each grouped request */
    int64_t *serve; /* (nserve) ids this rank must send */
    char *sendbuf;  /* (nserve, row_bytes) */
    char *recvbuf;  /* (nneed, row_bytes) */
    int64_t cap_need, cap_serve;
    size_t cap_send_bytes, cap_recv_bytes;
} dpt_exchange;

void dpt_exchange_free(dpt_exchange *x);
void dpt_exchange_rows(dpt_exchange *x, const void *local, int64_t row0, int64_t nlocal,
                       size_t row_bytes, int64_t n, const int64_t *need, int64_t nneed, void *out,
                       MPI_Comm comm);

/* Collective: standardisation statistics of the columns of x (rows, F) over all ranks
 * (two passes: mean, then squared deviations, both in double). */
void dpt_norm_fit(dpt_norm *nrm, const float *x, int64_t rows, int F, MPI_Comm comm);

#endif

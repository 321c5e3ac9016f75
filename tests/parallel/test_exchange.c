/* Row exchange and distributed normalisation statistics, run at 1 to 4 ranks: every requested
 * row arrives with its exact content in request order, and dpt_norm_fit over sharded rows equals
 * the serial computation over all rows. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "mpitest.h"
#include "parallel/dist.h"
#include "parallel/exchange.h"
#include "parallel/sampler.h"

/* A 20-byte row (an odd size on purpose) whose bytes are a function of its global id only. */
typedef struct row {
    unsigned char b[20];
} row;

static row row_of(int64_t g) {
    row r;
    for (int k = 0; k < 20; k++) r.b[k] = (unsigned char)((g * 31 + k * 7 + (g >> 8)) & 0xff);
    return r;
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* This rank's block of an n-row dataset, as the sharded reader would hold it. */
static row *local_block(int64_t n, int64_t *row0, int64_t *nlocal) {
    int r = dpt_world.rank, P = dpt_world.size;
    *row0 = dpt_split_lo(n, P, r);
    *nlocal = dpt_split_lo(n, P, r + 1) - *row0;
    row *local = calloc((size_t)*nlocal + 1, sizeof *local); /* (nlocal) */
    for (int64_t i = 0; i < *nlocal; i++) local[i] = row_of(*row0 + i);
    return local;
}

static void exchange_and_check(dpt_exchange *x, int64_t n, const int64_t *need, int64_t nneed) {
    int64_t row0, nlocal;
    row *local = local_block(n, &row0, &nlocal);
    row *out = calloc((size_t)nneed + 1, sizeof *out); /* (nneed) */
    dpt_exchange_rows(x, local, row0, nlocal, sizeof(row), n, need, nneed, out, MPI_COMM_WORLD);
    for (int64_t i = 0; i < nneed; i++) {
        row want = row_of(need[i]);
        CHECK(memcmp(&out[i], &want, sizeof want) == 0);
    }
    free(out);
    free(local);
}

static void random_requests_receive_the_exact_rows_in_request_order(void) {
    dpt_exchange x = {0};
    uint64_t seed = 1234 + (uint64_t)dpt_world.rank;
    const int64_t sizes[] = {37, 5, 1000};
    for (int t = 0; t < 3; t++) {
        int64_t n = sizes[t];
        int64_t nneed = (int64_t)(lcg(&seed) % 60); /* duplicates allowed, may be 0 */
        int64_t need[60];
        for (int64_t i = 0; i < nneed; i++) need[i] = (int64_t)(lcg(&seed) % (uint64_t)n);
        exchange_and_check(&x, n, need, nneed);
    }
    dpt_exchange_free(&x);
}

/* The per-epoch use: a global permutation, each rank asking for its sampler positions. */
static void each_rank_receives_its_slice_of_a_global_permutation(void) {
    const int64_t n = 101;
    int64_t perm[101];
    for (int64_t i = 0; i < n; i++) perm[i] = (i * 37 + 11) % n; /* 37 is coprime to 101 */
    dpt_sampler s;
    dpt_sampler_init(&s, n, 16, dpt_world.rank, dpt_world.size);
    int64_t need[101], nneed = 0;
    for (int64_t step = 0; step < s.steps; step++) {
        int64_t pos;
        int count, global;
        dpt_sampler_slice(&s, step, &pos, &count, &global);
        for (int i = 0; i < count; i++) need[nneed++] = perm[pos + i];
    }
    CHECK(nneed == dpt_sampler_epoch_count(&s));
    dpt_exchange x = {0};
    exchange_and_check(&x, n, need, nneed);
    exchange_and_check(&x, n, need, nneed);
    dpt_exchange_free(&x);
}

static void buffers_are_reused_when_a_smaller_exchange_fits(void) {
    dpt_exchange x = {0};
    int64_t need[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    exchange_and_check(&x, 8, need, 8);
    int64_t *req = x.req;
    char *recv = x.recvbuf;
    int64_t cap = x.cap_need;
    exchange_and_check(&x, 8, need + 2, 5);
    CHECK(x.req == req && x.recvbuf == recv && x.cap_need == cap && cap == 8);
    dpt_exchange_free(&x);
    CHECK(x.req == NULL && x.cap_need == 0);
}

static void ranks_without_rows_still_serve_and_receive(void) {
    /* n = 2 rows over up to 4 ranks: ranks 2 and 3 hold nothing. */
    dpt_exchange x = {0};
    int64_t need[3] = {1, 0, 1};
    exchange_and_check(&x, 2, need, 3);
    dpt_exchange_free(&x);
}

/* Column j of global row g: large offsets make a one-pass variance lose digits. */
static float value_at(int64_t g, int j) {
    if (j == 2) return 7.0f; /* constant column */
    return 1000.0f * (float)(j + 1) + (float)((g * 7) % 11) * 0.25f * (float)(j + 1);
}

static void norm_fit_over_shards_equals_the_serial_statistics(void) {
    enum { N = 23, F = 3 };
    int64_t row0 = dpt_split_lo(N, dpt_world.size, dpt_world.rank);
    int64_t rows = dpt_split_lo(N, dpt_world.size, dpt_world.rank + 1) - row0;
    float x[N * F]; /* (rows, F) this rank's block */
    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < F; j++) x[i * F + j] = value_at(row0 + i, j);
    dpt_norm nrm = {0};
    dpt_norm_fit(&nrm, x, rows, F, MPI_COMM_WORLD);
    CHECK(nrm.enabled && nrm.F == F);
    for (int j = 0; j < F; j++) {
        double mean = 0, var = 0;
        for (int64_t g = 0; g < N; g++) mean += value_at(g, j);
        mean /= N;
        for (int64_t g = 0; g < N; g++) var += (value_at(g, j) - mean) * (value_at(g, j) - mean);
        double sd = sqrt(var / N);
        CHECK(fabs(nrm.mean[j] - mean) <= 1e-6 * fabs(mean));
        if (j == 2)
            CHECK(nrm.std[j] == 1.0f); /* zero std is stored as 1 */
        else
            CHECK(fabs(nrm.std[j] - sd) <= 1e-5 * sd);
    }
    CHECK(fabs(nrm.std[0] - 0.81413) < 1e-4); /* statistics.pstdev in Python */
    dpt_norm_free(&nrm);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    RUN(random_requests_receive_the_exact_rows_in_request_order);
    RUN(each_rank_receives_its_slice_of_a_global_permutation);
    RUN(buffers_are_reused_when_a_smaller_exchange_fits);
    RUN(ranks_without_rows_still_serve_and_receive);
    RUN(norm_fit_over_shards_equals_the_serial_statistics);
    dpt_dist_finalize();
    return 0;
}

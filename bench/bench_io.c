/* Input throughput per rank: the raw file read speed (pread in 8 MiB pieces of this rank's
 * share of the bytes), HDF5 row reads of this rank's share of the rows in blocks (what the
 * statistics pass and the streaming thread do), and the whole streaming pipeline (I/O thread,
 * shuffle buffer, batch assembly, normalisation) delivering one epoch of batches with no
 * compute.  With --cold the file's pages are dropped from the page cache before each phase
 * (posix_fadvise DONTNEED), so the disk is measured; otherwise the page cache.  Usage:
 *   mpirun -n P bench_io FILE [--x X] [--y y] [--block-rows N] [--batch 256] [--cold] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/trace.h"
#include "core/util.h"
#include "io/h5data.h"
#include "io/stream.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"

typedef struct opts {
    const char *path, *x, *y;
    int64_t block_rows;
    int batch;
    bool cold;
} opts;

static void parse(opts *o, int argc, char **argv) {
    *o = (opts){.x = "X", .y = "y", .block_rows = 0, .batch = 256};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): i < argc */
        if (!strcmp(a, "--cold"))
            o->cold = true;
        else if (!strcmp(a, "--x") && v)
            o->x = argv[++i];
        else if (!strcmp(a, "--y") && v)
            o->y = argv[++i];
        else if (!strcmp(a, "--block-rows") && v)
            o->block_rows = atoll(argv[++i]);
        else if (!strcmp(a, "--batch") && v)
            o->batch = atoi(argv[++i]);
        else if (a[0] != '-' && !o->path)
            o->path = a;
        else
            dpt_fatal("usage: bench_io FILE [--x X] [--y y] [--block-rows N] [--batch B] [--cold]");
    }
    if (!o->path || o->batch < 1) dpt_fatal("usage: bench_io FILE ... (a file is required)");
}

static void drop_cache(const opts *o) {
    if (!o->cold) return;
    int fd = open(o->path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    MPI_Barrier(dpt_world.comm);
}

/* Seconds of the slowest rank. */
static double slowest(double t) {
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, dpt_world.comm);
    return t;
}

static void report(const char *what, double bytes_per_rank, double t) {
    double mb = bytes_per_rank / 1048576.0, total = mb * dpt_world.size;
    dpt_log0("| %s | %d | %.1f | %.3f | %.0f | %.0f |\n", what, dpt_world.size, mb, t, mb / t,
             total / t);
}

static double raw_read(const opts *o) {
    int fd = open(o->path, O_RDONLY);
    if (fd < 0) dpt_fatal("%s: cannot open", o->path);
    struct stat st;
    fstat(fd, &st);
    int64_t lo = dpt_split_lo(st.st_size, dpt_world.size, dpt_world.rank);
    int64_t hi = dpt_split_lo(st.st_size, dpt_world.size, dpt_world.rank + 1);
    size_t chunk = 8u << 20;
    char *buf = malloc(chunk);
    MPI_Barrier(dpt_world.comm);
    double t0 = dpt_now_s();
    for (int64_t off = lo; off < hi;) {
        ssize_t n = pread(fd, buf, (size_t)(hi - off) < chunk ? (size_t)(hi - off) : chunk, off);
        if (n <= 0) dpt_fatal("%s: read failed at %lld", o->path, (long long)off);
        off += n;
    }
    double t = slowest(dpt_now_s() - t0);
    free(buf);
    close(fd);
    report("raw pread, 8 MiB pieces", (double)(hi - lo), t);
    return t;
}

static double row_bytes(const dpt_h5info *in) {
    double y = in->labels ? 4.0 * in->y_steps : 4.0 * in->y_steps * in->K;
    return 4.0 * in->T * in->F + (in->has_y ? y : 0) + (in->has_lengths ? 4 : 0);
}

static void h5_rows(const opts *o, const dpt_h5info *in, int64_t block) {
    char err[1024];
    dpt_h5rows *rd;
    if (dpt_h5rows_open(&rd, o->path, o->x, o->y, NULL, 0, block, err, sizeof err))
        dpt_fatal("%s", err);
    dpt_data d;
    dpt_data_alloc(&d, in, block, false);
    int64_t lo = dpt_split_lo(in->n, dpt_world.size, dpt_world.rank);
    int64_t hi = dpt_split_lo(in->n, dpt_world.size, dpt_world.rank + 1);
    MPI_Barrier(dpt_world.comm);
    double t0 = dpt_now_s();
    for (int64_t r = lo; r < hi; r += block) {
        int64_t n = hi - r < block ? hi - r : block;
        if (dpt_h5rows_read(rd, r, n, &d.shard, err, sizeof err)) dpt_fatal("%s", err);
    }
    double t = slowest(dpt_now_s() - t0);
    char what[96];
    snprintf(what, sizeof what, "HDF5 rows, blocks of %lld", (long long)block);
    report(what, (double)(hi - lo) * row_bytes(in), t);
    dpt_data_free(&d);
    dpt_h5rows_close(rd);
}

static void stream_epoch(const opts *o, const dpt_h5info *in, int64_t block) {
    dpt_sampler s;
    dpt_sampler_init(&s, in->n, o->batch, dpt_world.rank, dpt_world.size);
    dpt_norm xn = {0}, yn = {0};
    dpt_norm_alloc(&xn, in->F);
    for (int f = 0; f < in->F; f++) xn.std[f] = 1.0f;
    xn.enabled = true; /* the pipeline's normalisation pass is part of the cost */
    dpt_stream_opts so = {.path = o->path,
                          .xname = o->x,
                          .yname = o->y,
                          .block_rows = block,
                          .buffer_rows = 4 * block,
                          .shuffle = true,
                          .seed = 1,
                          .sampler = &s,
                          .depth = 2,
                          .xnorm = &xn,
                          .ynorm = &yn,
                          .epochs = 1};
    char err[1024];
    dpt_stream *st;
    if (dpt_stream_open(&st, &so, err, sizeof err)) dpt_fatal("%s", err);
    int64_t rows = 0;
    MPI_Barrier(dpt_world.comm);
    double t0 = dpt_now_s();
    dpt_stream_start(st, 0, 0);
    for (int64_t k = 0; k < s.steps; k++) {
        const dpt_batch *b = dpt_stream_next(st, err, sizeof err);
        if (!b) dpt_fatal("%s", err);
        rows += b->data.shard.nrows;
        dpt_stream_release(st);
    }
    double t = slowest(dpt_now_s() - t0);
    dpt_stream_close(st);
    dpt_norm_free(&xn);
    char what[128];
    snprintf(what, sizeof what, "streaming epoch (shuffled, batch %d, %.0f rows/s per rank)",
             o->batch, (double)rows / t);
    report(what, (double)rows * row_bytes(in), t);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    opts o;
    parse(&o, argc, argv);
    char err[1024];
    dpt_h5info in;
    if (dpt_h5_inspect(&in, o.path, o.x, o.y, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    int64_t block = dpt_stream_block_rows(&in, o.block_rows, in.n); /* as the trainer */
    dpt_log0("bench_io %s: %lld rows x %.0f bytes, %d rank(s), %s page cache\n", o.path,
             (long long)in.n, row_bytes(&in), dpt_world.size, o.cold ? "dropped" : "warm");
    dpt_log0("| phase | ranks | MiB per rank | s | MiB/s per rank | MiB/s all ranks |\n");
    dpt_log0("|---|---:|---:|---:|---:|---:|\n");
    drop_cache(&o);
    raw_read(&o);
    drop_cache(&o);
    h5_rows(&o, &in, block);
    drop_cache(&o);
    stream_epoch(&o, &in, block);
    dpt_dist_finalize();
    return 0;
}

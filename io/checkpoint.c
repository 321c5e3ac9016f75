/* Training checkpoints: a model file (io/modelfile.h writes the shared part) plus the optimizer
 * state and the train state, written by rank 0 under a temporary name and renamed into place,
 * then <dir>/latest replaced the same way, then old checkpoints pruned.  Reading checks every
 * tensor's shape and both checksums before anything is copied into the caller's model, so a
 * refused file leaves the model and optimizer as they were.  Layout: docs/checkpoint.md. */
#include "io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "io/fs.h"
#include "io/h5file.h"
#include "io/modelfile.h"

#define FORMAT_NAME DPT_CKPT_FORMAT
#define LATEST      "latest"
#define NAME_PREFIX "ckpt-"
#define NAME_SUFFIX ".h5"

/* Over m then v (absent buffers count as empty). */
static uint64_t optim_checksum(const float *m, const float *v, size_t n) {
    uint64_t h = DPT_FNV_BASIS;
    if (m) h = dpt_fnv1a(h, m, n * sizeof *m);
    if (v) h = dpt_fnv1a(h, v, n * sizeof *v);
    return h;
}

/* ---- writing ---- */

static void put_i64(dpt_h5w *w, const char *name, int64_t v) {
    dpt_h5w_attr(w, w->file, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

static void put_i32(dpt_h5w *w, const char *name, int v) {
    dpt_h5w_attr(w, w->file, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}

static void put_u64(dpt_h5w *w, const char *name, uint64_t v) {
    dpt_h5w_attr(w, w->file, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

static void put_state(dpt_h5w *w, const dpt_train_state *st, const dpt_config *c) {
    char *text = dpt_config_model_text(c);
    put_i64(w, "step", st->step);
    put_i32(w, "epoch", st->epoch);
    put_i64(w, "epoch_step", st->epoch_step);
    put_u64(w, "seed", st->seed);
    put_i32(w, "world_size", st->world_size);
    put_i32(w, "threads", st->threads);
    put_i32(w, "nonfinite_skips", st->nonfinite_skips);
    put_u64(w, "model_hash", dpt_fnv1a(DPT_FNV_BASIS, text, strlen(text)));
    free(text);
}

/* /optimizer/m and /optimizer/v shaped like /params; the name, t and a checksum as root
 * attributes. */
static void put_optimizer(dpt_h5w *w, const dpt_model *m, const dpt_optim *o) {
    dpt_h5w_string(w, w->file, "optimizer", o->spec.name, 1);
    put_i64(w, "optimizer_t", o->t);
    put_u64(w, "optimizer_checksum", optim_checksum(o->m, o->v, o->n));
    hid_t g = dpt_h5w_group(w, w->file, "optimizer");
    if (g < 0) return;
    if (o->m) dpt_modelfile_write_tensors(w, g, "m", m, o->m);
    if (o->v) dpt_modelfile_write_tensors(w, g, "v", m, o->v);
    H5Gclose(g);
}

static int write_file(const char *file, const dpt_model *m, const dpt_optim *o,
                      const dpt_train_state *st, const dpt_config *c, const dpt_norm *xnorm,
                      const dpt_norm *ynorm, char *err, size_t errlen) {
    dpt_h5w w;
    if (dpt_h5w_begin(&w, file, err, errlen)) return -1;
    dpt_modelfile_write(&w, FORMAT_NAME, DPT_MODELFILE_VERSION, m, c, xnorm, ynorm);
    put_state(&w, st, c);
    put_optimizer(&w, m, o);
    return dpt_h5w_finish(&w);
}

/* <dir>/latest := "<name>\n", atomically (io/fs.h).  *renamed tells whether latest names the
 * new file (even when the directory fsync then failed). */
static int write_latest(const char *dir, const char *name, bool *renamed, char *err,
                        size_t errlen) {
    char path[DPT_PATH_MAX + 16], line[DPT_PATH_MAX];
    snprintf(path, sizeof path, "%s/" LATEST, dir);
    snprintf(line, sizeof line, "%s\n", name);
    return dpt_atomic_write_text(path, line, renamed, err, errlen);
}

/* The step of a file named ckpt-<digits>.h5; -1 for any other name (temporaries included). */
static int64_t step_of(const char *name) {
    size_t np = strlen(NAME_PREFIX), ns = strlen(NAME_SUFFIX), len = strlen(name);
    if (len <= np + ns || strncmp(name, NAME_PREFIX, np) != 0 ||
        strcmp(name + len - ns, NAME_SUFFIX) != 0)
        return -1;
    size_t digits = len - np - ns;
    if (digits > 18 || strspn(name + np, "0123456789") != digits) return -1;
    return strtoll(name + np, NULL, 10);
}

static void name_of(int64_t step, char *buf, size_t n) {
    snprintf(buf, n, NAME_PREFIX "%010" PRId64 NAME_SUFFIX, step);
}

/* A checkpoint file found in the directory (its name as found: "ckpt-12.h5" is step 12 too). */
typedef struct found {
    int64_t step;
    char name[256]; /* as long as a d_name */
} found;

static int by_step(const void *a, const void *b) {
    int64_t x = ((const found *)a)->step, y = ((const found *)b)->step;
    return (x > y) - (x < y);
}

/* The checkpoint files in dir, by step; *n of them (free the result). */
static found *list_checkpoints(const char *dir, int *n) {
    int cap = 16;
    found *all = dpt_calloc((size_t)cap, sizeof *all); /* (cap) */
    *n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        int64_t s = step_of(e->d_name);
        if (s < 0) continue;
        if (*n == cap) {
            all = realloc(all, (size_t)(cap *= 2) * sizeof *all);
            DPT_ASSERT(all);
        }
        all[*n].step = s;
        snprintf(all[*n].name, sizeof all[*n].name, "%s", e->d_name);
        (*n)++;
    }
    if (d) closedir(d);
    qsort(all, (size_t)*n, sizeof *all, by_step);
    return all;
}

/* Removes the lowest-step checkpoints until `keep` are left; `newest` (the file just written)
 * always stays.  Best effort: the new checkpoint is safe already, so a failed removal only costs
 * space. */
static void prune(const char *dir, int keep, const char *newest) {
    int n, removed = 0;
    found *all = list_checkpoints(dir, &n);
    for (int i = 0, excess = n - keep; i < n && excess > 0; i++) {
        if (strcmp(all[i].name, newest) == 0) continue;
        char path[DPT_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", dir, all[i].name);
        removed += unlink(path) == 0;
        excess--;
    }
    free(all);
    char latest[DPT_PATH_MAX + 16], ignored[8];
    snprintf(latest, sizeof latest, "%s/" LATEST, dir); /* fsyncs the directory holding it */
    if (removed) dpt_fsync_dir_of(latest, ignored, sizeof ignored);
}

int dpt_ckpt_write(const char *dir, int keep, const dpt_model *m, const dpt_optim *o,
                   const dpt_train_state *st, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *path, size_t pathlen, char *err, size_t errlen) {
    DPT_ASSERT(dir && m && o && st && c && keep >= 1 && st->step >= 0);
    DPT_ASSERT(o->n == m->nparams);
    char name[64], file[DPT_PATH_MAX];
    name_of(st->step, name, sizeof name);
    if (snprintf(file, sizeof file, "%s/%s", dir, name) >= (int)sizeof file)
        return dpt_err(err, errlen, "%s: checkpoint directory path too long", dir);
    if (dpt_mkdirs(dir, err, errlen)) return -1;
    /* Writing the same step again replaces that file atomically: latest still names it. */
    int existed = access(file, F_OK) == 0;
    if (write_file(file, m, o, st, c, xnorm, ynorm, err, errlen)) return -1;
    bool renamed;
    if (write_latest(dir, name, &renamed, err, errlen)) {
        if (!existed && !renamed)
            unlink(file); /* latest still names the previous one: keep the dir as it was */
        return -1;
    }
    prune(dir, keep, name);
    if (path) snprintf(path, pathlen, "%s", file);
    return 0;
}

/* ---- finding ---- */

/* The single line of <dir>/latest (a file name in dir) into name. */
static int read_latest(const char *dir, char *name, size_t len, char *err, size_t errlen) {
    char path[DPT_PATH_MAX + 16], buf[512];
    snprintf(path, sizeof path, "%s/" LATEST, dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0 && errno == ENOENT)
        return dpt_err(err, errlen, "no checkpoint in %s yet (no %s)", dir, path);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int saved = errno;
    close(fd);
    if (n < 0) return dpt_err(err, errlen, "%s: cannot read: %s", path, strerror(saved));
    buf[n] = '\0';
    /* One line: a plain name (no NUL, no directory part) and its newline. */
    size_t line = strcspn(buf, "\n");
    int ok = n > 1 && line == (size_t)n - 1 && strlen(buf) == (size_t)n && line < len &&
             !strchr(buf, '/') && strcmp(buf, ".\n") != 0 && strcmp(buf, "..\n") != 0;
    if (!ok) {
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20) *p = '?'; /* the message stays on one line */
        return dpt_err(err, errlen,
                       "%s: expected one line holding a checkpoint file name in %s, found '%.60s'",
                       path, dir, buf);
    }
    buf[line] = '\0';
    snprintf(name, len, "%s", buf);
    return 0;
}

/* path must name an existing regular file. */
static int check_exists(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0)
        return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return dpt_err(err, errlen,
                       "%s: is a directory; expected a checkpoint file, or 'latest' for the newest "
                       "one in checkpoint.dir",
                       path);
    return 0;
}

int dpt_ckpt_resolve(const char *arg, const char *dir, char *path, size_t pathlen, char *err,
                     size_t errlen) {
    DPT_ASSERT(arg && path);
    if (strcmp(arg, LATEST) != 0) {
        if (check_exists(arg, err, errlen)) return -1;
        if (snprintf(path, pathlen, "%s", arg) >= (int)pathlen)
            return dpt_err(err, errlen, "%s: path too long", arg);
        return 0;
    }
    DPT_ASSERT(dir);
    char name[256];
    if (read_latest(dir, name, sizeof name, err, errlen)) return -1;
    if (snprintf(path, pathlen, "%s/%s", dir, name) >= (int)pathlen)
        return dpt_err(err, errlen, "%s/%s: path too long", dir, name);
    if (access(path, F_OK) != 0)
        return dpt_err(err, errlen, "%s/" LATEST " names %s, which does not exist: %s", dir, name,
                       strerror(errno));
    return check_exists(path, err, errlen);
}

/* ---- reading ---- */

/* Opens path and checks that it is a checkpoint of a version this code reads. */
static hid_t open_checkpoint(const char *path, char *err, size_t errlen) {
    char why[DPT_PATH_MAX + 128];
    hid_t file = dpt_h5r_open(path, why, sizeof why);
    if (file < 0 && strstr(why, "not an HDF5 file"))
        return dpt_err(err, errlen, "%s: not a dptrain checkpoint (not an HDF5 file)", path);
    if (file < 0) return dpt_err(err, errlen, "%s", why);
    char *format = dpt_h5r_string_attr(file, "format");
    int rc = 0, version = 0;
    if (!format || strcmp(format, FORMAT_NAME) != 0)
        rc = dpt_err(err, errlen, "%s: not a dptrain checkpoint (format %s%s%s, expected '%s')%s",
                     path, format ? "is '" : "attribute missing", format ? format : "",
                     format ? "'" : "", FORMAT_NAME,
                     format && !strcmp(format, DPT_MODELFILE_FORMAT)
                         ? ": a model file holds no optimizer state to resume from"
                         : "");
    free(format);
    if (rc == 0) rc = dpt_modelfile_read_version(file, path, "checkpoint", &version, err, errlen);
    if (rc == 0) return file;
    H5Fclose(file);
    return -1;
}

int dpt_ckpt_read_config(const char *path, dpt_config *stored, char *err, size_t errlen) {
    memset(stored, 0, sizeof *stored);
    hid_t file = open_checkpoint(path, err, errlen);
    if (file < 0) return -1;
    int rc = dpt_modelfile_read_config(file, path, stored, err, errlen);
    H5Fclose(file);
    return rc;
}

/* A non-negative integer root attribute (as int64). */
static int get_count(hid_t file, const char *path, const char *name, int64_t *out, char *err,
                     size_t errlen) {
    if (dpt_h5r_num_attr(file, path, name, H5T_NATIVE_INT64, out, err, errlen)) return -1;
    if (*out < 0)
        return dpt_err(err, errlen, "%s: attribute '%s' is %" PRId64 ", expected >= 0", path, name,
                       *out);
    return 0;
}

static int read_state(hid_t file, const char *path, dpt_train_state *st, char *err, size_t errlen) {
    int64_t epoch, world, threads, skips;
    memset(st, 0, sizeof *st);
    if (get_count(file, path, "step", &st->step, err, errlen) ||
        get_count(file, path, "epoch", &epoch, err, errlen) ||
        get_count(file, path, "epoch_step", &st->epoch_step, err, errlen) ||
        get_count(file, path, "world_size", &world, err, errlen) ||
        get_count(file, path, "threads", &threads, err, errlen) ||
        get_count(file, path, "nonfinite_skips", &skips, err, errlen) ||
        dpt_h5r_num_attr(file, path, "seed", H5T_NATIVE_UINT64, &st->seed, err, errlen))
        return -1;
    if (epoch > INT32_MAX || world < 1 || world > INT32_MAX || threads > INT32_MAX ||
        skips > INT32_MAX)
        return dpt_err(err, errlen,
                       "%s: train state out of range (epoch %" PRId64 ", world_size %" PRId64
                       ", threads %" PRId64 ", nonfinite_skips %" PRId64 ")",
                       path, epoch, world, threads, skips);
    st->epoch = (int)epoch;
    st->world_size = (int)world;
    st->threads = (int)threads;
    st->nonfinite_skips = (int)skips;
    return 0;
}

/* Everything the checkpoint holds for m and o, read into separate buffers. */
typedef struct loaded {
    float *params; /* (nparams) */
    float *state;  /* (nstate) the layers' state tensors, NULL when the model has none */
    float *m, *v;  /* (nparams) each, NULL when o has no such state */
    int64_t t;
    dpt_train_state st;
} loaded;

static int read_params(hid_t file, const char *path, const dpt_model *m, float *params,
                       float *state, char *err, size_t errlen) {
    dpt_modelfile_header h;
    if (dpt_modelfile_read_header(file, path, &h, err, errlen)) return -1;
    if (h.nparams != (uint64_t)m->nparams)
        return dpt_err(err, errlen,
                       "%s: the checkpoint holds %" PRIu64 " parameters, this model has %zu", path,
                       h.nparams, m->nparams);
    if (dpt_modelfile_check_shapes(&h, path, m, err, errlen)) return -1;
    if (dpt_modelfile_read_tensors(file, path, "/params", m, params, err, errlen) ||
        dpt_modelfile_read_state(file, path, m, state, err, errlen))
        return -1;
    dpt_model view = *m; /* the checksum of the loaded values, computed like the writer's */
    view.params = params;
    view.state = state;
    if (dpt_model_checksum(&view) != h.checksum)
        return dpt_err(err, errlen, "%s: parameter checksum mismatch: file corrupt or truncated",
                       path);
    return 0;
}

static int read_optimizer(hid_t file, const char *path, const dpt_model *m, const dpt_optim *o,
                          loaded *l, char *err, size_t errlen) {
    char *name = dpt_h5r_string_attr(file, "optimizer");
    int same = name && strcmp(name, o->spec.name) == 0;
    if (!same)
        dpt_err(err, errlen,
                "%s: the checkpoint was written with optimizer '%s', the config now says '%s'; "
                "its state cannot be used by another optimizer",
                path, name ? name : "(attribute missing)", o->spec.name);
    free(name);
    uint64_t checksum;
    if (!same || get_count(file, path, "optimizer_t", &l->t, err, errlen) ||
        dpt_h5r_num_attr(file, path, "optimizer_checksum", H5T_NATIVE_UINT64, &checksum, err,
                         errlen))
        return -1;
    if (l->m && dpt_modelfile_read_tensors(file, path, "/optimizer/m", m, l->m, err, errlen))
        return -1;
    if (l->v && dpt_modelfile_read_tensors(file, path, "/optimizer/v", m, l->v, err, errlen))
        return -1;
    if (optim_checksum(l->m, l->v, o->n) != checksum)
        return dpt_err(err, errlen,
                       "%s: optimizer state checksum mismatch: file corrupt or truncated", path);
    return 0;
}

static void loaded_free(loaded *l) {
    free(l->params);
    free(l->state);
    free(l->m);
    free(l->v);
}

int dpt_ckpt_read(const char *path, dpt_model *m, dpt_optim *o, dpt_train_state *st,
                  dpt_norm *xnorm, dpt_norm *ynorm, char *err, size_t errlen) {
    DPT_ASSERT(o->n == m->nparams);
    memset(xnorm, 0, sizeof *xnorm);
    memset(ynorm, 0, sizeof *ynorm);
    hid_t file = open_checkpoint(path, err, errlen);
    if (file < 0) return -1;
    size_t n = m->nparams > 0 ? m->nparams : 1;
    loaded l = {.params = dpt_alloc_floats(n),
                .state = m->nstate ? dpt_alloc_floats(m->nstate) : NULL,
                .m = o->m ? dpt_alloc_floats(n) : NULL,
                .v = o->v ? dpt_alloc_floats(n) : NULL};
    int rc = read_state(file, path, &l.st, err, errlen);
    if (rc == 0) rc = read_params(file, path, m, l.params, l.state, err, errlen);
    if (rc == 0) rc = read_optimizer(file, path, m, o, &l, err, errlen);
    if (rc == 0) rc = dpt_modelfile_read_norms(file, path, m, xnorm, ynorm, err, errlen);
    H5Fclose(file);
    if (rc == 0) { /* all checked: now the caller's buffers change */
        memcpy(m->params, l.params, m->nparams * sizeof *m->params);
        if (m->nstate) memcpy(m->state, l.state, m->nstate * sizeof *m->state);
        if (o->m) memcpy(o->m, l.m, o->n * sizeof *o->m);
        if (o->v) memcpy(o->v, l.v, o->n * sizeof *o->v);
        o->t = l.t;
        *st = l.st;
    }
    loaded_free(&l);
    return rc;
}

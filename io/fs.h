/* Durable files: directories made on demand, fsync of a file and of the directory holding it,
 * and the one atomic writer every output of dptrain goes through (model files, checkpoints and
 * `latest`, predictions, imported data, traces).  docs/design.md, "Atomic outputs". */
#ifndef DPT_FS_H
#define DPT_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DPT_PATH_MAX 4096 /* longest path dptrain handles, terminator included */

/* mkdir -p dir.  Returns 0, or -1 with "<dir>: cannot create directory: <reason>". */
int dpt_mkdirs(const char *dir, char *err, size_t errlen);
/* mkdir -p of the directory part of path (nothing for a bare file name or one in "/"). */
int dpt_mkdirs_for(const char *path, char *err, size_t errlen);
/* fsync of the file path.  Returns 0, or -1 with "<path>: fsync failed: <reason>". */
int dpt_fsync_path(const char *path, char *err, size_t errlen);
/* fsync of the directory holding path, so a new name or a rename in it survives a crash; file
 * systems that cannot fsync a directory (EINVAL, ENOTSUP) count as success. */
int dpt_fsync_dir_of(const char *path, char *err, size_t errlen);

/* ---- the atomic writer ----
 * dpt_atomic_begin creates <path>.tmp.<pid> in the target directory (so the rename stays in one
 * file system); the caller writes it, either through a->f or, after dpt_atomic_close_stream, by
 * name (HDF5 opens files itself); dpt_atomic_commit makes the data durable, renames the
 * temporary to path and fsyncs the directory.  Any failure removes the temporary: path keeps its
 * old contents (or stays absent) and no partial file ever appears under it. */
typedef struct dpt_atomic {
    char path[DPT_PATH_MAX];     /* the real name */
    char tmp[DPT_PATH_MAX + 32]; /* <path>.tmp.<pid> */
    FILE *f;                     /* the temporary open for writing; NULL once closed */
    bool renamed;                /* commit got as far as the rename (path holds the new data) */
} dpt_atomic;

/* Creates the temporary (0644, empty) and opens it as a->f.  Returns 0, or -1 with
 * "<path>: path too long" or "<tmp>: cannot create: <reason>" (nothing left behind). */
int dpt_atomic_begin(dpt_atomic *a, const char *path, char *err, size_t errlen);
/* Closes a->f so another library can write the temporary by name (a->tmp). */
void dpt_atomic_close_stream(dpt_atomic *a);
/* Durable and in place: flushes, fsyncs and closes a->f (or fsyncs a->tmp by name when the
 * stream was closed), renames, fsyncs the directory.  Returns 0, or -1 with "<path>: cannot
 * write: <reason>" (a failed write, fsync or rename), "<tmp>: fsync failed: <reason>" or the
 * directory's fsync message; the temporary is gone either way. */
int dpt_atomic_commit(dpt_atomic *a, char *err, size_t errlen);
/* Gives up: closes and removes the temporary. */
void dpt_atomic_abort(dpt_atomic *a);
/* A whole small file (e.g. checkpoints' `latest`) through begin, fwrite and commit.  *renamed
 * (may be NULL) tells whether path now holds text, even when the directory fsync failed. */
int dpt_atomic_write_text(const char *path, const char *text, bool *renamed, char *err,
                          size_t errlen);

#endif

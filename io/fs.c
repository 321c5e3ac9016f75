/* Durable files: mkdir -p, fsync of files and directories, and the atomic writer (temporary
 * name, fsync, rename, directory fsync) that every output goes through.  See io/fs.h. */
#include "io/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

int dpt_mkdirs(const char *dir, char *err, size_t errlen) {
    char buf[DPT_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return dpt_err(err, errlen, "%s: path too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return dpt_err(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (*buf && mkdir(buf, 0777) != 0 && errno != EEXIST)
        return dpt_err(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (*buf && (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
        return dpt_err(err, errlen, "%s: cannot create directory: exists and is not a directory",
                       dir);
    return 0;
}

int dpt_mkdirs_for(const char *path, char *err, size_t errlen) {
    char dir[DPT_PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return dpt_err(err, errlen, "%s: path too long", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    return dpt_mkdirs(dir, err, errlen);
}

int dpt_fsync_path(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0) return dpt_err(err, errlen, "%s: fsync failed: %s", path, strerror(saved));
    return 0;
}

int dpt_fsync_dir_of(const char *path, char *err, size_t errlen) {
    char dir[DPT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else
        slash[slash == dir] = '\0'; /* keep "/" for files in the root */
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    /* Some file systems cannot fsync a directory; the rename is then as durable as it gets. */
    if (rc != 0 && saved != EINVAL && saved != ENOTSUP)
        return dpt_err(err, errlen, "%s: fsync failed: %s", dir, strerror(saved));
    return 0;
}

/* ---- the atomic writer ---- */

int dpt_atomic_begin(dpt_atomic *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return dpt_err(err, errlen, "%s: path too long", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    /* open(2), not fopen: the mode is explicit and errno says why a create failed. */
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return dpt_err(err, errlen, "%s: cannot create: %s", a->tmp, strerror(errno));
    a->f = fdopen(fd, "w");
    if (a->f) return 0;
    int saved = errno;
    close(fd);
    unlink(a->tmp);
    return dpt_err(err, errlen, "%s: cannot create: %s", a->tmp, strerror(saved));
}

void dpt_atomic_close_stream(dpt_atomic *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
}

/* Flushes, fsyncs and closes the stream; errno says why when it fails (a short write without
 * errno is a full disk). */
static int finish_stream(dpt_atomic *a) {
    errno = 0;
    int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
    int saved = errno;
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (!bad) return 0;
    errno = saved ? saved : errno ? errno : ENOSPC;
    return -1;
}

int dpt_atomic_commit(dpt_atomic *a, char *err, size_t errlen) {
    a->renamed = false;
    int rc = 0;
    bool stream = a->f != NULL;
    if (stream && finish_stream(a) != 0)
        rc = dpt_err(err, errlen, "%s: cannot write: %s", a->path, strerror(errno));
    else if (!stream && dpt_fsync_path(a->tmp, err, errlen) != 0)
        rc = -1; /* written by name: only the fsync is left to do */
    else if (rename(a->tmp, a->path) != 0)
        rc = dpt_err(err, errlen, "%s: cannot write: %s (rename failed)", a->path, strerror(errno));
    if (rc) {
        unlink(a->tmp);
        return -1;
    }
    a->renamed = true;
    return dpt_fsync_dir_of(a->path, err, errlen);
}

void dpt_atomic_abort(dpt_atomic *a) {
    dpt_atomic_close_stream(a);
    unlink(a->tmp);
}

int dpt_atomic_write_text(const char *path, const char *text, bool *renamed, char *err,
                          size_t errlen) {
    dpt_atomic a;
    if (renamed) *renamed = false;
    if (dpt_atomic_begin(&a, path, err, errlen)) return -1;
    fputs(text, a.f);
    int rc = dpt_atomic_commit(&a, err, errlen);
    if (renamed) *renamed = a.renamed;
    return rc;
}

/* Scratch directories for tests.  See scratch.h. */
#include "scratch.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dpt_test_scratch_make(char *dir, size_t len, const char *prefix) {
    int n = snprintf(dir, len, "/tmp/%sXXXXXX", prefix);
    if (n < 0 || (size_t)n >= len) return -1;
    return mkdtemp(dir) ? 0 : -1;
}

/* Pre-order: a directory is made writable before its entries are removed. */
static int make_writable(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_D) chmod(p, st->st_mode | S_IRWXU);
    return 0;
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p) == 0 ? 0 : -1;
}

int dpt_test_scratch_remove(const char *dir) {
    nftw(dir, make_writable, 16, FTW_PHYS);
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

const char *dpt_test_path(const char *dir, const char *name) {
    static char buf[32][512];
    static int next;
    char *p = buf[next++ % 32];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* Entries of dir whose name contains `part` ("" counts every entry but "." and ".."). */
static int count_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
             strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

int dpt_test_count_entries(const char *dir) {
    return count_named(dir, "");
}

int dpt_test_count_temporaries(const char *dir) {
    return count_named(dir, ".tmp.");
}

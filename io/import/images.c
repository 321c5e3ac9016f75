/* `dptrain import images DIR OUT.h5`: a folder per class of PNG and JPEG files, as Keras'
 * image_dataset_from_directory reads them, to X (N, H, W, C), y and class_names.  Two passes:
 * the first lists the files in a fixed (sorted) order and checks every header (format, size,
 * limits) before anything is written; the second decodes, converts, resizes and appends.  See
 * io/import/images.h. */
#include "io/import/images.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <stb_image.h>
#include <stb_image_resize.h>

#include "core/rng.h"
#include "core/util.h"

/* ---- the file list ---- */

typedef struct img_file {
    char *path;
    int label;
} img_file;

typedef struct img_list {
    img_file *v;
    int64_t n, cap;
    char **classes; /* (K) sub-folder names, sorted */
    int nclass;
    int64_t skipped; /* files that are not .png/.jpg/.jpeg */
} img_list;

static void list_free(img_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->v[i].path);
    for (int k = 0; k < l->nclass; k++) free(l->classes[k]);
    free(l->v);
    free(l->classes);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = dpt_calloc(n, 1);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir except "." ".." and hidden ones (".DS_Store", "._x.png"), sorted
 * bytewise (Python's sorted() order for UTF-8 names, as Keras). */
static int list_dir(const char *dir, char ***names, int *n, char *err, size_t errlen) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return dpt_err(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
    int cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*names, (size_t)cap * sizeof **names);
            DPT_ASSERT(grown);
            *names = grown;
        }
        (*names)[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_names);
    return 0;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int add_file(img_list *l, char *path, int label, char *err, size_t errlen) {
    if (l->n == DPT_IMAGES_MAX_FILES) {
        dpt_err(err, errlen, "%s: more than %" PRId64 " images", path, DPT_IMAGES_MAX_FILES);
        free(path);
        return -1;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        img_file *grown = realloc(l->v, (size_t)l->cap * sizeof *l->v);
        DPT_ASSERT(grown);
        l->v = grown;
    }
    l->v[l->n++] = (img_file){path, label};
    return 0;
}

/* The images under dir (sub-folders too, as Keras), in sorted order, with this label. */
static int walk(img_list *l, const char *dir, int label, int depth, char *err, size_t errlen) {
    if (depth > 32) return dpt_err(err, errlen, "%s: folders nested too deep (a link loop?)", dir);
    char **names;
    int n, rc = list_dir(dir, &names, &n, err, errlen);
    for (int i = 0; !rc && i < n; i++) {
        char *path = join(dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0) {
            rc = dpt_err(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(l, path, label, depth + 1, err, errlen);
        } else if (S_ISREG(st.st_mode) && is_image_name(names[i])) {
            rc = add_file(l, path, label, err, errlen);
            path = NULL; /* the list owns it */
        } else {
            l->skipped++;
        }
        free(path);
    }
    free_names(names, n);
    return rc;
}

/* The classes (sub-folders of dir) and their files; files directly in dir are skipped. */
static int list_images(img_list *l, const char *dir, char *err, size_t errlen) {
    char **names;
    int n;
    if (list_dir(dir, &names, &n, err, errlen)) return -1;
    l->classes = dpt_calloc((size_t)n + 1, sizeof *l->classes);
    int rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        char *path = join(dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            int64_t before = l->n;
            l->classes[l->nclass] = strdup(names[i]);
            rc = walk(l, path, l->nclass++, 0, err, errlen);
            if (!rc && l->n == before)
                rc = dpt_err(err, errlen,
                             "%s: no .png, .jpg or .jpeg files in this class folder (every "
                             "sub-folder of %s is a class and needs at least one image)",
                             path, dir);
        } else {
            l->skipped++;
        }
        free(path);
    }
    free_names(names, n);
    if (!rc && l->nclass == 0)
        rc = dpt_err(err, errlen,
                     "%s: no class sub-folders: expected one sub-folder of .png/.jpg/.jpeg "
                     "images per class (as for Keras' image_dataset_from_directory)",
                     dir);
    return rc;
}

/* ---- headers: format, size and limits, before anything is decoded ---- */

typedef struct img_geom {
    int h, w, c;       /* the rows' shape */
    const char *first; /* the first image, for messages */
    int first_h, first_w;
    bool resize;
} img_geom;

/* PNG or JPEG by their signatures: stb_image would decode other formats too (BMP, GIF, PSD,
 * ...), which Keras does not take.  For a PNG, *h and *w get the size its IHDR claims (else 0),
 * which is checked before stb_image reads more: stb refuses some huge sizes itself, but with a
 * vague reason. */
static int sniff(const char *path, int64_t *h, int64_t *w, char *err, size_t errlen) {
    unsigned char m[24] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(m, 1, sizeof m, f);
    fclose(f);
    bool png = got >= 8 && !memcmp(m, "\x89PNG\r\n\x1a\n", 8);
    bool jpeg = got >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF;
    *h = *w = 0;
    if (png && got == 24 && !memcmp(m + 12, "IHDR", 4)) {
        for (int k = 0; k < 4; k++) *w = *w << 8 | m[16 + k], *h = *h << 8 | m[20 + k];
    }
    if (png || jpeg) return 0;
    return dpt_err(err, errlen,
                   "%s: not a PNG or JPEG file (it starts with %02x %02x %02x %02x; %zu bytes "
                   "read)",
                   path, m[0], m[1], m[2], m[3], got);
}

static int check_limits(const char *path, int64_t h, int64_t w, char *err, size_t errlen) {
    if (h <= DPT_IMAGES_MAX_SIDE && w <= DPT_IMAGES_MAX_SIDE && h * w <= DPT_IMAGES_MAX_PIXELS)
        return 0;
    return dpt_err(err, errlen,
                   "%s: %" PRId64 "x%" PRId64 " pixels (height x width) is too large: at most %d "
                   "per side and %" PRId64 " pixels",
                   path, h, w, DPT_IMAGES_MAX_SIDE, DPT_IMAGES_MAX_PIXELS);
}

static int probe(const char *path, img_geom *g, const dpt_images_opts *io, bool first, char *err,
                 size_t errlen) {
    int64_t ph, pw;
    if (sniff(path, &ph, &pw, err, errlen) || check_limits(path, ph, pw, err, errlen)) return -1;
    int w, h, comp;
    if (!stbi_info(path, &w, &h, &comp))
        return dpt_err(err, errlen, "%s: cannot decode the image header (corrupt file)", path);
    if (check_limits(path, h, w, err, errlen)) return -1;
    if (first) {
        g->first = path;
        g->first_h = h, g->first_w = w;
        g->c = io->channels ? io->channels : comp <= 2 ? 1 : 3;
        g->resize = io->height > 0;
        g->h = g->resize ? io->height : h;
        g->w = g->resize ? io->width : w;
        return 0;
    }
    if (!g->resize && (h != g->first_h || w != g->first_w))
        return dpt_err(err, errlen,
                       "%s: the image is %dx%d (height x width) but the first one, %s, is %dx%d: "
                       "all images must have one size, or pass --size HxW to resize them",
                       path, h, w, g->first, g->first_h, g->first_w);
    return 0;
}

static int probe_all(const img_list *l, const char *dir, img_geom *g, const dpt_images_opts *io,
                     bool u8, char *err, size_t errlen) {
    for (int64_t i = 0; i < l->n; i++)
        if (probe(l->v[i].path, g, io, i == 0, err, errlen)) return -1;
    double bytes = (double)l->n * g->h * g->w * g->c * (u8 ? 1 : 4);
    if (bytes > (double)DPT_IMAGES_MAX_BYTES)
        return dpt_err(err, errlen,
                       "%s: %" PRId64 " images of %dx%dx%d are %.1f GiB as %s, more than the "
                       "limit of %" PRId64 " GiB (import a part at a time, or pass --size)",
                       dir, l->n, g->h, g->w, g->c, bytes / (1 << 30), u8 ? "uint8" : "float32",
                       DPT_IMAGES_MAX_BYTES >> 30);
    return 0;
}

/* ---- decoding and writing ---- */

typedef struct img_job {
    img_geom g;
    bool u8;
    int xi, yi;    /* writer dataset indices */
    int64_t block; /* rows per append */
    uint8_t *px;   /* (block, H, W, C) */
    float *xf;     /* (block, H, W, C), float32 output only */
    int32_t *y;    /* (block) */
} img_job;

/* Image path as (H, W, C) uint8 into row: decoded with C channels (stb_image converts grey,
 * grey+alpha, RGB and RGBA into each other; 16-bit PNGs become 8-bit), resized when asked. */
static int decode(img_job *j, const char *path, uint8_t *row, char *err, size_t errlen) {
    int w, h, comp, C = j->g.c;
    uint8_t *img = stbi_load(path, &w, &h, &comp, C);
    /* stb_image tries every format in turn, so its last reason ("bad png sig" for a broken JPEG)
     * is not worth printing */
    if (!img)
        return dpt_err(err, errlen, "%s: cannot decode the image (corrupt or truncated file)",
                       path);
    int rc = 0;
    if (!j->g.resize && (h != j->g.h || w != j->g.w))
        rc = dpt_err(err, errlen, "%s: changed while importing (%dx%d, was %dx%d)", path, h, w,
                     j->g.h, j->g.w);
    else if (!j->g.resize)
        memcpy(row, img, (size_t)h * w * C);
    else if (!stbir_resize_uint8(img, w, h, 0, row, j->g.w, j->g.h, 0, C))
        rc = dpt_err(err, errlen, "%s: cannot resize %dx%d to %dx%d", path, h, w, j->g.h, j->g.w);
    stbi_image_free(img);
    return rc;
}

static int add_datasets(img_job *j, dpt_impw *iw, int64_t n, const dpt_import_opts *o) {
    int64_t rows[3] = {j->g.h, j->g.w, j->g.c};
    j->xi = dpt_impw_add_typed(iw, o->x_name ? o->x_name : "X", j->u8 ? DPT_IMPW_U8 : DPT_IMPW_F32,
                               4, rows, n, true);
    j->yi = dpt_impw_add(iw, o->y_name ? o->y_name : "y", true, 1, NULL, n, true);
    if (j->xi < 0 || j->yi < 0) return -1;
    size_t row = (size_t)j->g.h * j->g.w * j->g.c;
    j->block = dpt_impw_block_rows(iw, j->xi);
    j->px = dpt_calloc((size_t)j->block * row, 1);
    if (!j->u8) j->xf = dpt_calloc((size_t)j->block * row, sizeof(float));
    j->y = dpt_calloc((size_t)j->block, sizeof(int32_t));
    return 0;
}

/* Files [first, first + n) decoded and appended. */
static int copy_block(img_job *j, dpt_impw *iw, const img_list *l, int64_t first, int64_t n,
                      char *err, size_t errlen) {
    size_t row = (size_t)j->g.h * j->g.w * j->g.c;
    int64_t bad = n; /* the first image that failed */
    /* Decoding is most of the time: the images of a block are decoded on all threads. */
#pragma omp parallel for schedule(dynamic, 1) reduction(min : bad)
    for (int64_t i = 0; i < n; i++) {
        char e[8]; /* the message is made again below, for the first failure only */
        if (decode(j, l->v[first + i].path, j->px + (size_t)i * row, e, sizeof e)) bad = i;
        j->y[i] = l->v[first + i].label;
    }
    if (bad < n) {
        decode(j, l->v[first + bad].path, j->px, err, errlen);
        return -1;
    }
    if (!j->u8) { /* the same floats as import idx's float32: (float)(v * (1.0 / 255.0)) */
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = (float)(v * (1.0 / 255.0));
        for (size_t k = 0; k < (size_t)n * row; k++) j->xf[k] = lut[j->px[k]];
    }
    if (dpt_impw_append(iw, j->xi, j->u8 ? (void *)j->px : (void *)j->xf, n)) return -1;
    return dpt_impw_append(iw, j->yi, j->y, n);
}

/* class_names (K): variable-length UTF-8 strings (h5py: f["class_names"].asstr()[...]). */
static void write_class_names(dpt_impw *iw, const img_list *l) {
    if (iw->w.failed) return;
    hsize_t k = (hsize_t)l->nclass;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate_simple(1, &k, NULL);
    hid_t d = H5Dcreate2(iw->w.file, "class_names", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, l->classes);
    if (d >= 0 && H5Dclose(d) < 0) st = -1;
    H5Sclose(sp);
    H5Tclose(t);
    if (st < 0) dpt_h5w_fail(&iw->w, "dataset class_names");
}

/* "3 classes [cat, dog, fox], 2 other files skipped" (shortened to fit). */
static void describe(const img_list *l, dpt_import_summary *s) {
    size_t len = sizeof s->note;
    int n = snprintf(s->note, len, "%d class%s [", l->nclass, l->nclass == 1 ? "" : "es");
    for (int k = 0; k < l->nclass && n > 0 && (size_t)n < len - 64; k++)
        n += snprintf(s->note + n, len - (size_t)n, "%s%s", k ? ", " : "", l->classes[k]);
    if ((size_t)n >= len - 64) n += snprintf(s->note + n, len - (size_t)n, ", ...");
    n += snprintf(s->note + n, len - (size_t)n, "]");
    if (l->skipped)
        snprintf(s->note + n, len - (size_t)n,
                 ", %" PRId64 " file%s skipped (not .png, .jpg or .jpeg)", l->skipped,
                 l->skipped == 1 ? "" : "s");
}

static void free_img_job(img_job *j) {
    free(j->px);
    free(j->xf);
    free(j->y);
}

static int write_images(img_job *j, const img_list *l, const char *out, const dpt_import_opts *o,
                        dpt_import_summary *s, char *err, size_t errlen) {
    dpt_impw iw;
    if (dpt_impw_begin(&iw, out, o, err, errlen)) return -1;
    int rc = add_datasets(j, &iw, l->n, o);
    for (int64_t r = 0; !rc && r < l->n; r += j->block)
        rc = copy_block(j, &iw, l, r, l->n - r < j->block ? l->n - r : j->block, err, errlen);
    if (!rc) write_class_names(&iw, l);
    if (rc) {
        dpt_impw_abort(&iw);
        return -1;
    }
    if (dpt_impw_finish(&iw, s)) return -1;
    if (s) describe(l, s);
    return 0;
}

/* Fisher-Yates with a stream seeded by seed alone: the same order on every machine. */
static void shuffle(img_list *l, uint64_t seed) {
    dpt_rng rng;
    dpt_rng_seed(&rng, seed, 0);
    for (int64_t i = l->n - 1; i > 0; i--) {
        int64_t k = (int64_t)dpt_rng_below(&rng, (uint64_t)i + 1);
        img_file t = l->v[i];
        l->v[i] = l->v[k];
        l->v[k] = t;
    }
}

int dpt_import_images(const char *dir, const char *out, const dpt_images_opts *io,
                      const dpt_import_opts *o, dpt_import_summary *s, char *err, size_t errlen) {
    img_list l = {0};
    img_job j = {.u8 = o->x_type != DPT_IMPORT_X_F32};
    int rc = list_images(&l, dir, err, errlen);
    if (!rc && io->shuffle) shuffle(&l, io->seed);
    if (!rc) rc = probe_all(&l, dir, &j.g, io, j.u8, err, errlen);
    if (!rc) rc = write_images(&j, &l, out, o, s, err, errlen);
    free_img_job(&j);
    list_free(&l);
    return rc;
}

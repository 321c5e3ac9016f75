/* The image-folder importer: DIR/CLASS/.../NAME.png|jpg|jpeg (the layout of Keras'
 * image_dataset_from_directory) to X (N, H, W, C), y int32 class labels and the class names.
 * Decoding and resizing by stb_image / stb_image_resize (Debian libstb-dev).  Conventions:
 * io/import/writer.h. */
#ifndef DPT_IMPORT_IMAGES_H
#define DPT_IMPORT_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/import/writer.h"

/* Limits for untrusted files, checked on the headers before anything is decoded. */
#define DPT_IMAGES_MAX_SIDE   16384               /* pixels per side */
#define DPT_IMAGES_MAX_PIXELS ((int64_t)1 << 26)  /* per image (64 Mi pixels, 256 MiB as RGBA) */
#define DPT_IMAGES_MAX_BYTES  ((int64_t)64 << 30) /* X as written: 64 GiB */
#define DPT_IMAGES_MAX_FILES  ((int64_t)1 << 30)  /* images (rows) */

typedef struct dpt_images_opts {
    int channels;      /* 1, 3 or 4; 0: 1 for a grey first image, else 3 */
    int height, width; /* resize every image to this; 0: all images must have one size */
    bool shuffle;      /* rows in an order drawn from seed, instead of class by class */
    uint64_t seed;
} dpt_images_opts;

/* dir -> out: X (N, H, W, C) uint8 (or float32 v / 255 with o->x_type DPT_IMPORT_X_F32), y int32
 * (N) in 0..K-1, class_names (K) variable-length UTF-8 strings; the classes are the
 * sub-folders of dir sorted by name (bytewise), the files of a class sorted by path; the rows
 * come class by class in that order, or permuted by io->seed with io->shuffle.  Every
 * header is read and checked before the output is created; a file that does not decode later
 * removes the temporary output.  s->note gets the class count and names and the files skipped. */
int dpt_import_images(const char *dir, const char *out, const dpt_images_opts *io,
                      const dpt_import_opts *o, dpt_import_summary *s, char *err, size_t errlen);

#endif

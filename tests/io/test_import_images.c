/* Specification of the image-folder importer (io/import/images.c) and of uint8 X: classes are
 * the sorted sub-folders, files in sorted order (sub-folders too), PNG values exact, grey/RGB/RGBA
 * converted to the chosen channels, float32 = v / 255, --size resizes, and the refusals (size
 * mismatch, corrupt or non-image files, empty class, no classes, huge headers) leave no output. */
#include <stb_image_write.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/import/images.h"
#include "test_import_util.h"

/* Pixel (y, x, c) of the pattern images. */
static unsigned char pattern(int base, int y, int x, int c) {
    return (unsigned char)((base + 3 * y + 5 * x + 70 * c) % 256);
}

/* scratch/rel written as a PNG (or JPEG for .jpg/.JPG names) of h x w x c pattern pixels. */
static void image(const char *rel, int h, int w, int c, int base) {
    unsigned char *px = malloc((size_t)h * w * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) px[((size_t)y * w + x) * c + k] = pattern(base, y, x, k);
    const char *p = spath(rel), *dot = strrchr(rel, '.');
    int ok = !strcasecmp(dot, ".jpg") ? stbi_write_jpg(p, w, h, c, px, 95)
                                      : stbi_write_png(p, w, h, c, px, w * c);
    assert_true(ok);
    free(px);
}

static void mkdir_s(const char *rel) {
    mkdir(spath(rel), 0755);
}

static int import(const char *dir, const dpt_images_opts *io, int x_type, dpt_import_summary *s,
                  char *err, size_t errlen) {
    dpt_import_opts o = opts();
    o.x_type = x_type;
    return dpt_import_images(spath(dir), spath("out.h5"), io, &o, s, err, errlen);
}

static void import_ok(const char *dir, const dpt_images_opts *io, int x_type,
                      dpt_import_summary *s) {
    char err[1024] = "";
    if (import(dir, io, x_type, s, err, sizeof err)) fail_msg("rejected: %s", err);
}

/* Refused, with no output and no temporary left; the message in err. */
static void refuse(const dpt_images_opts *io, const char *dir, char *err, size_t errlen) {
    unlink(spath("out.h5"));
    if (import(dir, io, DPT_IMPORT_X_DEFAULT, NULL, err, errlen) == 0) fail_msg("accepted %s", dir);
    assert_int_equal(access(spath("out.h5"), F_OK), -1);
    assert_no_temporaries();
}

/* ... and every part (a NULL-terminated list) is in the message. */
#define import_bad(io, dir, ...)                                                                   \
    do {                                                                                           \
        char e_[1024] = "";                                                                        \
        refuse(io, dir, e_, sizeof e_);                                                            \
        assert_msg(e_, __VA_ARGS__);                                                               \
    } while (0)

static void read_u8(const char *name, hsize_t *dims, uint8_t *out) {
    read_ds(spath("out.h5"), name, dims, H5T_NATIVE_UINT8, out);
}

static void classes_are_sorted_folders_and_files_come_in_sorted_order(void **state) {
    (void)state;
    mkdir_s("t1");
    mkdir_s("t1/b_dog");
    mkdir_s("t1/a_cat");
    mkdir_s("t1/a_cat/more");
    image("t1/b_dog/1.png", 3, 4, 3, 40);
    image("t1/a_cat/z.png", 3, 4, 3, 20);
    image("t1/a_cat/B.PNG", 3, 4, 3, 10); /* 'B' < 'm' < 'z' bytewise */
    image("t1/a_cat/more/m.png", 3, 4, 3, 30);
    write_text("t1/a_cat/notes.txt", "not an image");
    write_text("t1/a_cat/.hidden.png", "hidden files are ignored");
    write_text("t1/stray.png", "files next to the class folders are not in a class");
    dpt_import_summary s;
    dpt_images_opts io = {0};
    import_ok("t1", &io, DPT_IMPORT_X_DEFAULT, &s);
    const char *out = spath("out.h5");
    size_t size;
    assert_int_equal(ds_class(out, "X", &size), H5T_INTEGER);
    assert_int_equal(size, 1); /* uint8 by default */
    hsize_t dims[4];
    assert_int_equal(read_ds(out, "X", dims, 0, NULL), 4);
    assert_int_equal(dims[0], 4);
    assert_int_equal(dims[1], 3);
    assert_int_equal(dims[2], 4);
    assert_int_equal(dims[3], 3);
    uint8_t x[4 * 36];
    read_u8("X", dims, x);
    int bases[4] = {10, 30, 20, 40}; /* B.PNG, more/m.png, z.png, then b_dog's */
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 36; k++)
            assert_int_equal(x[i * 36 + k], pattern(bases[i], k / 12, k / 3 % 4, k % 3));
    assert_ints(out, "y", (int32_t[]){0, 0, 0, 1}, 4);
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "class_names", H5P_DEFAULT), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *names[2] = {0};
    assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0);
    assert_string_equal(names[0], "a_cat");
    assert_string_equal(names[1], "b_dog");
    H5free_memory(names[0]);
    H5free_memory(names[1]);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
    assert_msg(s.note, "2 classes [a_cat, b_dog]", "2 files skipped", NULL);
}

/* Grey first: 1 channel (RGB images become their luma); RGB or RGBA first: 3; --channels 3
 * repeats grey; --channels 4 keeps alpha (255 for images without). */
static void channels_follow_the_first_image_or_the_option(void **state) {
    (void)state;
    mkdir_s("t2");
    mkdir_s("t2/c");
    image("t2/c/a.png", 2, 2, 1, 50);
    image("t2/c/b.png", 2, 2, 4, 60);
    dpt_images_opts io = {0};
    hsize_t dims[4];
    uint8_t x[2 * 2 * 2 * 4];
    import_ok("t2", &io, DPT_IMPORT_X_DEFAULT, NULL);
    assert_int_equal(read_ds(spath("out.h5"), "X", dims, 0, NULL), 4);
    assert_int_equal(dims[3], 1);
    io.channels = 3;
    import_ok("t2", &io, DPT_IMPORT_X_DEFAULT, NULL);
    read_u8("X", dims, x);
    assert_int_equal(dims[3], 3);
    assert_int_equal(x[3], pattern(50, 0, 1, 0)); /* grey repeated: pixel (0, 1) */
    assert_int_equal(x[4], pattern(50, 0, 1, 0));
    assert_int_equal(x[12 + 5], pattern(60, 0, 1, 2)); /* RGBA: alpha dropped */
    io.channels = 4;
    import_ok("t2", &io, DPT_IMPORT_X_DEFAULT, NULL);
    read_u8("X", dims, x);
    assert_int_equal(x[3], 255);                       /* grey gets an opaque alpha */
    assert_int_equal(x[16 + 7], pattern(60, 0, 1, 3)); /* the RGBA image's own alpha */
}

static void float32_holds_the_pixels_over_255(void **state) {
    (void)state;
    mkdir_s("t3");
    mkdir_s("t3/only");
    image("t3/only/a.png", 2, 3, 1, 200);
    dpt_images_opts io = {0};
    import_ok("t3", &io, DPT_IMPORT_X_F32, NULL);
    size_t size;
    assert_int_equal(ds_class(spath("out.h5"), "X", &size), H5T_FLOAT);
    float want[6];
    for (int k = 0; k < 6; k++) want[k] = (float)(pattern(200, k / 3, k % 3, 0) * (1.0 / 255.0));
    assert_floats(spath("out.h5"), "X", want, 6);
    assert_ints(spath("out.h5"), "y", (int32_t[]){0}, 1);
}

static void sizes_must_match_unless_resized(void **state) {
    (void)state;
    mkdir_s("t4");
    mkdir_s("t4/a");
    image("t4/a/1.png", 4, 6, 3, 0);
    image("t4/a/2.png", 5, 6, 3, 0);
    dpt_images_opts io = {0};
    import_bad(&io, "t4", "t4/a/2.png: the image is 5x6 (height x width)", "t4/a/1.png, is 4x6",
               "--size HxW", NULL);
    io.height = 2, io.width = 3;
    import_ok("t4", &io, DPT_IMPORT_X_DEFAULT, NULL);
    hsize_t dims[4];
    assert_int_equal(read_ds(spath("out.h5"), "X", dims, 0, NULL), 4);
    assert_int_equal(dims[0], 2);
    assert_int_equal(dims[1], 2);
    assert_int_equal(dims[2], 3);
    assert_int_equal(dims[3], 3);
}

/* A flat image stays flat through resizing (the filters' weights sum to 1). */
static void resizing_keeps_a_constant_image_constant(void **state) {
    (void)state;
    mkdir_s("t5");
    mkdir_s("t5/a");
    unsigned char px[7 * 9];
    memset(px, 77, sizeof px);
    assert_true(stbi_write_png(spath("t5/a/flat.png"), 9, 7, 1, px, 9));
    dpt_images_opts io = {.height = 16, .width = 4};
    import_ok("t5", &io, DPT_IMPORT_X_DEFAULT, NULL);
    uint8_t x[64];
    hsize_t dims[4];
    read_u8("X", dims, x);
    for (int k = 0; k < 64; k++) assert_int_equal(x[k], 77);
}

static void corrupt_and_foreign_files_are_named(void **state) {
    (void)state;
    mkdir_s("t6");
    mkdir_s("t6/a");
    image("t6/a/good.png", 8, 8, 3, 0);
    image("t6/a/z.png", 8, 8, 3, 0);
    FILE *f = fopen(spath("t6/a/z.png"), "r+b"); /* damage the pixel data (IDAT) */
    assert_non_null(f);
    fseek(f, 45, SEEK_SET);
    for (int i = 0; i < 40; i++) fputc(0xA5, f);
    fclose(f);
    dpt_images_opts io = {0};
    import_bad(&io, "t6", "t6/a/z.png: cannot decode the image", NULL);
    write_text("t6/a/z.png", "GIF89a pretending");
    import_bad(&io, "t6", "t6/a/z.png: not a PNG or JPEG file", "47 49 46 38", NULL);
    /* a header claiming 100000 x 100000 pixels is refused before any decoding */
    unsigned char huge[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0,    0,    13, 'I',
                              'H',  'D', 'R', 0,   1,    0x86, 0xa0, 0,    1, 0x86, 0xa0, 8,  2};
    write_bytes("t6/a/z.png", huge, sizeof huge);
    import_bad(&io, "t6", "t6/a/z.png: 100000x100000 pixels (height x width) is too large",
               "at most 16384 per side", NULL);
}

static void empty_classes_and_folders_without_classes_are_refused(void **state) {
    (void)state;
    mkdir_s("t7");
    dpt_images_opts io = {0};
    import_bad(&io, "t7", "t7: no class sub-folders", "image_dataset_from_directory", NULL);
    write_text("t7/loose.png", "x");
    import_bad(&io, "t7", "t7: no class sub-folders", NULL);
    mkdir_s("t7/a");
    image("t7/a/1.png", 2, 2, 1, 0);
    mkdir_s("t7/b");
    write_text("t7/b/readme.txt", "no images here");
    import_bad(&io, "t7", "t7/b: no .png, .jpg or .jpeg files", NULL);
    import_bad(&io, "nonexistent", "nonexistent: cannot open", NULL);
}

static void jpeg_files_decode_close_to_their_pixels(void **state) {
    (void)state;
    mkdir_s("t8");
    mkdir_s("t8/k");
    image("t8/k/a.JPG", 16, 16, 3, 0);
    dpt_images_opts io = {0};
    import_ok("t8", &io, DPT_IMPORT_X_DEFAULT, NULL);
    uint8_t x[16 * 16 * 3];
    hsize_t dims[4];
    read_u8("X", dims, x);
    assert_int_equal(dims[3], 3);
    /* quality 95 on a smooth ramp: off by a few levels at most (wraps at 256 aside) */
    int close = 0;
    for (int k = 0; k < 16 * 16 * 3; k++) {
        int d = abs((int)x[k] - pattern(0, k / 48, k / 3 % 16, k % 3));
        close += d <= 8;
    }
    assert_true(close > 16 * 16 * 3 * 9 / 10);
}

static void read_labels(int32_t *y, int n) {
    hsize_t dims[1];
    assert_int_equal(read_ds(spath("out.h5"), "y", dims, H5T_NATIVE_INT32, y), 1);
    assert_int_equal(dims[0], n);
}

/* --shuffle SEED: the same rows in an order fixed by the seed (the pixels travel with labels). */
static void shuffle_permutes_rows_reproducibly(void **state) {
    (void)state;
    mkdir_s("t9");
    char rel[64];
    for (int c = 0; c < 3; c++) {
        snprintf(rel, sizeof rel, "t9/c%d", c);
        mkdir_s(rel);
        for (int i = 0; i < 5; i++) {
            snprintf(rel, sizeof rel, "t9/c%d/%d.png", c, i);
            image(rel, 1, 1, 1, 50 * c); /* the pixel says the class */
        }
    }
    dpt_images_opts io = {.shuffle = true, .seed = 7};
    int32_t a[15], b[15], counts[3] = {0};
    import_ok("t9", &io, DPT_IMPORT_X_DEFAULT, NULL);
    read_labels(a, 15);
    uint8_t x[15];
    hsize_t dims[4];
    read_u8("X", dims, x);
    int moved = 0;
    for (int i = 0; i < 15; i++) {
        counts[a[i]]++;
        assert_int_equal(x[i], 50 * a[i]);
        moved += a[i] != i / 5;
    }
    for (int c = 0; c < 3; c++) assert_int_equal(counts[c], 5);
    assert_true(moved > 0);
    import_ok("t9", &io, DPT_IMPORT_X_DEFAULT, NULL);
    read_labels(b, 15);
    assert_memory_equal(a, b, sizeof a);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classes_are_sorted_folders_and_files_come_in_sorted_order),
        cmocka_unit_test(channels_follow_the_first_image_or_the_option),
        cmocka_unit_test(float32_holds_the_pixels_over_255),
        cmocka_unit_test(sizes_must_match_unless_resized),
        cmocka_unit_test(resizing_keeps_a_constant_image_constant),
        cmocka_unit_test(corrupt_and_foreign_files_are_named),
        cmocka_unit_test(empty_classes_and_folders_without_classes_are_refused),
        cmocka_unit_test(jpeg_files_decode_close_to_their_pixels),
        cmocka_unit_test(shuffle_permutes_rows_reproducibly),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}

/* Test fixture for `dptrain import images` (tests/e2e/import.sh images): writes one PNG or JPEG
 * of a known pattern with stb_image_write, so the tests need no image tools.
 *   dpt_test_write_image OUT.png|OUT.jpg H W C BASE
 * Pixel (y, x, c) = (BASE + 3 y + 5 x + 70 c) mod 256 (JPEG is lossy: only near it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s OUT.png|OUT.jpg H W C BASE\n", argv[0]);
        return 2;
    }
    int h = atoi(argv[2]), w = atoi(argv[3]), c = atoi(argv[4]), base = atoi(argv[5]);
    if (h < 1 || w < 1 || c < 1 || c > 4) return 2;
    unsigned char *px = malloc((size_t)h * w * c);
    if (!px) return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                px[((size_t)y * w + x) * c + k] =
                    (unsigned char)((base + 3 * y + 5 * x + 70 * k) % 256);
    const char *dot = strrchr(argv[1], '.');
    int ok = dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".JPG") || !strcmp(dot, ".jpeg"))
                 ? stbi_write_jpg(argv[1], w, h, c, px, 95)
                 : stbi_write_png(argv[1], w, h, c, px, w * c);
    free(px);
    if (!ok) fprintf(stderr, "%s: cannot write\n", argv[1]);
    return ok ? 0 : 1;
}

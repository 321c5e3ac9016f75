/* docs/config.md's table of the keys each layer type takes is generated from the types' own key
 * tables: this test regenerates it and fails, printing the new table, when the docs differ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/layer.h"

#define BEGIN "<!-- layer-keys: generated, do not edit -->\n"
#define END   "<!-- end layer-keys -->\n"

/* The table between the markers, as docs/config.md holds it. */
static void layer_key_table(char *out, size_t n) {
    size_t len = (size_t)snprintf(out, n,
                                  "| Type | Keys (besides `type` and `name`) |\n"
                                  "|------|------|\n");
    for (const char *const *name = dpt_layer_names(); *name; name++) {
        const dpt_layer_type *t = dpt_layer_find(*name);
        len += (size_t)snprintf(out + len, n - len, "| `%s` |", t->name);
        for (int k = 0; k < t->nkeys; k++)
            len += (size_t)snprintf(out + len, n - len, "%s `%s`%s", k ? "," : "", t->keys[k].name,
                                    t->keys[k].required ? " (required)" : "");
        len += (size_t)snprintf(out + len, n - len, " |\n");
        assert_true(len < n);
    }
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    char *buf = calloc(1 << 20, 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_docs_layer_key_table_matches_the_types(void **state) {
    (void)state;
    char want[16384];
    layer_key_table(want, sizeof want);
    char *doc = read_all(DPT_SOURCE_DIR "/docs/config.md");
    char *a = strstr(doc, BEGIN), *b = a ? strstr(a, END) : NULL;
    if (!a || !b) {
        fail_msg("docs/config.md lacks the markers %s and %s", BEGIN, END);
        return;
    }
    a += strlen(BEGIN);
    *b = '\0';
    if (strcmp(a, want) != 0) { /* the whole table on stdout: fail_msg truncates */
        printf("%s", want);
        fail_msg("docs/config.md's layer key table differs from the types; replace the lines "
                 "between the markers with the table printed above");
    }
    free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_layer_key_table_matches_the_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

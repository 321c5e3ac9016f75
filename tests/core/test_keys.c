/* Declared keys of kind DPT_KEY_INTS (a kernel's (h, w), a padding that may be a name): one
 * integer for every slot, a list of exactly as many, a name stored as -(index + 1), the
 * canonical text back, and the messages for what they refuse. */
#include <string.h>

#include "core/keys.h"
#include "core/util.h"
#include "core_check.h"

typedef struct pair_args {
    int kernel[2];
    int padding[2];
} pair_args;

static const char *const *padding_names(void) {
    static const char *const names[] = {"valid", "same", NULL};
    return names;
}

static const dpt_key keys[] = {
    {.name = "kernel_size", .kind = DPT_KEY_INTS, DPT_FIELD(pair_args, kernel), .lo = 1},
    {.name = "padding",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(pair_args, padding),
     .lo = 0,
     .names = padding_names,
     .def = "valid"},
};

static const char *formatted(const dpt_key *k, const pair_args *a) {
    static char buf[64];
    dpt_key_format(k, a, buf, sizeof buf);
    return buf;
}

static void test_one_integer_fills_every_slot_and_a_list_sets_each(void **state) {
    (void)state;
    pair_args a = {{0, 0}, {0, 0}};
    char err[256];
    assert_int_equal(dpt_key_parse(&keys[0], &a, "3", NULL, err, sizeof err), 0);
    assert_int_equal(a.kernel[0], 3);
    assert_int_equal(a.kernel[1], 3);
    assert_string_equal(formatted(&keys[0], &a), "3");
    assert_int_equal(dpt_key_parse(&keys[0], &a, "[3, 5]", NULL, err, sizeof err), 0);
    assert_int_equal(a.kernel[0], 3);
    assert_int_equal(a.kernel[1], 5);
    assert_string_equal(formatted(&keys[0], &a), "[3, 5]");
    assert_int_equal(dpt_key_parse(&keys[0], &a, "2,7", NULL, err, sizeof err), 0);
    assert_int_equal(a.kernel[1], 7);
    /* The canonical text parses back to the same value. */
    pair_args b = a;
    assert_int_equal(dpt_key_parse(&keys[0], &b, formatted(&keys[0], &a), NULL, err, sizeof err),
                     0);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_a_name_is_stored_as_a_negative_code(void **state) {
    (void)state;
    pair_args a;
    char err[256];
    assert_int_equal(dpt_key_defaults(keys, 2, &a, err, sizeof err), 0);
    assert_int_equal(a.padding[0], -1);
    assert_string_equal(formatted(&keys[1], &a), "valid");
    assert_int_equal(dpt_key_parse(&keys[1], &a, "same", NULL, err, sizeof err), 0);
    assert_int_equal(a.padding[0], -2);
    assert_int_equal(a.padding[1], -2);
    assert_string_equal(formatted(&keys[1], &a), "same");
    assert_int_equal(dpt_key_parse(&keys[1], &a, "[0, 2]", NULL, err, sizeof err), 0);
    assert_int_equal(a.padding[1], 2);
}

static void test_wrong_counts_ranges_and_text_are_refused_unchanged(void **state) {
    (void)state;
    pair_args a = {{4, 4}, {0, 0}};
    char err[256];
    const char *bad[] = {"0", "[3, 3, 3]", "[3,", "x", "", "[]", "3 3", "[1.5, 2]", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dpt_key_parse(&keys[0], &a, bad[i], NULL, err, sizeof err), -1);
        assert_int_equal(a.kernel[0], 4);
        assert_int_equal(a.kernel[1], 4);
    }
    assert_int_equal(dpt_key_parse(&keys[0], &a, "[3, 3, 3]", NULL, err, sizeof err), -1);
    assert_string_equal(err, "expected an integer >= 1 or a list of 2, got '[3, 3, 3]'");
    assert_int_equal(dpt_key_parse(&keys[1], &a, "full", NULL, err, sizeof err), -1);
    assert_string_equal(err, "expected an integer >= 0 or a list of 2, or one of: valid, same; got "
                             "'full'");
    assert_int_equal(dpt_key_parse(&keys[0], &a, NULL, "a mapping", err, sizeof err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_integer_fills_every_slot_and_a_list_sets_each),
        cmocka_unit_test(test_a_name_is_stored_as_a_negative_code),
        cmocka_unit_test(test_wrong_counts_ranges_and_text_are_refused_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

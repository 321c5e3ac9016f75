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

/* A shape of 1..3 dimensions, one of which may be -1 (reshape's target_shape); a 1-D pool's
 * padding (one slot). */
typedef struct upto_args {
    int shape[3];
    int pad1[1];
} upto_args;

static const dpt_key upto_keys[] = {
    {.name = "target_shape",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(upto_args, shape),
     .lo = -1,
     .flags = DPT_KEY_UPTO},
    {.name = "padding",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(upto_args, pad1),
     .lo = 0,
     .names = padding_names},
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

static const char *upto_formatted(const dpt_key *k, const upto_args *a) {
    static char buf[64];
    dpt_key_format(k, a, buf, sizeof buf);
    return buf;
}

static void test_upto_takes_one_to_count_values_and_formats_the_list(void **state) {
    (void)state;
    upto_args a = {{9, 9, 9}, {0}};
    char err[256];
    const dpt_key *k = &upto_keys[0];
    assert_int_equal(dpt_key_parse(k, &a, "784", NULL, err, sizeof err), 0);
    int one[3] = {784, 0, 0};
    assert_memory_equal(a.shape, one, sizeof one);
    assert_string_equal(upto_formatted(k, &a), "[784]");
    assert_int_equal(dpt_key_parse(k, &a, "[7, -1]", NULL, err, sizeof err), 0);
    int two[3] = {7, -1, 0};
    assert_memory_equal(a.shape, two, sizeof two);
    assert_string_equal(upto_formatted(k, &a), "[7, -1]");
    assert_int_equal(dpt_key_parse(k, &a, "[28, 28, 1]", NULL, err, sizeof err), 0);
    assert_string_equal(upto_formatted(k, &a), "[28, 28, 1]");
    upto_args b = {{0, 0, 0}, {0}};
    assert_int_equal(dpt_key_parse(k, &b, upto_formatted(k, &a), NULL, err, sizeof err), 0);
    assert_memory_equal(a.shape, b.shape, sizeof a.shape);
    /* Too many, below lo, or no list at all: refused, the value unchanged. */
    const char *bad[] = {"[1, 2, 3, 4]", "[-2, 4]", "[]", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dpt_key_parse(k, &a, bad[i], NULL, err, sizeof err), -1);
        assert_int_equal(a.shape[0], 28);
    }
    assert_int_equal(dpt_key_parse(k, &a, "[1, 2, 3, 4]", NULL, err, sizeof err), -1);
    assert_string_equal(err, "expected an integer >= -1 or a list of 1 to 3, got '[1, 2, 3, 4]'");
    char buf[128];
    assert_string_equal(dpt_key_expect(k, buf, sizeof buf), "an integer >= -1 or a list of 1 to 3");
}

static void test_a_one_slot_key_does_not_offer_a_list(void **state) {
    (void)state;
    upto_args a = {{0, 0, 0}, {0}};
    char err[256];
    const dpt_key *k = &upto_keys[1];
    assert_int_equal(dpt_key_parse(k, &a, "same", NULL, err, sizeof err), 0);
    assert_int_equal(a.pad1[0], -2);
    assert_string_equal(upto_formatted(k, &a), "same");
    assert_int_equal(dpt_key_parse(k, &a, "3", NULL, err, sizeof err), 0);
    assert_string_equal(upto_formatted(k, &a), "3");
    assert_int_equal(dpt_key_parse(k, &a, "[1, 2]", NULL, err, sizeof err), -1);
    assert_string_equal(err, "expected an integer >= 0 or one of: valid, same; got '[1, 2]'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_integer_fills_every_slot_and_a_list_sets_each),
        cmocka_unit_test(test_a_name_is_stored_as_a_negative_code),
        cmocka_unit_test(test_wrong_counts_ranges_and_text_are_refused_unchanged),
        cmocka_unit_test(test_upto_takes_one_to_count_values_and_formats_the_list),
        cmocka_unit_test(test_a_one_slot_key_does_not_offer_a_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

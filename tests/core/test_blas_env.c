/* A user's BLIS_ARCH_TYPE wins over dptrain's own kernel choice.  Its own binary because BLIS
 * reads the variable once per process.  A name ("generic") is given, which BLIS 0.9 itself would
 * misread as 0 (skx); dpt_blas_setup translates it. */
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core_check.h"

static void test_user_blis_arch_type_is_respected(void **state) {
    (void)state;
    dpt_blas_setup(1);
    assert_string_equal(dpt_blas_arch(), "generic");
    assert_string_equal(dpt_blas_arch_reason(), "BLIS_ARCH_TYPE from environment");
    /* The generic kernels still compute correctly. */
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}; /* (2, 3), (3, 2) */
    float C[4];                                                       /* (2, 2) */
    dpt_sgemm(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    assert_near(C[0], 4.0, 0.0);
    assert_near(C[1], 5.0, 0.0);
    assert_near(C[2], 10.0, 0.0);
    assert_near(C[3], 11.0, 0.0);
}

int main(void) {
    /* Before any BLIS call, as a user's job script would. */
    setenv("BLIS_ARCH_TYPE", "generic", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_blis_arch_type_is_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Failure paths that must end the whole job (ctest matches the output): a fatal error on one rank
 * while the others wait in a collective, ranks holding different models, a malformed thread
 * count in the environment.  Printing "survived" means the job did not end: a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/dist.h"

static void model_differs_on_rank_1(void) {
    dpt_layer_spec spec;
    char err[256];
    if (dpt_layer_spec_parse(&spec, "dense units=2", err, sizeof err)) dpt_fatal("%s", err);
    dpt_model m;
    dpt_shape in = dpt_shape_1d(3);
    if (dpt_model_build(&m, &spec, 1, &in, 4, err, sizeof err)) dpt_fatal("%s", err);
    dpt_model_init_params(&m, 5);
    if (dpt_world.rank == 1) m.params[0] += 1.0f;
    dpt_dist_check_model(&m);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "fatal") == 0 && dpt_world.rank == 1) dpt_fatal("probe failure %d", 42);
    if (strcmp(mode, "mismatch") == 0) model_differs_on_rank_1();
    if (strcmp(mode, "threads") == 0) {
        setenv("OMP_NUM_THREADS", "abc", 1);
        dpt_dist_pick_threads(0);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* the surviving ranks wait here until the abort ends them */
    printf("survived\n");
    dpt_dist_finalize();
    return 0;
}

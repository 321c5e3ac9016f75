/* dptrain entry point: dispatches the subcommands; --help and --version need no MPI. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "parallel/dist.h"
#include "parallel/signals.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: dptrain <command> [options]\n"
            "\n"
            "commands:\n"
            "  train CONFIG [--set key.path=value]...   train a model described by a YAML file\n"
            "  evaluate MODEL DATA [--decode greedy|beam:K]\n"
            "                                           loss and metrics of a model on HDF5 data\n"
            "                                           (and exact matches of decoded sequences)\n"
            "  predict MODEL DATA OUT.h5 [--output-layer NAME]\n"
            "                                           write the model's predictions (or the\n"
            "                                           outputs of the named layer)\n"
            "  import csv|idx|npy|images|text INPUT... OUT.h5\n"
            "                                           convert data files to HDF5 data\n"
            "  generate MODEL --prompt TEXT [--length N] [--temperature T] [--seed S] [--beam K]\n"
            "                                           text from a language model, or the answer\n"
            "                                           of an encoder-decoder\n"
            "\n"
            "options:\n"
            "  -h, --help       this help\n"
            "  -V, --version    print the version\n"
            "\n"
            "Run under mpirun/srun for data parallelism; each rank trains on its part of every\n"
            "global batch.  Exit codes: 0 success, 1 error (bad input or failure), 2 usage.\n"
            "Documentation: README.md and docs/ in the source tree.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return DPT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return DPT_EXIT_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("dptrain %s\n", DPT_VERSION);
        return DPT_EXIT_OK;
    }
    int (*run)(int, char **) = NULL;
    if (!strcmp(cmd, "train")) run = dpt_cmd_train;
    if (!strcmp(cmd, "evaluate")) run = dpt_cmd_evaluate;
    if (!strcmp(cmd, "predict")) run = dpt_cmd_predict;
    if (!strcmp(cmd, "import")) run = dpt_cmd_import;
    if (!strcmp(cmd, "generate")) run = dpt_cmd_generate;
    if (!run) {
        fprintf(stderr, "dptrain: unknown command '%s'\n\n", cmd);
        usage(stderr);
        return DPT_EXIT_USAGE;
    }
    /* A stop signal during start-up (MPI_Init can take a second) becomes a stop request too
     * instead of killing this rank; train installs the handlers again after MPI_Init. */
    if (run == dpt_cmd_train) dpt_signals_install();
    dpt_dist_init(&argc, &argv);
    int rc = run(argc - 1, argv + 1);
    dpt_dist_finalize();
    return rc;
}

/* dpt_mkdata's sequence-to-sequence task data (tools/mkdata_seq2seq.c): `addition` (Keras'
 * "a+b" example) and `reverse` (a token sequence reversed), as token ids with a character
 * vocabulary (io/vocab.h), in the encoder-decoder forms described in docs/data.md. */
#ifndef DPT_MKDATA_SEQ2SEQ_H
#define DPT_MKDATA_SEQ2SEQ_H

#include <stdbool.h>

/* Usage lines for dpt_mkdata's usage text. */
#define DPT_MKDATA_SEQ2SEQ_USAGE                                                                   \
    "       dpt_mkdata addition TRAIN.h5 TEST.h5 [--n 50000] [--test-n 5000] [--digits 3]\n"       \
    "                                             [--seed 1]\n"                                    \
    "       dpt_mkdata reverse TRAIN.h5 TEST.h5 [--n 20000] [--test-n 2000] [--min-len 10]\n"      \
    "                                            [--max-len 40] [--tokens 20] [--seed 1]\n"

/* cmd is one of the subcommands here. */
bool dpt_mkdata_is_seq2seq(const char *cmd);
/* Runs `dpt_mkdata CMD ARGS...` (argv[1] = CMD); returns the exit status (0, 1 error, 2 usage),
 * messages printed to stderr. */
int dpt_mkdata_seq2seq(int argc, char **argv);

#endif

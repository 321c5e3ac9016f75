/* Pre-trained vectors for embedding tables (the layer key `weights`, docs/text.md): a NumPy .npy
 * (V, D) array whose row i is token id i, or a GloVe / word2vec text file ("token v1 ... vD" per
 * line, an optional word2vec header "count dim") matched by token string against the vocabulary
 * of the training data file (its dataset `vocab`).  Loaded over the initialised table on a fresh
 * run only: a checkpoint holds the trained table. */
#ifndef DPT_EMBED_WEIGHTS_H
#define DPT_EMBED_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

/* Loads the file named by the `weights` key of every layer that has one into its first tensor
 * (V, D) and prints one line per layer on rank 0: "embedding 'emb': 9,812 of 10,000 tokens from
 * glove.txt".  vocab_h5: the HDF5 file holding the vocabulary (the training data), or NULL (then
 * only .npy files can be loaded).  Every rank reads the files itself and gets the same table.
 * Returns the number of layers loaded (0 when none names a file), or -1 with a message naming
 * the file (and line), the layer and what was expected. */
int dpt_embedding_load_weights(dpt_model *m, const char *vocab_h5, char *err, size_t errlen);

/* One layer: loads path into l->params (V, D); *found = the rows taken from the file (tokens of
 * the vocabulary the file has; the others keep their initialised vectors).  The padding_id row
 * is zeroed again afterwards: it stays zero.  Returns 0, or -1 with a message. */
int dpt_embedding_load_layer(dpt_layer *l, const char *path, const char *vocab_h5, int64_t *found,
                             char *err, size_t errlen);

#endif

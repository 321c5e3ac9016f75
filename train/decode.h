/* Autoregressive decoding with a trained model (docs/text.md): a model whose output keeps the
 * time axis of one of its int32 inputs — a language model, or the decoder of an encoder–decoder
 * trained with teacher forcing — produces that input's tokens one step at a time, the token
 * chosen at step t becoming the input at step t + 1.  Each step reruns the model on the rows
 * (the recurrent layers start from scratch), so any graph decodes this way, attention
 * included; the cost is one forward pass per generated step. */
#ifndef DPT_TRAIN_DECODE_H
#define DPT_TRAIN_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"
#include "core/rng.h"

typedef struct dpt_decode_opts {
    float temperature; /* 0: greedy (the largest logit); > 0: sampled from softmax(logit / T) */
    int end_id;        /* a row stops after emitting this token; -1 = never */
    int beam;          /* beam width for dpt_decode_beam (>= 1) */
} dpt_decode_opts;

/* The model input the output feeds back into: the int32 input whose time axis the output keeps
 * (core/model.h len_origin), with as many steps as the output; -1 when there is none (a model
 * that makes its output sequence by itself, e.g. encoder -> repeat -> decoder: its per-step
 * argmax is already the decoding). */
int dpt_decode_input(const dpt_model *m);

/* The token for one step's logits (V): greedy, or sampled with rng. */
int32_t dpt_decode_pick(const float *logits, int V, const dpt_decode_opts *o, dpt_rng *rng);

/* Greedy or sampled decoding of B <= m->max_batch rows: x (B, in_width) packed rows as the model
 * takes them, whose input k = dpt_decode_input(m) holds the first token (<start>) at step 0;
 * steps 1.. of input k are overwritten with the tokens chosen.  lengths (B, ninputs) as the data
 * gives them (NULL: all full); input k's column is set per step.  out (B, T) gets the token
 * chosen at each output step, and 0 after a row's end_id; out_len (B) how many tokens each row
 * emitted (its end_id included).  rng: for sampling (NULL when greedy). */
void dpt_decode_rows(dpt_model *m, void *x, int32_t *lengths, int B, const dpt_decode_opts *o,
                     dpt_rng *rng, int32_t *out, int32_t *out_len);

/* Beam search of width o->beam for ONE row (the model must take B >= beam rows): x1 (in_width)
 * and lengths1 (ninputs, or NULL) as above.  The hypothesis of the highest total log
 * probability wins (one that ended with end_id, or ran to T).  out (T), returns its length. */
int dpt_decode_beam(dpt_model *m, const void *x1, const int32_t *lengths1, const dpt_decode_opts *o,
                    int32_t *out);

/* Whether the decoded tokens (T per row, n_out valid) equal the targets' valid steps: y (T) and
 * its length y_len (T when the targets have no lengths). */
bool dpt_decode_exact(const int32_t *tokens, int n_out, const int32_t *y, int y_len);

#endif

/* What the trainer's units share and nobody else calls: the set-up in train/trainer.c, the loop
 * in train/loop.c, checkpoints in train/ckpt.c.  Private to train/. */
#ifndef DPT_TRAIN_INTERNAL_H
#define DPT_TRAIN_INTERNAL_H

typedef struct dpt_trainer dpt_trainer; /* train/trainer.h */

/* train/ckpt.c */
/* options.resume: checks the checkpoint's model config against the current one (fatal on a
 * difference, report of changed training keys), then loads parameters, optimizer state, norms
 * and t->state.  Needs the model built and the optimizer initialised. */
void dpt_trainer_resume(dpt_trainer *t);
/* Rank 0 writes a checkpoint of the current state (fatal on failure) and calls on_checkpoint;
 * why says what asked for it. */
void dpt_trainer_checkpoint(dpt_trainer *t, const char *why);

/* train/trainer.c: appends the trace events recorded since the last call to this rank's trace
 * file (output.trace), and closes it at the end. */
void dpt_trainer_write_trace(dpt_trainer *t);
void dpt_trainer_close_trace(dpt_trainer *t);

#endif

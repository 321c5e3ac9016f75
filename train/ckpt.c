/* Checkpoints of a training run and resuming from one (options.resume: PATH or latest).  Rank 0
 * writes; every rank reads.  Exact resume needs no more state than dpt_train_state: the data order
 * and the dropout masks are functions of (seed, epoch, step, sample id). */
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "io/h5lock.h"
#include "parallel/dist.h"
#include "train/internal.h"
#include "train/trainer.h"

void dpt_trainer_checkpoint(dpt_trainer *r, const char *why) {
    r->state.world_size = dpt_world.size;
    r->state.threads = r->threads;
    if (dpt_world.rank == 0) {
        char err[1024], path[DPT_PATH_MAX + 64];
        double t0 = dpt_now_s();
        dpt_h5_lock(); /* the streaming thread may be reading */
        int rc = dpt_ckpt_write(r->cfg.ckpt_dir, r->cfg.ckpt_keep, &r->model, &r->optim, &r->state,
                                &r->cfg, &r->xnorm, &r->ynorm, path, sizeof path, err, sizeof err);
        dpt_h5_unlock();
        if (rc) dpt_fatal("checkpoint at step %lld failed: %s", (long long)r->state.step, err);
        r->last_ckpt = dpt_now_s();
        dpt_train_ckpt_report rep = {why, path, r->state.step, r->last_ckpt - t0};
        if (r->hooks.on_checkpoint) r->hooks.on_checkpoint(r->hooks.arg, r, &rep);
    }
}

/* Refuses a checkpoint of another model; reports changed training-only keys.  Returns the
 * checkpoint's batch size. */
static int compare_configs(const dpt_trainer *r, const char *path) {
    char err[1024], msg[1024];
    dpt_config stored;
    if (dpt_ckpt_read_config(path, &stored, err, sizeof err)) dpt_fatal("--resume: %s", err);
    if (dpt_config_model_diff(&stored, &r->cfg, msg, sizeof msg))
        dpt_fatal("--resume %s: the checkpoint holds a different model than %s: %s", path,
                  r->cfg.source, msg);
    if (dpt_config_training_diff(&stored, &r->cfg, msg, sizeof msg) > 0)
        dpt_log0("resume: training settings changed since the checkpoint: %s\n", msg);
    int batch = stored.batch_size;
    dpt_config_free(&stored);
    return batch;
}

void dpt_trainer_resume(dpt_trainer *r) {
    char err[1024], path[DPT_PATH_MAX + 64];
    if (dpt_ckpt_resolve(r->resume, r->cfg.ckpt_dir, path, sizeof path, err, sizeof err))
        dpt_fatal("--resume %s: %s", r->resume, err);
    int batch = compare_configs(r, path);
    if (dpt_ckpt_read(path, &r->model, &r->optim, &r->state, &r->xnorm, &r->ynorm, err, sizeof err))
        dpt_fatal("--resume: %s", err);
    /* The position inside an epoch is counted in global batches of the old size. */
    if (batch != r->cfg.batch_size && r->state.epoch_step > 0)
        dpt_fatal("--resume %s: the checkpoint is %lld steps into epoch %d with batches of %d; "
                  "a different training.batch_size (%d) can only take over at an epoch boundary",
                  path, (long long)r->state.epoch_step, r->state.epoch + 1, batch,
                  r->cfg.batch_size);
    dpt_dist_check_model(&r->model); /* every rank read the same parameters */
    if (r->state.epoch > r->cfg.epochs)
        dpt_fatal("--resume %s: the checkpoint is at epoch %d, beyond training.epochs = %d", path,
                  r->state.epoch + 1, r->cfg.epochs);
    dpt_log0("resumed from %s: step %lld, epoch %d, %lld steps into it (written by %d rank(s) x "
             "%d thread(s))\n",
             path, (long long)r->state.step, r->state.epoch + 1, (long long)r->state.epoch_step,
             r->state.world_size, r->state.threads);
}

/* Optimizers, gradient clipping and learning-rate schedules on the flat parameter buffer.
 * Every rank runs the same update on the same (allreduced) gradients. */
#ifndef DPT_OPTIM_H
#define DPT_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dpt_optim_spec {
    char name[16];      /* sgd, momentum, nesterov, rmsprop, adam, adamw */
    float lr;           /* > 0 */
    float momentum;     /* momentum/nesterov (and sgd with momentum > 0), default 0.9 */
    float rho;          /* rmsprop decay, default 0.9 */
    float beta1, beta2; /* adam/adamw, defaults 0.9, 0.999 */
    float eps;          /* rmsprop 1e-7, adam 1e-7 (Keras); added outside the square root */
    float weight_decay; /* adamw decoupled decay, default 0.01 */
    bool nesterov;      /* sgd/momentum with nesterov: true for "nesterov" */
} dpt_optim_spec;

/* Fills the defaults for opt->name (lr 0.01 for sgd/momentum/nesterov, 0.001 otherwise). */
void dpt_optim_spec_defaults(dpt_optim_spec *s, const char *name);
const char *const *dpt_optim_names(void);

/* Whether optimizer `name` reads hyper-parameter `key` ("lr", "momentum", ..., as in
 * dpt_optim_spec; "name" always): the config refuses keys an optimizer ignores. */
bool dpt_optim_uses(const char *name, const char *key);

/* Update rules, with g the gradient, t the step count starting at 1:
 *   sgd:       w -= lr g
 *   momentum:  v = mu v + g;  w -= lr v                  (PyTorch form)
 *   nesterov:  v = mu v + g;  w -= lr (g + mu v)
 *   rmsprop:   s = rho s + (1 - rho) g^2;  w -= lr g / (sqrt(s) + eps)
 *   adam:      m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *              w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *   adamw:     w -= lr wd w, then the adam update */
typedef struct dpt_optim {
    dpt_optim_spec spec;
    size_t n;
    float *m;  /* (n) momentum / rmsprop square average / adam first moment */
    float *v;  /* (n) adam second moment, NULL otherwise */
    int64_t t; /* steps taken */
} dpt_optim;

/* Returns 0 or -1 with a message for an unknown name or an out-of-range value. */
int dpt_optim_init(dpt_optim *o, const dpt_optim_spec *s, size_t n, char *err, size_t errlen);
void dpt_optim_free(dpt_optim *o);
/* One update of params (n) with grads (n) at learning rate lr. */
void dpt_optim_step(dpt_optim *o, float *params, const float *grads, float lr);
/* The same with the gradient grads * gscale (each element multiplied first, so gscale 1 is
 * dpt_optim_step): the step folds the batch average in, one pass over the gradients less. */
void dpt_optim_step_scaled(dpt_optim *o, float *params, const float *grads, float gscale, float lr);

/* L2 norm of g (n), accumulated in double. */
double dpt_grad_norm(const float *g, size_t n);
/* g *= scale, then its global norm as dpt_grad_norm computes it (same chunks, same order), in
 * one pass over memory: the step's averaging and norm together. */
double dpt_scale_grad_norm(float *g, size_t n, float scale);
/* Scales g by max_norm / norm when norm > max_norm. */
void dpt_clip_by_norm(float *g, size_t n, double norm, float max_norm);
/* Clamps every element to [-v, v]. */
void dpt_clip_by_value(float *g, size_t n, float v);
/* Index of the first non-finite element of g (n), or -1. */
int64_t dpt_first_nonfinite(const float *g, size_t n);

typedef struct dpt_schedule {
    char name[16]; /* constant, step, cosine */
    float base_lr;
    int warmup_steps;    /* linear warm-up from 0 over this many steps (0 = none) */
    int step_epochs;     /* step: multiply by gamma every step_epochs epochs */
    float gamma;         /* step: factor, default 0.1 */
    float min_lr;        /* cosine: final lr, default 0 */
    int64_t total_steps; /* cosine: steps of the whole run */
    int64_t steps_per_epoch;
} dpt_schedule;

const char *const *dpt_schedule_names(void);
/* Whether schedule `name` reads `key` ("warmup_steps", "step_epochs", "gamma", "min_lr"; "name"
 * always). */
bool dpt_schedule_uses(const char *name, const char *key);
/* Learning rate for optimizer step `step` (0-based). */
float dpt_schedule_lr(const dpt_schedule *s, int64_t step);

#endif

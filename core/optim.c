/* Optimizers (one flat loop per update rule over the whole parameter buffer), gradient clipping,
 * the non-finite check, and learning-rate schedules.  Every rank runs this on identical, already
 * allreduced gradients, so every rank ends the step with identical parameters. */
#include "core/optim.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Below this many elements a loop runs on one thread: the fork/join costs more than it saves.
 * The clauses say `if (parallel : ...)`: a bare `if` on `parallel for simd` also applies to the
 * simd part (OpenMP 5.0), and GCC then runs small loops unvectorised, 4-5x slower. */
#define PAR_MIN 65536

static const char *const optim_names[] = {"sgd",  "momentum", "nesterov", "rmsprop",
                                          "adam", "adamw",    NULL};

typedef enum { RULE_SGD, RULE_MOMENTUM, RULE_NESTEROV, RULE_RMSPROP, RULE_ADAM, RULE_ADAMW } rule;

const char *const *dpt_optim_names(void) {
    return optim_names;
}

static bool is_name(const char *a, const char *b) {
    return strcmp(a, b) == 0;
}

static bool known_optim(const char *name) {
    for (const char *const *p = optim_names; *p; p++)
        if (is_name(*p, name)) return true;
    return false;
}

/* sgd, momentum and nesterov are one family: the momentum value and the nesterov flag pick the
 * rule, so "sgd" with momentum 0.9 in the config behaves exactly like "momentum". */
static rule rule_of(const dpt_optim_spec *s) {
    if (is_name(s->name, "rmsprop")) return RULE_RMSPROP;
    if (is_name(s->name, "adam")) return RULE_ADAM;
    if (is_name(s->name, "adamw")) return RULE_ADAMW;
    if (is_name(s->name, "sgd") && s->momentum == 0.0f) return RULE_SGD;
    return s->nesterov ? RULE_NESTEROV : RULE_MOMENTUM;
}

/* The hyper-parameters each algorithm reads, as space-separated key names: the config refuses
 * the others and a resume lists changes of these only.  "name" belongs to every one. */
typedef struct used_keys {
    const char *name;
    const char *keys;
} used_keys;

static const used_keys optim_used[] = {
    {"sgd", "lr momentum"},         {"momentum", "lr momentum"},
    {"nesterov", "lr momentum"},    {"rmsprop", "lr rho eps"},
    {"adam", "lr beta1 beta2 eps"}, {"adamw", "lr beta1 beta2 eps weight_decay"},
};
static const used_keys schedule_used[] = {
    {"constant", "warmup_steps"},
    {"step", "warmup_steps step_epochs gamma"},
    {"cosine", "warmup_steps min_lr"},
};

/* Whether key is a word of the keys of name in table (n); an unknown name uses every key. */
static bool uses(const used_keys *table, size_t n, const char *name, const char *key) {
    if (is_name(key, "name")) return true;
    for (size_t i = 0; i < n; i++) {
        if (!is_name(table[i].name, name)) continue;
        size_t len = strlen(key);
        for (const char *p = table[i].keys; (p = strstr(p, key)); p += len)
            if ((p == table[i].keys || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
                return true;
        return false;
    }
    return true;
}

bool dpt_optim_uses(const char *name, const char *key) {
    return uses(optim_used, sizeof optim_used / sizeof optim_used[0], name, key);
}

bool dpt_schedule_uses(const char *name, const char *key) {
    return uses(schedule_used, sizeof schedule_used / sizeof schedule_used[0], name, key);
}

void dpt_optim_spec_defaults(dpt_optim_spec *s, const char *name) {
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    bool sgd_family =
        is_name(name, "sgd") || is_name(name, "momentum") || is_name(name, "nesterov");
    s->lr = sgd_family ? 0.01f : 1e-3f;
    s->momentum = (is_name(name, "momentum") || is_name(name, "nesterov")) ? 0.9f : 0.0f;
    s->nesterov = is_name(name, "nesterov");
    s->rho = 0.9f;
    s->beta1 = 0.9f;
    s->beta2 = 0.999f;
    s->eps = 1e-7f;
    s->weight_decay = is_name(name, "adamw") ? 0.01f : 0.0f;
}

/* Checks lo <= x < hi (lo_open: lo < x); NaN fails every comparison, so it is rejected too. */
static int check_range(const char *key, float x, float lo, bool lo_open, float hi, char *err,
                       size_t errlen) {
    bool ok = (lo_open ? x > lo : x >= lo) && x < hi;
    if (ok) return 0;
    if (isinf(hi))
        return dpt_err(err, errlen, "optimizer.%s: expected a number %s %g, got %g", key,
                       lo_open ? ">" : ">=", (double)lo, (double)x);
    return dpt_err(err, errlen, "optimizer.%s: expected a number in %c%g, %g), got %g", key,
                   lo_open ? '(' : '[', (double)lo, (double)hi, (double)x);
}

static int unknown_name(const char *name, char *err, size_t errlen) {
    char list[128] = ""; /* "sgd, momentum, ..." built from the registry so it cannot go stale */
    for (const char *const *p = optim_names; *p; p++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", *p);
    }
    return dpt_err(err, errlen, "optimizer.name: unknown optimizer '%s' (expected one of: %s)",
                   name, list);
}

/* Only the keys the chosen rule uses are checked: the others are never read. */
static int validate(const dpt_optim_spec *s, char *err, size_t errlen) {
    if (!known_optim(s->name)) return unknown_name(s->name, err, errlen);
    if (check_range("lr", s->lr, 0, true, INFINITY, err, errlen)) return -1;
    switch (rule_of(s)) {
    case RULE_SGD:
    case RULE_MOMENTUM:
    case RULE_NESTEROV:
        return check_range("momentum", s->momentum, 0, false, 1, err, errlen);
    case RULE_RMSPROP:
        if (check_range("rho", s->rho, 0, false, 1, err, errlen)) return -1;
        return check_range("eps", s->eps, 0, true, INFINITY, err, errlen);
    case RULE_ADAM:
    case RULE_ADAMW:
        break;
    }
    if (check_range("beta1", s->beta1, 0, false, 1, err, errlen) ||
        check_range("beta2", s->beta2, 0, false, 1, err, errlen) ||
        check_range("eps", s->eps, 0, true, INFINITY, err, errlen))
        return -1;
    return check_range("weight_decay", s->weight_decay, 0, false, INFINITY, err, errlen);
}

int dpt_optim_init(dpt_optim *o, const dpt_optim_spec *s, size_t n, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    if (validate(s, err, errlen)) return -1;
    o->spec = *s;
    o->n = n;
    rule r = rule_of(s);
    size_t alloc = n > 0 ? n : 1; /* a model without parameters still gets valid pointers */
    if (r != RULE_SGD) o->m = dpt_alloc_floats(alloc);
    if (r == RULE_ADAM || r == RULE_ADAMW) o->v = dpt_alloc_floats(alloc);
    return 0;
}

void dpt_optim_free(dpt_optim *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

/* Optimizer state of a parameter whose gradient stays 0 (a dead ReLU unit) decays geometrically
 * into the subnormal range and then sticks there: rho * s rounds back to s for the smallest
 * subnormals (0.9 * 4 ulp = 3.6 ulp -> 4 ulp).  Subnormal arithmetic takes a slow microcode path on
 * x86, so such states made a long RMSProp run several times slower (bench_train, boston-mlp).
 * Values below FLT_MIN (1.2e-38) cannot change any update, so they are flushed to 0 when stored. */
static inline float flush(float x) {
    return fabsf(x) < FLT_MIN ? 0.0f : x;
}

/* The update loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time
 * (Debian builds for baseline x86-64, where sqrt and division go 4 lanes at a time; RMSProp on
 * boston-mlp's 26625 parameters took 40 us).  Each element's arithmetic is the same in every
 * clone (no contraction into FMA: -std=c17), so the parameters are bit-identical whatever the
 * CPU.  Each thread updates one contiguous range. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* This thread's part [*lo, *hi) of n elements (inside a parallel region, or all of it). */
static void thread_range(size_t n, size_t *lo, size_t *hi) {
    size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* Each rule reads the gradient as g[i] * gs (the step's 1/batch folded in; gs 1 is exact). */
CLONES static void sgd_range(size_t lo, size_t hi, float *restrict w, const float *restrict g,
                             float gs, float lr) {
#pragma omp simd
    for (size_t i = lo; i < hi; i++) w[i] -= lr * (g[i] * gs);
}

/* PyTorch form: the velocity accumulates raw gradients and lr scales the whole step;
 * Nesterov's look-ahead adds mu * v to the gradient. */
CLONES static void momentum_range(size_t lo, size_t hi, float *restrict w, const float *restrict g,
                                  float gs, float *restrict v, float lr, float mu, bool nesterov) {
    if (nesterov) {
#pragma omp simd
        for (size_t i = lo; i < hi; i++) {
            float gi = g[i] * gs;
            v[i] = flush(mu * v[i] + gi);
            w[i] -= lr * (gi + mu * v[i]);
        }
        return;
    }
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        v[i] = flush(mu * v[i] + g[i] * gs);
        w[i] -= lr * v[i];
    }
}

/* Keras form: eps is added outside the square root. */
CLONES static void rmsprop_range(size_t lo, size_t hi, float *restrict w, const float *restrict g,
                                 float gs, float *restrict s, float lr, float rho, float eps) {
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float gi = g[i] * gs;
        s[i] = flush(rho * s[i] + (1.0f - rho) * gi * gi);
        w[i] -= lr * gi / (sqrtf(s[i]) + eps);
    }
}

/* Adam's scalars for one step: c1, c2 the bias corrections; decay = lr * wd for adamw, 0 for
 * adam. */
typedef struct adam_k {
    float b1, b2, eps, c1, c2, lr, decay, gs;
} adam_k;

CLONES static void adam_range(size_t lo, size_t hi, float *restrict w, const float *restrict g,
                              float *restrict m, float *restrict v, adam_k k) {
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float gi = g[i] * k.gs;
        w[i] -= k.decay * w[i];
        m[i] = flush(k.b1 * m[i] + (1.0f - k.b1) * gi);
        v[i] = flush(k.b2 * v[i] + (1.0f - k.b2) * gi * gi);
        w[i] -= k.lr * (m[i] * k.c1) / (sqrtf(v[i] * k.c2) + k.eps);
    }
}

/* Bias corrections are computed once per step in double (t can be large: b2^t underflows
 * gracefully to 0 and the correction tends to 1). */
static void step_adam(dpt_optim *o, float *w /* (n) */, const float *g /* (n) */, float gs,
                      float lr, float decay) {
    float b1 = o->spec.beta1, b2 = o->spec.beta2;
    adam_k k = {b1,
                b2,
                o->spec.eps,
                (float)(1.0 / (1.0 - pow((double)b1, (double)o->t))),
                (float)(1.0 / (1.0 - pow((double)b2, (double)o->t))),
                lr,
                decay,
                gs};
    size_t n = o->n;
#pragma omp parallel if (n > PAR_MIN)
    {
        size_t lo, hi;
        thread_range(n, &lo, &hi);
        adam_range(lo, hi, w, g, o->m, o->v, k);
    }
}

void dpt_optim_step(dpt_optim *o, float *params, const float *grads, float lr) {
    dpt_optim_step_scaled(o, params, grads, 1.0f, lr);
}

void dpt_optim_step_scaled(dpt_optim *o, float *params, const float *grads, float gs, float lr) {
    o->t++;
    const dpt_optim_spec *s = &o->spec;
    rule r = rule_of(s);
    if (r == RULE_ADAM || r == RULE_ADAMW) {
        step_adam(o, params, grads, gs, lr, r == RULE_ADAMW ? lr * s->weight_decay : 0.0f);
        return;
    }
    size_t n = o->n;
#pragma omp parallel if (n > PAR_MIN)
    {
        size_t lo, hi;
        thread_range(n, &lo, &hi);
        if (r == RULE_SGD)
            sgd_range(lo, hi, params, grads, gs, lr);
        else if (r == RULE_RMSPROP)
            rmsprop_range(lo, hi, params, grads, gs, o->m, lr, s->rho, s->eps);
        else
            momentum_range(lo, hi, params, grads, gs, o->m, lr, s->momentum, r == RULE_NESTEROV);
    }
}

/* ---- clipping and checks ---- */

/* Fixed-size chunks, independent of the thread count: the partial sums and the order in which
 * they are added are the same however many threads a rank runs, so ranks with different thread
 * counts still compute bit-identical norms and take the same clipping decision. */
#define CHUNK            4096
#define CHUNKS_PER_ROUND 256

/* Eight running sums, element i into sum i % 8, added in order at the end: the same bits on
 * every CPU whatever its vector width (a float times a float is exact in double, so a fused
 * multiply-add rounds as the separate add does). */
CLONES static double sumsq_chunk(const float *g /* (n) */, size_t n) {
    double lane[8] = {0};
    size_t n8 = n / 8 * 8;
    for (size_t i = 0; i < n8; i += 8)
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++) lane[l] += (double)g[i + l] * (double)g[i + l];
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += lane[l];
    for (size_t i = n8; i < n; i++) s += (double)g[i] * (double)g[i];
    return s;
}

/* One chunk: scaled in place (unless scale is 1), then its sum of squares, while in cache. */
static double scale_sumsq_chunk(float *g /* (n) */, size_t n, float scale) {
    if (scale != 1.0f) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) g[i] *= scale;
    }
    return sumsq_chunk(g, n);
}

double dpt_scale_grad_norm(float *g, size_t n, float scale) {
    double total = 0.0;
    for (size_t base = 0; base < n; base += (size_t)CHUNK * CHUNKS_PER_ROUND) {
        double part[CHUNKS_PER_ROUND] = {0}; /* (CHUNKS_PER_ROUND) sum of squares per chunk */
        size_t left = n - base;
        size_t nchunks = (left + CHUNK - 1) / CHUNK;
        if (nchunks > CHUNKS_PER_ROUND) nchunks = CHUNKS_PER_ROUND;
#pragma omp parallel for schedule(static) if (parallel : left > PAR_MIN)
        for (size_t c = 0; c < nchunks; c++) {
            size_t lo = base + c * CHUNK;
            size_t len = n - lo < CHUNK ? n - lo : CHUNK;
            part[c] = scale_sumsq_chunk(g + lo, len, scale);
        }
        for (size_t c = 0; c < nchunks; c++) total += part[c];
    }
    return sqrt(total);
}

double dpt_grad_norm(const float *g, size_t n) {
    return dpt_scale_grad_norm((float *)g, n, 1.0f); /* scale 1: g is only read */
}

/* A NaN norm compares false and leaves g as it is, so the non-finite check still sees it. */
void dpt_clip_by_norm(float *g, size_t n, double norm, float max_norm) {
    if (!(norm > (double)max_norm) || !(max_norm > 0.0f)) return;
    float scale = (float)((double)max_norm / norm);
#pragma omp parallel for simd schedule(static) if (parallel : n > PAR_MIN)
    for (size_t i = 0; i < n; i++) g[i] *= scale;
}

/* Comparisons instead of fminf/fmaxf: those would turn a NaN into +-v and hide it from the
 * non-finite check that runs after clipping. */
void dpt_clip_by_value(float *g, size_t n, float v) {
#pragma omp parallel for simd schedule(static) if (parallel : n > PAR_MIN)
    for (size_t i = 0; i < n; i++) g[i] = g[i] > v ? v : (g[i] < -v ? -v : g[i]);
}

/* Non-finite floats are exactly those with all exponent bits set. */
static int nonfinite_in(const float *g /* (n) */, size_t n) {
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &g[i], sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return bad;
}

/* Branch-free scan of whole chunks (vectorises), then an exact search inside the first bad one. */
int64_t dpt_first_nonfinite(const float *g, size_t n) {
    for (size_t lo = 0; lo < n; lo += CHUNK) {
        size_t len = n - lo < CHUNK ? n - lo : CHUNK;
        if (!nonfinite_in(g + lo, len)) continue;
        for (size_t i = lo; i < lo + len; i++)
            if (!isfinite(g[i])) return (int64_t)i;
    }
    return -1;
}

/* ---- learning-rate schedules ---- */

static float constant(const dpt_schedule *s, int64_t step) {
    (void)step;
    return s->base_lr;
}

static float step_decay(const dpt_schedule *s, int64_t step) {
    if (s->step_epochs <= 0) return s->base_lr;
    int64_t per_epoch = s->steps_per_epoch > 0 ? s->steps_per_epoch : 1;
    int64_t decays = step / per_epoch / s->step_epochs; /* whole epochs, then whole periods */
    return s->base_lr * (float)pow((double)s->gamma, (double)decays);
}

static float cosine(const dpt_schedule *s, int64_t step) {
    if (s->total_steps <= 0) return s->base_lr;
    int64_t t = step < s->total_steps ? step : s->total_steps;
    const double pi = 3.14159265358979323846;
    double c = 0.5 * (1.0 + cos(pi * (double)t / (double)s->total_steps));
    return (float)((double)s->min_lr + (double)(s->base_lr - s->min_lr) * c);
}

/* The registry, one row per schedule: the table and the name list are both generated from it. */
#define SCHEDULES(X)                                                                               \
    X("constant", constant)                                                                        \
    X("step", step_decay)                                                                          \
    X("cosine", cosine)
#define SCHEDULE_ROW(name, lr) {name, lr},
#define NAME(name, ...)        name,

static const struct {
    const char *name;
    float (*lr)(const dpt_schedule *s, int64_t step); /* after warm-up */
} schedules[] = {SCHEDULES(SCHEDULE_ROW)};
static const char *const schedule_names[] = {SCHEDULES(NAME) NULL};
#define NSCHEDULE (sizeof schedules / sizeof schedules[0])

const char *const *dpt_schedule_names(void) {
    return schedule_names;
}

/* Warm-up ramps linearly towards base_lr: step k < warmup_steps uses base (k + 1) / warmup, so
 * the very first step already learns (a ramp starting at exactly 0 would waste it) and the last
 * warm-up step uses base_lr.  After warm-up the schedule runs on the global step count. */
float dpt_schedule_lr(const dpt_schedule *s, int64_t step) {
    if (step < s->warmup_steps) return s->base_lr * (float)(step + 1) / (float)s->warmup_steps;
    for (size_t i = 0; i < NSCHEDULE; i++)
        if (is_name(s->name, schedules[i].name)) return schedules[i].lr(s, step);
    DPT_ASSERT(s->name[0] == '\0'); /* no name: constant; unknown names never get this far */
    return constant(s, step);
}

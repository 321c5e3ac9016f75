/* The trainer's stop and non-finite policies: a stop requested on one rank stops every rank
 * after the same step, with a checkpoint of that step; a non-finite step with
 * training.on_nonfinite: skip leaves parameters and optimizer state bitwise unchanged and
 * training goes on.  Run at 1, 2 and 4 ranks. */
#include "trainer_fixture.h"

#include "io/checkpoint.h"

enum { STOP_AT = 7 };

/* on_step: the last rank alone asks to stop once STOP_AT - 1 steps are done. */
static bool request_on_last_rank(void *arg, const dpt_trainer *t, const dpt_train_step_report *r) {
    (void)arg;
    (void)t;
    return dpt_world.rank == dpt_world.size - 1 && r->step == STOP_AT - 1;
}

static void stop_on_one_rank_stops_every_rank(void) {
    const char *sets[] = {"checkpoint.every_epochs=0"};
    dpt_train_hooks h = {.on_step = request_on_last_rank};
    fix_snapshot snap;
    CHECK(fix_run(fix_path("data.h5"), fix_path("stop"), sets, 1, NULL, &h, &snap) ==
          DPT_EXIT_STOPPED);
    int64_t lo = snap.state.step, hi = snap.state.step;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    CHECK(lo == STOP_AT && hi == STOP_AT);
    /* The checkpoint holds step STOP_AT: the only one written, and what a resume starts from. */
    char path[512], err[1024] = "", want[64];
    snprintf(path, sizeof path, "%s/checkpoints", fix_path("stop"));
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    CHECK_MSG(dpt_ckpt_resolve("latest", dir, path, sizeof path, err, sizeof err) == 0, err);
    snprintf(want, sizeof want, "ckpt-%010d.h5", STOP_AT);
    CHECK_CONTAINS(path, want);
    dpt_config c;
    fix_config(&c, fix_path("data.h5"), fix_path("stop"), sets, 1);
    dpt_train_options o = {.resume = "latest"};
    dpt_trainer *t = dpt_trainer_create(&c, &o);
    CHECK(t->state.step == STOP_AT);
    CHECK(fix_same_floats(t->model.params, snap.params, snap.n));
    dpt_trainer_destroy(t);
    fix_drop(&snap);
}

/* on_step: every step's parameters and optimizer state; a skipped step must not change them. */
typedef struct watcher {
    fix_snapshot prev;
    int skipped;
} watcher;

static bool watch(void *arg, const dpt_trainer *t, const dpt_train_step_report *r) {
    watcher *w = arg;
    fix_snapshot now = fix_take(t);
    if (r->skipped) {
        w->skipped++;
        CHECK(fix_same_floats(now.params, w->prev.params, now.n));
        CHECK(fix_same_floats(now.m, w->prev.m, now.n));
        CHECK(fix_same_floats(now.v, w->prev.v, now.n));
        CHECK(now.opt_t == w->prev.opt_t && now.state.step == w->prev.state.step);
    } else {
        CHECK(!fix_same_floats(now.params, w->prev.params, now.n));
    }
    fix_drop(&w->prev);
    w->prev = now;
    return false;
}

static void nonfinite_skip_leaves_parameters_unchanged(void) {
    /* Targets as they are: the huge one would spread to every row through the statistics. */
    const char *sets[] = {"training.on_nonfinite=skip", "data.normalize_y=false"};
    dpt_config c;
    fix_config(&c, fix_path("huge.h5"), fix_path("nan"), sets, 2);
    watcher w = {0};
    dpt_train_options o = {.hooks = {.arg = &w, .on_step = watch}};
    dpt_trainer *t = dpt_trainer_create(&c, &o);
    w.prev = fix_take(t);
    CHECK(dpt_trainer_run(t) == DPT_EXIT_OK);
    CHECK(w.skipped == t->cfg.epochs); /* the huge row is in one step of every epoch */
    CHECK(t->state.epoch == t->cfg.epochs);
    for (size_t i = 0; i < t->model.nparams; i++) CHECK(isfinite(t->model.params[i]));
    dpt_dist_check_model(&t->model);
    dpt_trainer_destroy(t);
    fix_drop(&w.prev);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(fix_dir, sizeof fix_dir, "dpt-train-policies-");
    fix_write_data(fix_path("data.h5"), -1);
    fix_write_data(fix_path("huge.h5"), 5);
    RUN(stop_on_one_rank_stops_every_rank);
    RUN(nonfinite_skip_leaves_parameters_unchanged);
    dpt_dist_finalize();
    return 0;
}

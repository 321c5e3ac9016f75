/* The trainer's exact resume: E epochs in one run == k epochs, a checkpoint, a resumed run for
 * the rest, bit for bit (parameters, optimizer state, train state), in both data modes, stopped at
 * an epoch boundary and in the middle of an epoch, and resumed from a checkpoint that
 * checkpoint.every_steps wrote mid-epoch.  Run at 1, 2 and 4 ranks. */
#include "trainer_fixture.h"

#include "parallel/sampler.h"

/* on_step: rank `rank` asks to stop once `step - 1` steps are done, so the request rides step
 * `step`'s reduce and every rank stops after it. */
typedef struct stopper {
    int64_t step;
    int rank;
} stopper;

static bool stop_at(void *arg, const dpt_trainer *t, const dpt_train_step_report *r) {
    const stopper *s = arg;
    (void)t;
    return dpt_world.rank == s->rank && r->step == s->step - 1;
}

static int64_t steps_per_epoch(void) {
    dpt_sampler s;
    dpt_sampler_init(&s, FIX_N - FIX_N / 5, 8, dpt_world.rank, dpt_world.size);
    return s.steps;
}

/* Straight run against a run stopped after step `at` and resumed from "latest". */
static void stop_and_resume(const char *mode, int64_t at, const fix_snapshot *ref) {
    char out[64], set_mode[64];
    snprintf(out, sizeof out, "%s-stop%lld", mode, (long long)at);
    snprintf(set_mode, sizeof set_mode, "data.mode=%s", mode);
    const char *sets[] = {set_mode};
    stopper s = {at, dpt_world.size - 1};
    dpt_train_hooks h = {.arg = &s, .on_step = stop_at};
    fix_snapshot stopped, resumed;
    CHECK(fix_run(fix_path("data.h5"), fix_path(out), sets, 1, NULL, &h, &stopped) ==
          DPT_EXIT_STOPPED);
    CHECK(stopped.state.step == at);
    CHECK(fix_run(fix_path("data.h5"), fix_path(out), sets, 1, "latest", NULL, &resumed) ==
          DPT_EXIT_OK);
    CHECK(fix_same(ref, &resumed));
    fix_drop(&stopped);
    fix_drop(&resumed);
}

static void resume_is_exact(const char *mode) {
    char set_mode[64];
    snprintf(set_mode, sizeof set_mode, "data.mode=%s", mode);
    const char *sets[] = {set_mode};
    char out[64];
    snprintf(out, sizeof out, "%s-ref", mode);
    fix_snapshot ref;
    CHECK(fix_run(fix_path("data.h5"), fix_path(out), sets, 1, NULL, NULL, &ref) == DPT_EXIT_OK);
    int64_t steps = steps_per_epoch();
    CHECK(ref.state.step == 4 * steps && ref.state.epoch == 4);
    stop_and_resume(mode, 2 * steps, &ref); /* k = 2 epochs */
    stop_and_resume(mode, steps + 2, &ref); /* in the middle of the second epoch */
    fix_drop(&ref);
}

static void in_memory_resume_is_exact(void) {
    resume_is_exact("in_memory");
}

static void streaming_resume_is_exact(void) {
    resume_is_exact("streaming");
}

/* checkpoint.every_steps: writing checkpoints changes nothing, and a mid-epoch one resumes to
 * the same end. */
static void every_steps_checkpoint_resumes_exactly(void) {
    const char *plain[] = {"data.mode=in_memory"};
    const char *every[] = {"data.mode=in_memory", "checkpoint.every_steps=3"};
    fix_snapshot ref, with, resumed;
    CHECK(fix_run(fix_path("data.h5"), fix_path("plain"), plain, 1, NULL, NULL, &ref) ==
          DPT_EXIT_OK);
    CHECK(fix_run(fix_path("data.h5"), fix_path("every"), every, 2, NULL, NULL, &with) ==
          DPT_EXIT_OK);
    CHECK(fix_same(&ref, &with));
    int64_t steps = steps_per_epoch(), at = 3;
    while (at % steps == 0) at += 3; /* a checkpoint inside an epoch */
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoints/ckpt-%010lld.h5", fix_path("every"), (long long)at);
    CHECK(fix_run(fix_path("data.h5"), fix_path("every"), every, 2, ckpt, NULL, &resumed) ==
          DPT_EXIT_OK);
    CHECK(fix_same(&ref, &resumed));
    fix_drop(&ref);
    fix_drop(&with);
    fix_drop(&resumed);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    mpitest_tmpdir(fix_dir, sizeof fix_dir, "dpt-train-resume-");
    fix_write_data(fix_path("data.h5"), -1);
    RUN(in_memory_resume_is_exact);
    RUN(streaming_resume_is_exact);
    RUN(every_steps_checkpoint_resumes_exactly);
    dpt_dist_finalize();
    return 0;
}

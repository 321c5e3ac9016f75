#!/bin/bash
# The Slurm batch scripts in jobs/ against a real single-node Slurm, brought up for the test by
# slurm-up.sh and torn down by slurm-down.sh whatever happens (trap).  Each script is submitted
# with `sbatch --wait` on a small data set; its output file, exit code and model are checked:
#   threads      train-threads.sbatch: 1 rank x 2 threads
#   srun         train.sbatch: 2 ranks x 1 thread under srun --mpi=pmix
#   mpirun       train-mpirun.sbatch: 2 ranks x 1 thread, one core each (--report-bindings)
#   mpirun-pe    train-mpirun.sbatch with -n 1 -c 2: the rank gets both cores (slot:PE=2)
#   bad-config   a CONFIG that does not exist: exit code 2 and a message naming it
#   preempt      train-preemptible.sbatch: USR1 to the batch shell (what --signal=B:USR1@N
#                does) mid-run; dptrain checkpoints and exits 3, the job requeues itself, the
#                next run resumes from the checkpoint and writes the model
# Usage: run.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT [CASE...]   (default: all cases)
# Exit code 77 (skipped) when Slurm cannot run here: not root, no packages and no apt, fewer
# than 2 CPUs, or another Slurm already running.
. "$(dirname "$0")/../e2e/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(threads srun mpirun mpirun-pe bad-config preempt)
# Submit as a user would: ctest's thread and Open MPI settings must not leak into the jobs
# (sbatch exports the environment); each script sets what it needs.  (nproc obeys
# OMP_NUM_THREADS too.)
unset OMP_NUM_THREADS OMP_THREAD_LIMIT BLIS_NUM_THREADS OMPI_MCA_rmaps_base_oversubscribe \
    OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
[ "$(nproc)" -ge 2 ] || {
    echo "SKIP: the job scripts need 2 CPUs, this machine has $(nproc)"
    exit 77
}
e2e_init slurm

SLURM_DIR=$(mktemp -d /tmp/dpt-slurm.XXXXXX) || exit 2
teardown() {
    "$HERE/slurm-down.sh" "$SLURM_DIR" || true
    if [ "$NFAIL" -gt 0 ]; then # keep the daemons' logs with the test's work directory
        cp -r "$SLURM_DIR/log" "$WORK/slurm-logs" 2>/dev/null
    fi
    rm -rf "$SLURM_DIR"
}
trap teardown EXIT
trap 'exit 1' TERM INT # so that the EXIT trap runs
bash "$HERE/slurm-up.sh" "$SLURM_DIR"
rc=$?
[ "$rc" -eq 77 ] && exit 77
[ "$rc" -eq 0 ] || die "slurm-up.sh failed (exit code $rc)"
export SLURM_CONF=$SLURM_DIR/slurm.conf

export DPTRAIN # the scripts' variable
"$MKDATA" friedman1 "$WORK/data.h5" --n 600 --features 5 >/dev/null || die "dpt_mkdata failed"
cat >small.yaml <<CFG
model:
  layers:
    - {type: dense, units: 16, activation: relu}
    - {type: dense, units: 1}
loss: mse
metrics: [mae]
optimizer: {name: adam, lr: 0.01}
data: {train: $WORK/data.h5, validation_split: 0.2}
training: {epochs: 3, batch_size: 16, seed: 2}
CFG

# submit_bg SCRIPT [SBATCH OPTIONS...] [-- SCRIPT ARGS...]: starts `sbatch --wait` of the job
# script in the background (CONFIG, DPTRAIN and the rest of the environment pass through); SUB is
# its pid.  collect waits for it and sets RC (sbatch's exit code = the script's), JOB (the job
# id) and OUT (the job's output file: the jobs/ scripts name it %x-%j.out).
submit_bg() {
    local script=$1 opts=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    LOG=submit-$((++NSUB)).log
    timeout 300 sbatch --parsable --wait "${opts[@]}" "$SRCDIR/jobs/$script" "$@" >"$LOG" 2>&1 &
    SUB=$!
    echo "--- sbatch --wait ${opts[*]} jobs/$script $*"
}
NSUB=0

collect() {
    RC=0
    wait "$SUB" || RC=$?
    JOB=$(grep -m1 -x '[0-9][0-9]*' "$LOG")
    OUT=$(ls ./*-"$JOB".out 2>/dev/null | head -n 1)
    echo "job ${JOB:-?}: exit code $RC, output ${OUT:-none}"
    [ -n "$JOB" ] || { cat "$LOG"; return 1; }
    # sbatch --wait returns 0 for a job cancelled before it started: the output must exist.
    [ -n "$OUT" ] || { echo "no output file for job $JOB"; return 1; }
    grep -v '^epoch' "$OUT" | head -n 40
}

submit() {
    submit_bg "$@"
    collect
}

# trained OUT DIR RANKS THREADS: the checks every successful training job passes.
trained() {
    local out=$1 dir=$2 ranks=$3 threads=$4 tl=threads
    [ "$threads" -eq 1 ] && tl=thread
    local rl=ranks
    [ "$ranks" -eq 1 ] && rl=rank
    check "exit code 0 (got $RC)" [ "$RC" -eq 0 ]
    check "header: job $JOB, $ranks rank(s) x $threads thread(s)" \
        grep -qF "job $JOB on localhost: 1 node(s), $ranks rank(s) x $threads thread(s)," "$out"
    check "dptrain ran $ranks $rl x $threads $tl" \
        grep -q "^dptrain .*: $ranks $rl x $threads $tl," "$out"
    check "model written to $dir/model.h5" grep -q "^model written to $dir/model.h5" "$out"
    run_logged "eval-$JOB.log" timeout 60 "$DPTRAIN" evaluate "$dir/model.h5" "$WORK/data.h5"
    check "the model loads: dptrain evaluate counts 600 rows" \
        [ "$(num_field "$(tail -n 1 "eval-$JOB.log")" n)" = 600 ]
}

# mask LINE: the binding mask of one --report-bindings line ("[B/.]"), or "all".
mask() {
    case $1 in
    *"not bound"*) echo all ;;
    *) echo "${1##*: }" ;;
    esac
}

# cores MASK: how many cores a --report-bindings mask covers ("[BB/..][../..]": 1; cores are
# separated by / and sockets by ][, each core shows one character per hardware thread).
cores() {
    tr '][' '//' <<<"$1" | tr / '\n' | grep -c B
}

case_threads() {
    CONFIG=small.yaml submit train-threads.sbatch -- --set output.dir=out-threads ||
        die "submitting train-threads.sbatch failed"
    trained "$OUT" out-threads 1 2
}

case_srun() {
    CONFIG=small.yaml submit train.sbatch -- --set output.dir=out-srun ||
        die "submitting train.sbatch failed"
    trained "$OUT" out-srun 2 1
}

case_mpirun() {
    CONFIG=small.yaml submit train-mpirun.sbatch -- --set output.dir=out-mpirun ||
        die "submitting train-mpirun.sbatch failed"
    trained "$OUT" out-mpirun 2 1
    local m0 m1
    m0=$(mask "$(grep -m1 'MCW rank 0 ' "$OUT")")
    m1=$(mask "$(grep -m1 'MCW rank 1 ' "$OUT")")
    check "each rank bound to one core of its own (rank 0 $m0, rank 1 $m1)" \
        [ "$(cores "$m0")" = 1 -a "$(cores "$m1")" = 1 -a "$m0" != "$m1" ]
}

case_mpirun_pe() {
    CONFIG=small.yaml submit train-mpirun.sbatch -n 1 -c 2 -- --set output.dir=out-mpirun-pe ||
        die "submitting train-mpirun.sbatch -n 1 -c 2 failed"
    trained "$OUT" out-mpirun-pe 1 2
    local m0
    m0=$(mask "$(grep -m1 'MCW rank 0 ' "$OUT")")
    # On a 2-CPU node both cores are all cores: Open MPI then reports "not bound".
    check "the rank is bound to 2 cores, not 1 ($m0)" \
        [ "$m0" = all -o "$(cores "$m0")" = 2 ]
}

case_bad_config() {
    CONFIG=no-such.yaml submit train.sbatch -- --set output.dir=out-bad ||
        die "submitting train.sbatch failed"
    check "exit code 2 (got $RC)" [ "$RC" -eq 2 ]
    check "the message names CONFIG and the file" \
        grep -q "^train.sbatch: CONFIG=no-such.yaml: cannot read it" "$OUT"
    check "dptrain was not started" [ ! -e out-bad ]
}

# The preemption case: 3600 steps (a few seconds per run), a checkpoint every 100.
case_preempt() {
    sed -e 's/epochs: 3/epochs: 120/' small.yaml >long.yaml
    echo "checkpoint: {every_steps: 100}" >>long.yaml
    local outdir=$WORK/preempt
    CONFIG=long.yaml OUTDIR=$outdir submit_bg train-preemptible.sbatch
    for _ in $(seq 1 150); do
        [ -s "$outdir/checkpoints/latest" ] && break
        sleep 0.2
    done
    JOB=$(squeue -h -o %i -n dptrain-preemptible | head -n 1)
    { [ -n "$JOB" ] && [ -s "$outdir/checkpoints/latest" ]; } || die "the job did not start training"
    # --signal=B:USR1@N and scancel --batch both signal the batch shell alone; a plain
    # scancel --signal (like --signal=USR1@N) would reach srun's tasks but not the shell.
    scancel --batch --signal=USR1 "$JOB" || die "scancel --batch --signal=USR1 $JOB failed"
    # Slurm holds a requeued job for about 2 minutes (BeginTime); release it at once.
    for _ in $(seq 1 120); do
        [ "$(squeue -h -j "$JOB" -o %T:%r 2>/dev/null)" = PENDING:BeginTime ] && break
        sleep 0.25
    done
    scontrol update JobId="$JOB" StartTime=now || fail "scontrol update StartTime=now failed"
    collect || die "submitting train-preemptible.sbatch failed"
    local out=$OUT
    check "the batch shell got USR1 and passed it on" grep -q '^USR1 received' "$out"
    check "dptrain stopped on the signal with a checkpoint" \
        grep -q '^checkpoint (stop signal): ' "$out"
    check "the job requeued itself" grep -q "^stopped with a checkpoint: requeueing job $JOB" "$out"
    check "it ran again as restart 1" grep -q "^job $JOB on .*, restart 1," "$out"
    local stop_step
    stop_step=$(sed -n 's/^checkpoint (stop signal): .*, step \([0-9]*\),.*/\1/p' "$out")
    check "the second run resumed from the stop checkpoint (step ${stop_step:-?})" \
        grep -q "^resumed from $outdir/checkpoints/ckpt-0*$stop_step.h5: step $stop_step," "$out"
    check "the stop came mid-run (step $stop_step of 3600)" \
        [ -n "$stop_step" -a "${stop_step:-0}" -lt 3600 ]
    check "exactly one restart" [ "$(grep -c '^job .* restart' "$out")" -eq 2 ]
    trained "$out" "$outdir" 2 1
}

for c in "${CASES[@]}"; do
    echo "=== $c"
    "case_${c//-/_}"
done
finish

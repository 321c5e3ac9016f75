#!/bin/bash
# jobs/mpirun-hostfile.sh on this machine with the shipped jobs/hostfile.example (localhost,
# 2 slots), no batch system needed: 2 ranks x 1 thread each bound to its own core, then 1 rank x
# 2 threads bound to both (PPN=1 THREADS=2), and bad settings refused with exit code 2.
# Usage: mpirun_hostfile.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/../e2e/lib.sh"
# As a user would run it: no ctest thread or Open MPI settings (the script sets its own; and
# nproc obeys OMP_NUM_THREADS).
unset OMP_NUM_THREADS OMP_THREAD_LIMIT BLIS_NUM_THREADS OMPI_MCA_rmaps_base_oversubscribe \
    OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
[ "$(nproc)" -ge 2 ] || {
    echo "SKIP: the example hostfile has 2 slots, this machine $(nproc) CPU"
    exit 77
}
e2e_init jobs_mpirun_hostfile
export DPTRAIN HOSTFILE=$SRCDIR/jobs/hostfile.example CONFIG=small.yaml
"$MKDATA" friedman1 "$WORK/data.h5" --n 400 --features 5 >/dev/null || die "dpt_mkdata failed"
cat >small.yaml <<CFG
model:
  layers:
    - {type: dense, units: 8, activation: relu}
    - {type: dense, units: 1}
loss: mse
optimizer: {name: adam, lr: 0.01}
data: {train: $WORK/data.h5}
training: {epochs: 2, batch_size: 16}
CFG
launch() { # launch LOG [VAR=value...]: the script with extra environment, time-limited
    local log=$1
    shift
    env "$@" timeout 120 "$SRCDIR/jobs/mpirun-hostfile.sh" --set "output.dir=$WORK/out-$log" \
        >"$log.log" 2>&1
}

# mask LOG RANK: the --report-bindings mask of RANK ("[B/.]"), or "all".
mask() {
    local line
    line=$(grep -m1 "MCW rank $2 " "$1")
    case $line in
    *"not bound"*) echo all ;;
    *) echo "${line##*: }" ;;
    esac
}

# cores MASK: how many cores a --report-bindings mask covers ("[BB/..][../..]": 1; cores are
# separated by / and sockets by ][, each core shows one character per hardware thread).
cores() {
    tr '][' '//' <<<"$1" | tr / '\n' | grep -c B
}

run_logged ranks.log launch ranks || die "2 ranks x 1 thread failed"
grep -v '^epoch' ranks.log
check "header: localhost, 2 rank(s) x 1 thread(s)" \
    grep -qF 'mpirun: hosts localhost: 2 rank(s) x 1 thread(s)' ranks.log
check "dptrain ran 2 ranks x 1 thread" grep -q '^dptrain .*: 2 ranks x 1 thread,' ranks.log
m0=$(mask ranks.log 0) m1=$(mask ranks.log 1)
check "each rank bound to one core of its own (rank 0 $m0, rank 1 $m1)" \
    [ "$(cores "$m0")" = 1 -a "$(cores "$m1")" = 1 -a "$m0" != "$m1" ]
check "the model was written" [ -s out-ranks/model.h5 ]

run_logged threads.log launch threads PPN=1 THREADS=2 || die "1 rank x 2 threads failed"
grep -v '^epoch' threads.log
check "dptrain ran 1 rank x 2 threads" grep -q '^dptrain .*: 1 rank x 2 threads,' threads.log
m0=$(mask threads.log 0)
# Both cores of a 2-CPU machine are all its cores: Open MPI then says "not bound".
check "the rank is bound to 2 cores, not 1 ($m0)" [ "$m0" = all -o "$(cores "$m0")" = 2 ]
run_logged eval.log timeout 60 "$DPTRAIN" evaluate out-threads/model.h5 "$WORK/data.h5"
check "the model loads: evaluate counts 400 rows" \
    [ "$(num_field "$(tail -n 1 eval.log)" n)" = 400 ]

launch bad-threads THREADS=0
rc=$?
check "THREADS=0: exit code 2 (got $rc)" [ "$rc" -eq 2 ]
check "THREADS=0: the message names it" \
    grep -q '^mpirun-hostfile.sh: THREADS=0: expected a positive integer' bad-threads.log
launch bad-hostfile HOSTFILE=no-such-hosts
rc=$?
check "a missing HOSTFILE: exit code 2 (got $rc)" [ "$rc" -eq 2 ]
check "a missing HOSTFILE: the message names it" \
    grep -q '^mpirun-hostfile.sh: HOSTFILE=no-such-hosts: cannot read it' bad-hostfile.log
finish

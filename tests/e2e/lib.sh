# Helpers shared by the end-to-end scripts (sourced, bash).  Every script is called as
#   script.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT [script arguments...]
# and works in its own directory WORKROOT/<name>, so the tests can run in parallel.
set -u

DPTRAIN=$1 MKDATA=$2 H5CMP=$3 MPIEXEC=$4 SRCDIR=$5 WORKROOT=$6
shift 6
NFAIL=0
NCHECK=0
WORK=

# e2e_init NAME: fresh work directory WORKROOT/NAME, made the current directory.
e2e_init() {
    WORK=$WORKROOT/$1
    rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 2
}

fail() {
    echo "FAIL: $*" >&2
    NFAIL=$((NFAIL + 1))
}

pass() {
    echo "ok: $*"
}

# check DESCRIPTION COMMAND...: runs COMMAND, counts a failure when it returns non-zero.
check() {
    local desc=$1
    shift
    NCHECK=$((NCHECK + 1))
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# finish: the script's exit status (0 only when every check passed).
finish() {
    if [ "$NFAIL" -gt 0 ]; then
        echo "$NFAIL of $NCHECK checks failed"
        exit 1
    fi
    echo "all $NCHECK checks passed"
    exit 0
}

# die MESSAGE: a step the remaining checks depend on failed.
die() {
    fail "$*"
    echo "$NFAIL of $NCHECK checks failed (stopped early)"
    exit 1
}

# mpi NP COMMAND...: COMMAND under mpirun with NP ranks (oversubscribed beyond 2), with a
# time limit so that a hang fails the test instead of blocking it.
mpi() {
    local np=$1
    shift
    local extra=()
    [ "$np" -gt 2 ] && extra=(--oversubscribe)
    timeout "${E2E_TIMEOUT:-120}" "$MPIEXEC" -n "$np" "${extra[@]}" "$@"
}

# run_logged LOG COMMAND...: runs COMMAND with stdout+stderr in LOG; returns its status and
# shows the log when it failed.
run_logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "--- '$*' exited with $rc; output:" >&2
        cat "$log" >&2
    fi
    return "$rc"
}

# leftover_procs PATTERN: pids (other than this shell) whose command line contains PATTERN,
# waiting up to 10 s for processes that are still exiting.
leftover_procs() {
    local pids i
    for i in $(seq 1 20); do
        pids=$(pgrep -f -- "$1" | grep -vx -e "$$" -e "$BASHPID" || true)
        [ -z "$pids" ] && return 0
        sleep 0.5
    done
    echo "$pids"
}

# num_field TEXT NAME: the value of NAME=<number> in TEXT (empty when absent).
num_field() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# is_finite VALUE: VALUE parses as a finite number.
is_finite() {
    awk -v v="$1" 'BEGIN { if (v ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/) exit 0; exit 1 }'
}

# ge A B: A >= B as numbers.
ge() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}

#!/bin/bash
# Stops what slurm-up.sh DIR started, by the pid files in DIR: cancels the jobs first (their
# slurmstepd would outlive slurmd), then slurmctld, slurmd, and munged if slurm-up started it.
#   tests/slurm/slurm-down.sh DIR
# Safe to run twice or after a partial start.
set -u
DIR=${1:?usage: slurm-down.sh DIR}
export SLURM_CONF=$DIR/slurm.conf

if [ -s "$DIR/slurmctld.pid" ] && squeue -h >/dev/null 2>&1; then
    ids=$(squeue -h -o %i)
    [ -n "$ids" ] && scancel $ids # one argument per job id
    for _ in $(seq 1 40); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.5
    done
fi

# stop PIDFILE: TERM, up to 10 s, then KILL; the pid file is removed afterwards.
stop() {
    [ -s "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "slurm-down: pid $pid ($1) did not exit, sending KILL" >&2
            kill -KILL "$pid"
        fi
    fi
    rm -f "$1"
}
stop "$DIR/slurmctld.pid" # controller first: it would keep retrying RPCs to a dead slurmd
stop "$DIR/slurmd.pid"
if [ -s "$DIR/munged.started" ]; then
    stop "$(cat "$DIR/munged.started")"
    rm -f "$DIR/munged.started"
fi
exit 0

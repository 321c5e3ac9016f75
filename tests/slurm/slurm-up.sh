#!/bin/bash
# Brings up a throw-away single-node Slurm on 127.0.0.1 for the job-script tests (recipe:
# /work/shared/slurm-local.md): munge, slurmctld and slurmd, all started by hand (no systemd).
#   tests/slurm/slurm-up.sh DIR      (as root)
# Everything Slurm writes (config, state, spool, logs, pid files) goes to DIR, not /etc/slurm or
# /var/lib/slurm; clients find it through SLURM_CONF=DIR/slurm.conf.  A munged that is already
# running is reused; one started here is recorded in DIR/munged.started for slurm-down.sh.
# Exit codes: 0 up (node idle), 77 cannot run here (not root, packages missing and no apt,
# another Slurm running), 1 failed to start (logs shown).
set -euo pipefail
DIR=${1:?usage: slurm-up.sh DIR}
PACKAGES=(slurmctld slurmd slurm-client munge libpmix-dev)
skip() {
    echo "slurm-up: SKIP: $*" >&2
    exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root to run slurmd and munged (running as $(id -un))"
mkdir -p "$DIR"

# 1. packages: installed when missing and apt is usable (CI images start without them).
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "missing packages ${missing[*]} and no apt-get"
    echo "slurm-up: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; } \
        >"$DIR/apt.log" 2>&1 || skip "apt-get install ${missing[*]} failed (see $DIR/apt.log)"
fi

# A cluster's own daemons are never touched: ports 6817/6818 would clash anyway.
others=$( (pgrep -x slurmctld; pgrep -x slurmd) || true)
[ -z "$others" ] ||
    skip "a Slurm daemon is already running here (pid $(tr '\n' ' ' <<<"$others"));" \
        "not starting a second one"

# 2. config: one node, one partition, no cgroups, no accounting (see the recipe's notes).
# The CPUs this process may use (nproc would also obey OMP_NUM_THREADS).
NCPU=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
mkdir -p "$DIR"/{state,spool,log}
cat >"$DIR/slurm.conf" <<EOF
# Throw-away single-node Slurm for dptrain's job-script tests (tests/slurm/slurm-up.sh)
ClusterName=dpttest
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
# root owns DIR, so both daemons run as root (a real cluster runs slurmctld as 'slurm')
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Debian's Open MPI works under srun with PMIx only
MpiDefault=pmix
# impossible requests fail at submit time instead of pending (and 'sbatch --wait' hanging)
EnforcePartLimits=ALL
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
# 'sbatch --wait' polls every 2 s instead of backing off to 32 s
MinJobAge=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$DIR/slurm.conf

# 3. munge: reuse a running one, else start it (the package's postinst made the key).
if ! munge -n >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    echo /run/munge/munged.pid >"$DIR/munged.started"
fi
munge -n | unmunge >/dev/null

# 4. the daemons; both fork and write their pid files into DIR.
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost

# 5. ready when the node is idle
state=
for _ in $(seq 1 60); do
    state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "$state" != idle ]; then
    echo "slurm-up: node not idle after 30 s (state '$state')" >&2
    tail -n 20 "$DIR"/log/*.log >&2
    exit 1
fi
echo "slurm-up: node localhost idle, $NCPU CPUs; export SLURM_CONF=$SLURM_CONF"

#!/bin/bash
# setup.sh: installs the Debian packages dptrain needs (only those missing), builds it, and runs
# the tests, the example, or the sanitizer build.  Idempotent and non-interactive.
#   ./setup.sh [build]     packages + Release build in build/
#   ./setup.sh test [ARGS] build, then ctest --test-dir build --output-on-failure [ARGS]
#   ./setup.sh example     build, generate data/regression.h5, train configs/regression-mlp.yaml on
#                          2 MPI ranks, evaluate and predict
#   ./setup.sh asan [ARGS] AddressSanitizer + UBSan Debug build in build-asan, then its ctest
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
          hdf5-tools libblis-dev libyaml-dev libcmocka-dev zlib1g-dev libstb-dev
          dataset-fashion-mnist procps)
# Only for the tests: a single-node Slurm the job scripts in jobs/ are tested against
# (tests/slurm; libpmix-dev holds the libpmix.so that srun --mpi=pmix loads), h5py for the
# docs' Python snippets (tests/docs), and PyTorch, which every layer is compared with (tests/torch).
TEST_PACKAGES=(slurmctld slurmd slurm-client munge libpmix-dev python3-h5py python3-torch fortunes)
JOBS=$(nproc 2>/dev/null || echo 2)

say() { printf '== %s\n' "$*"; }

# Runs a command as root: directly when we are root, else through sudo (non-interactive).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "setup.sh: need root or sudo to run: $*" >&2
        return 1
    fi
}

# install_missing PKG...: apt-get installs the packages dpkg does not report as installed.
install_missing() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}

# Open MPI's mpirun refuses to run as root unless told (CI and containers run as root).
mpi_root_env() {
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
}

# build DIR CMAKE_ARGS...: configure and build (both are incremental).
build() {
    local dir=$1
    shift
    say "configuring $dir"
    # compile_commands.json: what clang-tidy (.ci/run) compiles each file with.
    cmake -S . -B "$dir" -DDPT_WERROR=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@"
    say "building $dir"
    cmake --build "$dir" -j "$JOBS"
}

build_release() {
    install_missing "${PACKAGES[@]}"
    build build -DCMAKE_BUILD_TYPE=Release -DDPT_SANITIZE=OFF
}

cmd_test() {
    build_release
    install_missing "${TEST_PACKAGES[@]}"
    mpi_root_env
    say "ctest --test-dir build --output-on-failure $*"
    ctest --test-dir build --output-on-failure "$@"
}

# ASan's leak checker is off: Open MPI keeps allocations until exit on purpose (and some of its
# components never free theirs), which LeakSanitizer would report in every test.
cmd_asan() {
    install_missing "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DDPT_SANITIZE=ON
    mpi_root_env
    export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
    # The "slow" tests (full Fashion-MNIST trainings) run in the Release build only: under ASan
    # they would take an hour and find nothing the short tests do not exercise.
    say "ctest --test-dir build-asan --output-on-failure -LE slow $*"
    ctest --test-dir build-asan --output-on-failure -LE slow "$@"
}

cmd_example() {
    build_release
    mpi_root_env
    local np=(-n 2)
    [ "$JOBS" -lt 2 ] && np+=(--oversubscribe)
    say "build/tools/dpt_mkdata friedman1 data/regression.h5"
    build/tools/dpt_mkdata friedman1 data/regression.h5
    say "mpirun ${np[*]} build/dptrain train configs/regression-mlp.yaml"
    mpirun "${np[@]}" build/dptrain train configs/regression-mlp.yaml
    say "build/dptrain evaluate runs/regression-mlp/model.h5 data/regression.h5"
    build/dptrain evaluate runs/regression-mlp/model.h5 data/regression.h5
    say "build/dptrain predict runs/regression-mlp/model.h5 data/regression.h5" \
        "runs/regression-mlp/predictions.h5"
    build/dptrain predict runs/regression-mlp/model.h5 data/regression.h5 \
        runs/regression-mlp/predictions.h5
    say "done: model runs/regression-mlp/model.h5, per-epoch metrics" \
        "runs/regression-mlp/metrics.jsonl, predictions runs/regression-mlp/predictions.h5"
}

case "${1:-build}" in
build) build_release ;;
test) shift; cmd_test "$@" ;;
example) cmd_example ;;
asan) shift; cmd_asan "$@" ;;
-h | --help | help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
*)
    echo "usage: ./setup.sh [build|test|example|asan]" >&2
    exit 2
    ;;
esac

#!/bin/bash
# The dptrain command line without MPI: --version, --help, and the documented exit codes
# (0 success, 1 bad input, 2 usage) of a plain (singleton) process.
# Usage: cli_basics.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init cli_basics

status() { timeout 60 "$DPTRAIN" "$@" >out.log 2>&1; echo $?; }

check "--version exits 0" [ "$(status --version)" -eq 0 ]
check "--version prints 'dptrain 0.1.0'" grep -qx 'dptrain 0.1.0' out.log
check "--help exits 0" [ "$(status --help)" -eq 0 ]
check "--help shows the usage of train, evaluate and predict" \
    grep -q 'train CONFIG' out.log
check "no command: exit 2" [ "$(status)" -eq 2 ]
check "unknown command: exit 2" [ "$(status frobnicate)" -eq 2 ]
check "unknown command is named" grep -q frobnicate out.log
check "train without CONFIG: exit 2" [ "$(status train)" -eq 2 ]
check "train with an unknown option: exit 2" [ "$(status train "$SRCDIR/configs/xor.yaml" --bogus)" -eq 2 ]
check "evaluate with one argument: exit 2" [ "$(status evaluate model.h5)" -eq 2 ]
check "predict with two arguments: exit 2" [ "$(status predict model.h5 data.h5)" -eq 2 ]
check "missing config file: exit 1" [ "$(status train "$WORK/none.yaml")" -eq 1 ]
check "message 'dptrain: error:' names none.yaml" grep -q 'dptrain: error: .*none.yaml' out.log
check "evaluate of a missing model: exit 1" [ "$(status evaluate "$WORK/none.h5" "$WORK/none.h5")" -eq 1 ]
check "message names none.h5" grep -q 'dptrain: error: .*none.h5' out.log
"$MKDATA" xor xor.h5 >/dev/null
check "evaluate of a data file that is no model: exit 1" [ "$(status evaluate xor.h5 xor.h5)" -eq 1 ]
check "message names xor.h5" grep -q 'dptrain: error: .*xor.h5' out.log
finish

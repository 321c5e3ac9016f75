#!/bin/bash
# dpt_h5cmp: exit 0 within rtol, 1 beyond it or for different names/shapes, 2 on errors.
# Usage: tools_h5cmp.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init tools_h5cmp

# Same seed, noise 1 vs 1.00001: X is identical and y differs by about 1e-6 relative.
"$MKDATA" friedman1 a.h5 --n 100 --noise 1.0 >/dev/null
"$MKDATA" friedman1 b.h5 --n 100 --noise 1.00001 >/dev/null
"$MKDATA" friedman1 c.h5 --n 100 --seed 2 >/dev/null
"$MKDATA" friedman1 d.h5 --n 50 >/dev/null
"$MKDATA" xor x.h5 >/dev/null
cmp_rc() { "$H5CMP" "$@" >cmp.log 2>&1; echo $?; }

check "a file equals itself" [ "$(cmp_rc a.h5 a.h5 --group /)" -eq 0 ]
check "max rel diff 0 reported" grep -q 'max rel diff 0.000e+00' cmp.log
check "1e-6 differences pass rtol 1e-5" [ "$(cmp_rc a.h5 b.h5 --group / --rtol 1e-5)" -eq 0 ]
check "1e-6 differences fail rtol 1e-9" [ "$(cmp_rc a.h5 b.h5 --group / --rtol 1e-9)" -eq 1 ]
check "the worst value is in y" grep -q 'at y\[' cmp.log
check "different data differ" [ "$(cmp_rc a.h5 c.h5 --group /)" -eq 1 ]
check "different shapes differ" [ "$(cmp_rc a.h5 d.h5 --group /)" -eq 1 ]
check "shape message names the dataset" grep -q 'shapes differ' cmp.log
check "different names differ (xor y is not float)" [ "$(cmp_rc a.h5 x.h5 --group /)" -eq 1 ]
check "name message names y" grep -q 'float dataset y is in a.h5 but not in x.h5' cmp.log
check "missing file is an error" [ "$(cmp_rc a.h5 nope.h5 --group /)" -eq 2 ]
check "error names the file" grep -q 'nope.h5' cmp.log
check "missing group is an error" [ "$(cmp_rc a.h5 b.h5)" -eq 2 ]
check "error names the group" grep -q 'no group /params' cmp.log
check "bad --rtol is an error" [ "$(cmp_rc a.h5 b.h5 --rtol x)" -eq 2 ]
check "one file is an error" [ "$(cmp_rc a.h5)" -eq 2 ]
finish

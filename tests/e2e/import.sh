#!/bin/bash
# `dptrain import csv|idx|npy`: files converted from each format hold the expected values (read
# back with h5dump), dptrain trains on them, bad input fails with exit 1 and a message naming the
# file (and line or element), usage errors exit 2, and under mpirun rank 0 does the work.
# MODE formats: the three formats, compression, --force, mpirun; bad: bad input and usage;
# fashion: the Debian package's Fashion-MNIST, both layouts, known pixels and labels, and the
# shipped configs/fashion-mnist-mlp.yaml starts training on it.
# Usage: import.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT formats|bad|fashion
. "$(dirname "$0")/lib.sh"
MODE=$1
e2e_init "import_$MODE"

# has FILE DATASET TYPE SHAPE: the dataset's type and "( dims ) / ( maxdims )".
has() {
    h5dump -H -d "$2" "$1" | tr -s ' \n' ' ' | grep -qF "DATATYPE $3 DATASPACE SIMPLE { $4 }"
}
# data FILE DATASET: the values as h5dump prints them, on one line.
data() {
    h5dump -d "$2" -w 0 "$1" | sed -n '/DATA {/,/}/p' | tr -s ' \n' ' ' | sed 's/.*DATA { //; s/ }.*//'
}
# value FILE DATASET START: one float at START ("i,j" or "i,t,f"), printed with %.9g.
value() {
    local count
    count=$(echo "$3" | sed 's/[0-9]\+/1/g')
    h5dump -d "$2" -s "$3" -c "$count" -b LE -o v.bin "$1" >/dev/null &&
        od -An -tf4 -v v.bin | awk '{ printf "%.9g\n", $1 }'
}
# near A B: both given and |A - B| <= 1e-6
near() {
    [ -n "$1" ] && [ -n "$2" ] &&
        awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d <= 1e-6 && d >= -1e-6) }'
}
# expect_fail DESCRIPTION EXIT PATTERN COMMAND...: COMMAND exits with EXIT and its output
# matches the extended regex PATTERN.
expect_fail() {
    local desc=$1 code=$2 pat=$3
    shift 3
    "$@" >fail.log 2>&1
    local rc=$?
    check "$desc: exit $code (got $rc)" [ "$rc" -eq "$code" ]
    check "$desc: message matches '$pat'" grep -qE -- "$pat" fail.log
    [ "$rc" -eq "$code" ] && grep -qE -- "$pat" fail.log || cat fail.log >&2
}
# npy FILE DESCR SHAPE FORTRAN DATA: an .npy v1.0 file, DATA as printf escapes.
npy() {
    local d="{'descr': '$2', 'fortran_order': $4, 'shape': $3, }"
    local hl=$(((10 + ${#d} + 1 + 63) / 64 * 64 - 10))
    {
        printf '\x93NUMPY\x01\x00'
        printf "\\x$(printf %02x $((hl & 255)))\\x$(printf %02x $((hl >> 8)))"
        printf '%s%*s\n' "$d" $((hl - ${#d} - 1)) ''
        printf "$5"
    } >"$1"
}
u32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
# Two 2 x 2 ubyte images (0 51 102 255 / 255 0 0 51) and labels 3 1, gzip'd.
idx_files() {
    { u32 2051; u32 2; u32 2; u32 2; printf '\x00\x33\x66\xff\xff\x00\x00\x33'; } | gzip >im.gz
    { u32 2049; u32 2; printf '\x03\x01'; } | gzip >lb.gz
}

formats() {
    # CSV: header auto-detected, quoted numbers and names, a comment, labels
    printf '# xor\n"x 1","x,2",label\n0,0,0\n"0",1,1\n\n1,"0.0",1\n1,1,0\n' >xor.csv
    check "csv import" run_logged csv.log "$DPTRAIN" import csv xor.csv xor.h5 --labels
    check "csv summary names rows, shapes and size" \
        grep -qE '^xor.h5: 4 rows, X \(4, 2\) float32, y \(4\) int32 0\.\.1; [0-9.]+ MiB, [0-9.]+ s$' csv.log
    check "csv X is float32 (4, 2)" has xor.h5 X H5T_IEEE_F32LE "( 4, 2 ) / ( H5S_UNLIMITED, 2 )"
    check "csv X values" [ "$(data xor.h5 X)" = "(0,0): 0, 0, (1,0): 0, 1, (2,0): 1, 0, (3,0): 1, 1" ]
    check "csv y is int32 (4)" has xor.h5 y H5T_STD_I32LE "( 4 ) / ( H5S_UNLIMITED )"
    check "csv y values" [ "$(data xor.h5 y)" = "(0): 0, 1, 1, 0" ]
    check "the command is recorded" grep -q 'dptrain import csv xor.csv xor.h5 --labels' <(h5dump -a dptrain_import xor.h5)
    check "dptrain learns XOR from the imported CSV" run_logged train.log timeout 120 \
        "$DPTRAIN" train "$SRCDIR/configs/xor.yaml" --set "data.train=$WORK/xor.h5" --set "output.dir=$WORK/out"
    run_logged eval.log "$DPTRAIN" evaluate out/model.h5 xor.h5
    check "accuracy is 1.000000" [ "$(num_field "$(tail -n 1 eval.log)" accuracy)" = 1.000000 ]

    # CSV regression targets chosen by name, tab-separated
    printf 'a\tb\tt1\tt2\n1.5\t2\t3\t-4e-1\n' >reg.tsv
    check "tsv import with two targets" run_logged tsv.log "$DPTRAIN" import csv reg.tsv reg.h5 \
        --delimiter tab --target t2,t1 --features b
    check "tsv X is (1, 1) = 2" [ "$(data reg.h5 X)" = "(0,0): 2" ]
    check "tsv y is (1, 2) = -0.4, 3" [ "$(data reg.h5 y)" = "(0,0): -0.4, 3" ]

    # NPY: X float32 (3, 2), Y int64 labels, lengths-free
    npy x.npy '<f4' '(3, 2)' False '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x00\x3f\x00\x00\x80\xbf\x00\x00\x80\x40\x00\x00\x00\x00'
    npy y.npy '<i8' '(3,)' False '\x01\0\0\0\0\0\0\0\x00\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0'
    check "npy import" run_logged npy.log "$DPTRAIN" import npy x.npy y.npy n.h5
    check "npy X is float32 (3, 2), fixed size" has n.h5 X H5T_IEEE_F32LE "( 3, 2 ) / ( 3, 2 )"
    check "npy X values" [ "$(data n.h5 X)" = "(0,0): 1, 2, (1,0): 0.5, -1, (2,0): 4, 0" ]
    check "npy y: int64 -> int32 labels" has n.h5 y H5T_STD_I32LE "( 3 ) / ( 3 )"
    check "npy y values" [ "$(data n.h5 y)" = "(0): 1, 0, 2" ]
    check "npy --float-targets and dataset names" run_logged npy2.log "$DPTRAIN" import npy x.npy y.npy \
        n2.h5 --float-targets --x inputs --y targets
    check "npy float targets" has n2.h5 targets H5T_IEEE_F32LE "( 3 ) / ( 3 )"
    check "npy --x names X" has n2.h5 inputs H5T_IEEE_F32LE "( 3, 2 ) / ( 3, 2 )"

    # IDX: gzip'd, scaled by 1/255 by default, both layouts
    idx_files
    check "idx import" run_logged idx.log "$DPTRAIN" import idx im.gz lb.gz i.h5
    check "idx X is (2, 4)" has i.h5 X H5T_IEEE_F32LE "( 2, 4 ) / ( 2, 4 )"
    check "idx X values / 255" [ "$(data i.h5 X)" = "(0,0): 0, 0.2, 0.4, 1, (1,0): 1, 0, 0, 0.2" ]
    check "idx labels" [ "$(data i.h5 y)" = "(0): 3, 1" ]
    check "idx --layout seq --scale 1" run_logged idx2.log "$DPTRAIN" import idx im.gz lb.gz s.h5 \
        --layout seq --scale 1
    check "idx seq X is (2, 2, 2)" has s.h5 X H5T_IEEE_F32LE "( 2, 2, 2 ) / ( 2, 2, 2 )"
    check "idx seq values unscaled" [ "$(data s.h5 X)" = "(0,0,0): 0, 51, (0,1,0): 102, 255, (1,0,0): 255, 0, (1,1,0): 0, 51" ]

    # compression: deflate level 4, same values
    check "--compress 4" run_logged c.log "$DPTRAIN" import idx im.gz lb.gz c.h5 --compress 4
    check "deflate level 4 on X" grep -q 'DEFLATE { LEVEL 4 }' <(h5dump -p -H -d X c.h5)
    check "compressed X equals uncompressed" h5diff -q i.h5 c.h5 X X

    # an existing output is replaced only with --force
    expect_fail "existing output" 1 "i.h5: already exists \(pass --force" \
        "$DPTRAIN" import idx im.gz lb.gz i.h5
    check "--force replaces it" run_logged f.log "$DPTRAIN" import idx im.gz lb.gz i.h5 --force --scale 1/51
    check "--scale 1/51" [ "$(data i.h5 X)" = "(0,0): 0, 1, 2, 5, (1,0): 5, 0, 0, 1" ]

    # under mpirun rank 0 imports, rank 1 waits; both exit 0; one summary line
    check "mpirun -n 2 import" run_logged mpi.log mpi 2 "$DPTRAIN" import csv xor.csv m.h5 --labels
    check "one summary line" [ "$(grep -c '^m.h5: 4 rows' mpi.log)" = 1 ]
    check "mpirun output equals the single-process one" h5diff -q xor.h5 m.h5 X X
    expect_fail "mpirun -n 2 with bad input" 1 "xor.csv: already exists" \
        mpi 2 "$DPTRAIN" import csv xor.csv xor.csv
    check "no temporary files left" [ -z "$(find . -name '*.tmp.*')" ]
}

bad() {
    printf 'a,b,c\n1,2,3\n# comment\n4,5\n' >ragged.csv
    expect_fail "ragged csv" 1 "ragged.csv:4: expected 3 cells \(as in line 2\), found 2" \
        "$DPTRAIN" import csv ragged.csv o.h5
    printf 'a,b\n1,2\n3,"x y"\n' >text.csv
    expect_fail "non-numeric csv" 1 "text.csv:3: column 1 \('b'\): 'x y' is not a number" \
        "$DPTRAIN" import csv text.csv o.h5
    printf 'a,b\n1,nan\n' >nan.csv
    expect_fail "NaN in csv" 1 "nan.csv:2: column 1 \('b'\): 'nan' is NaN" "$DPTRAIN" import csv nan.csv o.h5
    printf 'a,b\n1,2.5\n' >lab.csv
    expect_fail "non-integer label" 1 "lab.csv:2: .*label '2.5' is not an integer" \
        "$DPTRAIN" import csv lab.csv o.h5 --labels
    expect_fail "unknown column" 1 "unknown column 'price' in lab.csv" \
        "$DPTRAIN" import csv lab.csv o.h5 --target price
    : >empty.csv
    expect_fail "empty csv" 1 "empty.csv: empty file" "$DPTRAIN" import csv empty.csv o.h5
    expect_fail "missing file" 1 "nope.csv: cannot open" "$DPTRAIN" import csv nope.csv o.h5

    printf 'PK\003\004 not an idx file' >bad.idx
    idx_files
    expect_fail "idx bad magic" 1 "bad.idx: bad magic number: found bytes 50 4b 03 04, expected 00 00 TT NN" \
        "$DPTRAIN" import idx bad.idx lb.gz o.h5
    { u32 2051; u32 3; u32 2; u32 2; printf '\x00\x33\x66\xff\xff\x00\x00\x33'; } | gzip >short.gz
    expect_fail "idx truncated" 1 "short.gz: truncated: expected 12 bytes after the header \(3 items of 4 bytes\), got 8" \
        "$DPTRAIN" import idx short.gz o.h5
    expect_fail "idx count mismatch" 1 "lb.gz has 2 labels but short.gz has 3 images" \
        "$DPTRAIN" import idx short.gz lb.gz o.h5
    # a valid gzip'd IDX file (100 x 60 bytes of a pattern) with the middle of its deflate data
    # overwritten
    { u32 2050; u32 100; u32 60; seq 0 6000 | tr -d '\n' | head -c 6000; } | gzip >corrupt.gz
    local size
    size=$(stat -c %s corrupt.gz)
    printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
        dd of=corrupt.gz bs=1 seek=$((size / 2)) conv=notrunc status=none
    expect_fail "idx corrupt gzip" 1 "corrupt.gz: .*corrupt" "$DPTRAIN" import idx corrupt.gz o.h5

    npy fo.npy '<f4' '(1, 1)' True '\x00\x00\x80\x3f'
    expect_fail "npy fortran order" 1 "fo.npy: fortran_order is True.*np.ascontiguousarray" \
        "$DPTRAIN" import npy fo.npy o.h5
    npy tr.npy '<f4' '(2, 2)' False '\x00\x00\x80\x3f'
    expect_fail "npy truncated" 1 "tr.npy: truncated: .*\(16 bytes of data\), the file has 4" \
        "$DPTRAIN" import npy tr.npy o.h5
    npy be.npy '>f4' '(1,)' False '\x3f\x80\x00\x00'
    expect_fail "npy big-endian" 1 "be.npy: dtype '>f4' is big-endian" "$DPTRAIN" import npy be.npy o.h5
    npy x.npy '<f4' '(2,)' False '\x00\x00\x80\x3f\x00\x00\x80\x3f'
    npy y3.npy '|u1' '(3,)' False '\x01\x02\x03'
    expect_fail "npy row mismatch" 1 "y3.npy has shape \(3,\) but x.npy has shape \(2,\)" \
        "$DPTRAIN" import npy x.npy y3.npy o.h5
    check "no output or temporary file left by any failure" [ -z "$(find . -name 'o.h5*')" ]

    expect_fail "no format" 2 "missing format" "$DPTRAIN" import
    expect_fail "unknown format" 2 "unknown format" "$DPTRAIN" import parquet a b
    expect_fail "unknown option" 2 "unknown option '--frob'" "$DPTRAIN" import csv a.csv o.h5 --frob
    expect_fail "option of another format" 2 "option for another format: '--layout'" \
        "$DPTRAIN" import csv a.csv o.h5 --layout seq
    expect_fail "bad --compress" 2 "bad value for '--compress'" "$DPTRAIN" import csv a.csv o.h5 --compress 12
    expect_fail "missing output" 2 "expected IN.csv OUT.h5" "$DPTRAIN" import csv a.csv
    expect_fail "--scale 0" 2 "bad value for '--scale'" "$DPTRAIN" import idx a b o.h5 --scale 0
    check "--help exits 0" run_logged help.log "$DPTRAIN" import --help
    check "--help documents the default scale" grep -q "default 1/255 for ubyte" help.log
}

fashion() {
    local pkg=/usr/share/datasets/fashion-mnist
    [ -r "$pkg/train-images-idx3-ubyte.gz" ] || die "Debian package dataset-fashion-mnist is missing"
    check "train, flat" run_logged tr.log "$DPTRAIN" import idx "$pkg/train-images-idx3-ubyte.gz" \
        "$pkg/train-labels-idx1-ubyte.gz" data/fashion-mnist-train.h5
    check "test, flat" run_logged te.log "$DPTRAIN" import idx "$pkg/t10k-images-idx3-ubyte.gz" \
        "$pkg/t10k-labels-idx1-ubyte.gz" data/fashion-mnist-test.h5
    check "train, seq" run_logged trs.log "$DPTRAIN" import idx "$pkg/train-images-idx3-ubyte.gz" \
        "$pkg/train-labels-idx1-ubyte.gz" rows-train.h5 --layout seq
    check "test, seq" run_logged tes.log "$DPTRAIN" import idx "$pkg/t10k-images-idx3-ubyte.gz" \
        "$pkg/t10k-labels-idx1-ubyte.gz" rows-test.h5 --layout seq
    cat tr.log trs.log
    local tr=data/fashion-mnist-train.h5 te=data/fashion-mnist-test.h5
    check "train X (60000, 784)" has $tr X H5T_IEEE_F32LE "( 60000, 784 ) / ( 60000, 784 )"
    check "train y (60000) int32" has $tr y H5T_STD_I32LE "( 60000 ) / ( 60000 )"
    check "test X (10000, 784)" has $te X H5T_IEEE_F32LE "( 10000, 784 ) / ( 10000, 784 )"
    check "seq train X (60000, 28, 28)" has rows-train.h5 X H5T_IEEE_F32LE "( 60000, 28, 28 ) / ( 60000, 28, 28 )"
    check "seq test X (10000, 28, 28)" has rows-test.h5 X H5T_IEEE_F32LE "( 10000, 28, 28 ) / ( 10000, 28, 28 )"
    check "labels 0..9 in the summary" grep -q 'y (60000) int32 0\.\.9' tr.log

    # known values, read from the raw files: label byte at 8 + i, pixel byte at 16 + 784 i + k
    zcat "$pkg/train-images-idx3-ubyte.gz" >raw-images
    zcat "$pkg/train-labels-idx1-ubyte.gz" >raw-labels
    local nonzero=0 i k px want got lab
    for ik in 0,0 0,350 0,783 1,400 12345,500 59999,392 59999,600; do
        i=${ik%,*} k=${ik#*,}
        px=$(od -An -tu1 -j $((16 + 784 * i + k)) -N1 raw-images | tr -d ' ')
        [ "$px" -gt 0 ] && nonzero=$((nonzero + 1))
        want=$(awk -v p="$px" 'BEGIN { printf "%.9g", p / 255 }')
        got=$(value $tr X "$i,$k")
        check "train X[$i, $k] = $px / 255 ($got)" near "$got" "$want"
        got=$(value rows-train.h5 X "$i,$((k / 28)),$((k % 28))")
        check "seq X[$i, $((k / 28)), $((k % 28))] = $px / 255" near "$got" "$want"
    done
    check "some of the checked pixels are not 0 ($nonzero)" [ "$nonzero" -ge 3 ]
    for i in 0 1 2 30000 59999; do
        lab=$(od -An -tu1 -j $((8 + i)) -N1 raw-labels | tr -d ' ')
        got=$(h5dump -d y -s "$i" -c 1 -y -w 0 $tr | sed -n 's/^ *\([0-9]\+\) *$/\1/p')
        check "train y[$i] = $lab" [ "$got" = "$lab" ]
    done
    rm -f raw-images raw-labels

    # the same files as dpt_mkdata's (one IDX reader)
    run_logged mk.log "$MKDATA" fashion-mnist mk-train.h5 mk-test.h5
    check "train equals dpt_mkdata's" h5diff -q $tr mk-train.h5 X X
    check "train labels equal dpt_mkdata's" h5diff -q $tr mk-train.h5 y y
    check "test equals dpt_mkdata's" h5diff -q $te mk-test.h5 X X

    # the shipped config names data/fashion-mnist-{train,test}.h5 (relative to here): it loads and
    # starts training (one epoch)
    check "configs/fashion-mnist-mlp.yaml trains on the imported files" run_logged train.log \
        mpi 2 "$DPTRAIN" train "$SRCDIR/configs/fashion-mnist-mlp.yaml" --set training.epochs=1 \
        --set "output.dir=$WORK/out"
    check "data line names 60000 rows x 784 features" grep -q 'fashion-mnist-train.h5: 60000 rows x 784 features' train.log
    check "one epoch ran" grep -q '^epoch 1/1' train.log
}

case $MODE in
formats) formats ;;
bad) bad ;;
fashion) fashion ;;
*) die "unknown mode $MODE" ;;
esac
finish

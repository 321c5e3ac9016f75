#!/bin/bash
# dpt_mkdata writes the documented shapes and types (sequences and lengths too, zero after each
# length), and rejects broken Fashion-MNIST IDX files (bad magic number, truncation, count
# mismatch, missing file) with a message naming the file.
# Usage: tools_mkdata.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init tools_mkdata

header() { h5dump -H "$@" 2>&1; }
has() { # has FILE DATASET TYPE SHAPE
    header -d "$2" "$1" | tr -s ' \n' ' ' | grep -qF "DATATYPE $3 DATASPACE SIMPLE { $4 }"
}
values() { # values FILE DATASET TYPE: the values one per line, TYPE d4 (int32) or f4 (float32)
    h5dump -d "$2" -b LE -o "$1.$2.bin" "$1" >/dev/null && od -An -t"$3" -v -w4 "$1.$2.bin" | tr -d ' '
}
in_range() { # in_range LO HI <values: at least one value, all in [LO, HI]
    awk -v lo="$1" -v hi="$2" '$1 < lo || $1 > hi {bad++} END {exit bad > 0 || NR == 0}'
}
varies() { # varies <values: more than one distinct value
    [ "$(sort -u | wc -l)" -gt 1 ]
}
zero_after_lengths() { # zero_after_lengths FILE DATASET T F: (N, T, F) is 0 from each length on
    values "$1" lengths d4 >len.txt && values "$1" "$2" f4 >val.txt &&
        awk -v T="$3" -v F="$4" 'NR == FNR {len[NR - 1] = $1; next}
            {k = FNR - 1; i = int(k / (T * F)); t = int(k / F) % T
             if (t >= len[i] && $1 != 0) bad++; if (t < len[i] && $1 != 0) nz[i]++}
            END {for (i in len) if (!nz[i]) bad++; exit bad > 0}' len.txt val.txt
}
bump_gives_class() { # bump_gives_class FILE T F: the largest value of each row lies on feature y
    values "$1" y d4 >y.txt && values "$1" X f4 >x.txt &&
        awk -v T="$2" -v F="$3" 'NR == FNR {y[NR - 1] = $1; n = NR; next}
            {k = FNR - 1; i = int(k / (T * F)); if (k % (T * F) == 0 || $1 > m[i]) {m[i] = $1; f[i] = k % F}}
            END {for (i = 0; i < n; i++) bad += f[i] != y[i]; exit n == 0 || bad > n / 100}' y.txt x.txt
}

check "xor" "$MKDATA" xor xor.h5
check "xor X is float32 (4, 2)" has xor.h5 X H5T_IEEE_F32LE "( 4, 2 ) / ( 4, 2 )"
check "xor y is int32 (4) = 0 1 1 0" grep -q '(0): 0, 1, 1, 0' <(h5dump -d y xor.h5)
check "shapes" "$MKDATA" shapes sh.h5 --n 30 --size 10 --channels 2
check "shapes X is float32 (30, 10, 10, 2)" has sh.h5 X H5T_IEEE_F32LE "( 30, 10, 10, 2 ) / ( 30, 10, 10, 2 )"
values sh.h5 y d4 >shapes-y.txt
check "shapes y is int32 (30) in [0, 2]" in_range 0 2 <shapes-y.txt
check "shapes y holds more than one class" varies <shapes-y.txt
check "friedman1 defaults" "$MKDATA" friedman1 fr.h5
check "friedman1 X is float32 (1000, 13)" has fr.h5 X H5T_IEEE_F32LE "( 1000, 13 ) / ( 1000, 13 )"
check "friedman1 y is float32 (1000, 1)" has fr.h5 y H5T_IEEE_F32LE "( 1000, 1 ) / ( 1000, 1 )"
"$MKDATA" friedman1 fr2.h5 --n 1000 --features 13 --noise 1.0 --seed 1
check "friedman1 is deterministic for a seed" h5diff -q fr.h5 fr2.h5
"$MKDATA" friedman1 fr3.h5 --features 4 2>err.log
check "friedman1 --features 4 is refused" grep -q 'at least 5' err.log
check "classify" "$MKDATA" classify cl.h5 --n 30 --features 3 --classes 5 --seed 2
check "classify X (30, 3)" has cl.h5 X H5T_IEEE_F32LE "( 30, 3 ) / ( 30, 3 )"
check "classify y int32 (30)" has cl.h5 y H5T_STD_I32LE "( 30 ) / ( 30 )"

check "sine defaults" "$MKDATA" sine sine.h5
check "sine X is float32 (2000, 50, 1)" has sine.h5 X H5T_IEEE_F32LE "( 2000, 50, 1 ) / ( 2000, 50, 1 )"
check "sine y is float32 (2000, 50, 1)" has sine.h5 y H5T_IEEE_F32LE "( 2000, 50, 1 ) / ( 2000, 50, 1 )"
check "sine has no lengths by default" [ "$(h5ls sine.h5 | grep -c lengths)" -eq 0 ]
check "sine y is a clean wave in [-1, 1]" in_range -1 1 < <(values sine.h5 y f4)
noisy() { ! in_range -1 1 < <(values "$1" X f4); }
check "sine X is noisy (beyond [-1, 1] somewhere)" noisy sine.h5
"$MKDATA" sine sine2.h5 --n 2000 --steps 50 --noise 0.3 --seed 1
check "sine is deterministic for a seed" h5diff -q sine.h5 sine2.h5
"$MKDATA" sine s0.h5 --n 20 --steps 9 --noise 0
check "sine --noise 0: X equals y" h5diff -q s0.h5 s0.h5 X y
check "sine --variable-lengths" "$MKDATA" sine sv.h5 --n 40 --steps 10 --variable-lengths --seed 3
check "sine lengths is int32 (40)" has sv.h5 lengths H5T_STD_I32LE "( 40 ) / ( 40 )"
check "sine lengths in [5, 10]" in_range 5 10 < <(values sv.h5 lengths d4)
check "sine lengths vary" varies < <(values sv.h5 lengths d4)
check "sine X is zero after each length" zero_after_lengths sv.h5 X 10 1
check "sine y is zero after each length" zero_after_lengths sv.h5 y 10 1

check "seqclass defaults" "$MKDATA" seqclass sc.h5
check "seqclass X is float32 (500, 12, 3)" has sc.h5 X H5T_IEEE_F32LE "( 500, 12, 3 ) / ( 500, 12, 3 )"
check "seqclass y is int32 (500)" has sc.h5 y H5T_STD_I32LE "( 500 ) / ( 500 )"
check "seqclass labels are exactly 0, 1, 2" [ "$(values sc.h5 y d4 | sort -u | tr '\n' ' ')" = "0 1 2 " ]
check "seqclass: the bump's feature is the class (>= 99% of rows)" bump_gives_class sc.h5 12 3
check "seqclass --variable-lengths" "$MKDATA" seqclass scv.h5 --n 60 --steps 8 --features 2 --classes 4 --variable-lengths
check "seqclass lengths in [4, 8]" in_range 4 8 < <(values scv.h5 lengths d4)
check "seqclass X is zero after each length" zero_after_lengths scv.h5 X 8 2
check "seqclass labels in [0, 4)" in_range 0 3 < <(values scv.h5 y d4)
"$MKDATA" seqclass sc7.h5 --features 3 --classes 7 2>err.log
check "seqclass --classes 7 --features 3 is refused" grep -q 'at most 2 x --features' err.log

check "resample --variable-lengths" "$MKDATA" resample rs.h5 --n 30 --steps 8 --out-steps 3 --variable-lengths
check "resample X is float32 (30, 8, 1)" has rs.h5 X H5T_IEEE_F32LE "( 30, 8, 1 ) / ( 30, 8, 1 )"
check "resample y is float32 (30, 3, 1)" has rs.h5 y H5T_IEEE_F32LE "( 30, 3, 1 ) / ( 30, 3, 1 )"
check "resample y_lengths is int32 (30) in [1, 3]" in_range 1 3 < <(values rs.h5 y_lengths d4)
check "resample y_lengths vary" varies < <(values rs.h5 y_lengths d4)
check "resample X is zero after each length" zero_after_lengths rs.h5 X 8 1
zero_after_y_lengths() { # zero_after_y_lengths FILE U: y (N, U, 1) is 0 from each y length on
    values "$1" y_lengths d4 >ylen.txt && values "$1" y f4 >yval.txt &&
        awk -v U="$2" 'NR == FNR {len[NR - 1] = $1; next}
            {k = FNR - 1; i = int(k / U); if (k % U >= len[i] && $1 != 0) bad++}
            END {exit bad > 0}' ylen.txt yval.txt
}
check "resample y is zero after each y length" zero_after_y_lengths rs.h5 3
"$MKDATA" resample rsp.h5 --n 30 --steps 8 --out-steps 3 --variable-lengths --pad 1000
check "resample --pad changes only y past the y lengths" h5diff -q rs.h5 rsp.h5 X X
check "resample --pad puts 1000 there" grep -q 1000 <(h5dump -d y rsp.h5)

"$MKDATA" classify cl2.h5 --n 0 2>/dev/null
check "--n 0 is a usage error (exit 2)" [ $? -eq 2 ]
"$MKDATA" frobnicate x.h5 2>/dev/null
check "unknown subcommand is a usage error (exit 2)" [ $? -eq 2 ]
for k in nan-x inf-x rows-mismatch x-3d x-4d x-int label-range lengths-range y-steps float64; do
    check "bad $k" "$MKDATA" bad $k "bad-$k.h5"
done
check "nan-x has a NaN in X" grep -qi nan <(h5dump -d X bad-nan-x.h5)
check "inf-x has an Inf in X" grep -qi inf <(h5dump -d X bad-inf-x.h5)
check "rows-mismatch: y has 9 rows" has bad-rows-mismatch.h5 y H5T_STD_I32LE "( 9 ) / ( 9 )"
check "x-3d: X is (10, 2, 2)" has bad-x-3d.h5 X H5T_IEEE_F32LE "( 10, 2, 2 ) / ( 10, 2, 2 )"
check "x-4d: X is (10, 2, 2, 2)" has bad-x-4d.h5 X H5T_IEEE_F32LE "( 10, 2, 2, 2 ) / ( 10, 2, 2, 2 )"
check "x-int: X is int32 (10, 2)" has bad-x-int.h5 X H5T_STD_I32LE "( 10, 2 ) / ( 10, 2 )"
check "label-range: a label 7" grep -q ' 7' <(h5dump -d y bad-label-range.h5)
check "lengths-range: X is (10, 4, 2)" has bad-lengths-range.h5 X H5T_IEEE_F32LE "( 10, 4, 2 ) / ( 10, 4, 2 )"
check "lengths-range: lengths row 5 is 0, the rest in [1, 4]" [ "$(values bad-lengths-range.h5 lengths d4 | tr '\n' ' ')" = "1 2 3 4 1 0 3 4 1 2 " ]
check "y-steps: X is (10, 10, 2)" has bad-y-steps.h5 X H5T_IEEE_F32LE "( 10, 10, 2 ) / ( 10, 10, 2 )"
check "y-steps: y is (10, 8, 1)" has bad-y-steps.h5 y H5T_IEEE_F32LE "( 10, 8, 1 ) / ( 10, 8, 1 )"
check "float64: X is float64" has bad-float64.h5 X H5T_IEEE_F64LE "( 64, 2 ) / ( 64, 2 )"
check "no temporary files left" [ -z "$(find . -name '*.tmp*')" ]

# Fake IDX files in the Fashion-MNIST layout: 3 training and 2 test images.
u32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
labels() { { u32 2049; u32 "$2"; printf '\x09\x00\x03'; } | head -c $((8 + $2)) | gzip >"fm/$1-labels-idx1-ubyte.gz"; }
images() { { u32 2051; u32 "$2"; u32 28; u32 28; head -c $((784 * $3)) /dev/zero | tr '\0' '\377'; } | gzip >"fm/$1-images-idx3-ubyte.gz"; }
fake() { rm -rf fm && mkdir fm && labels train 3 && images train 3 3 && labels t10k 2 && images t10k 2 2; }
convert() { "$MKDATA" fashion-mnist --dir fm tr.h5 te.h5 >out.log 2>&1; }

fake
check "fashion-mnist converts fake IDX files" convert
check "train X is float32 (3, 784)" has tr.h5 X H5T_IEEE_F32LE "( 3, 784 ) / ( 3, 784 )"
check "test y is int32 (2)" has te.h5 y H5T_STD_I32LE "( 2 ) / ( 2 )"
check "labels are read (9, 0, 3)" grep -q '(0): 9, 0, 3' <(h5dump -d y tr.h5)
check "pixels 255 become 1" grep -q '(0,0): 1, 1, 1' <(h5dump -d X -c "1,3" tr.h5)
cp tr.h5 tr-flat.h5
check "fashion-mnist --rows" "$MKDATA" fashion-mnist --dir fm --rows tr.h5 te.h5
check "--rows: train X is float32 (3, 28, 28)" has tr.h5 X H5T_IEEE_F32LE "( 3, 28, 28 ) / ( 3, 28, 28 )"
check "--rows: test X is float32 (2, 28, 28)" has te.h5 X H5T_IEEE_F32LE "( 2, 28, 28 ) / ( 2, 28, 28 )"
check "--rows: same pixels as (N, 784)" cmp <(values tr.h5 X f4) <(values tr-flat.h5 X f4)
check "fashion-mnist --images" "$MKDATA" fashion-mnist --dir fm --images tr.h5 te.h5
check "--images: train X is float32 (3, 28, 28, 1)" has tr.h5 X H5T_IEEE_F32LE "( 3, 28, 28, 1 ) / ( 3, 28, 28, 1 )"
check "--images: same pixels as (N, 784)" cmp <(values tr.h5 X f4) <(values tr-flat.h5 X f4)
"$MKDATA" fashion-mnist --dir fm --images --rows tr.h5 te.h5 >both.log 2>&1
check "--rows with --images is a usage error (exit $?)" [ $? -eq 2 ]

expect_error() { # expect_error DESCRIPTION PATTERN
    convert
    local rc=$?
    check "$1: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "$1: message matches '$2'" grep -qE -- "$2" out.log
}
fake; { u32 2051; u32 3; } | gzip >fm/train-labels-idx1-ubyte.gz
expect_error "bad label magic" 'train-labels-idx1-ubyte.gz: bad magic number 2051, expected 2049'
fake; { u32 2049; u32 60000; } | gzip >fm/train-images-idx3-ubyte.gz
expect_error "bad image magic" 'train-images-idx3-ubyte.gz: bad magic number 2049, expected 2051'
fake; images train 3 2
expect_error "truncated images" 'train-images-idx3-ubyte.gz: truncated: expected 2352 bytes'
fake; images t10k 4 4
expect_error "count mismatch" 't10k-labels-idx1-ubyte.gz has 2 labels but .*t10k-images-idx3-ubyte.gz has 4 images'
fake; images train 3 4
expect_error "trailing data" 'train-images-idx3-ubyte.gz: more data than the header announces'
fake; rm fm/t10k-images-idx3-ubyte.gz
expect_error "missing file" 't10k-images-idx3-ubyte.gz: cannot open'
fake; head -c 20 fm/train-images-idx3-ubyte.gz >fm/x && mv fm/x fm/train-images-idx3-ubyte.gz
expect_error "truncated gzip" 'train-images-idx3-ubyte.gz: cannot read the IDX (magic number|header)'
finish

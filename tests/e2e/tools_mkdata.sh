#!/bin/bash
# dpt_mkdata writes the documented shapes and types, and rejects broken Fashion-MNIST IDX files
# (bad magic number, truncation, count mismatch, missing file) with a message naming the file.
# Usage: tools_mkdata.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT
. "$(dirname "$0")/lib.sh"
e2e_init tools_mkdata

header() { h5dump -H "$@" 2>&1; }
has() { # has FILE DATASET TYPE SHAPE
    header -d "$2" "$1" | tr -s ' \n' ' ' | grep -qF "DATATYPE $3 DATASPACE SIMPLE { $4 }"
}

check "xor" "$MKDATA" xor xor.h5
check "xor X is float32 (4, 2)" has xor.h5 X H5T_IEEE_F32LE "( 4, 2 ) / ( 4, 2 )"
check "xor y is int32 (4) = 0 1 1 0" grep -q '(0): 0, 1, 1, 0' <(h5dump -d y xor.h5)
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
"$MKDATA" classify cl2.h5 --n 0 2>/dev/null
check "--n 0 is a usage error (exit 2)" [ $? -eq 2 ]
"$MKDATA" frobnicate x.h5 2>/dev/null
check "unknown subcommand is a usage error (exit 2)" [ $? -eq 2 ]
for k in nan-x inf-x rows-mismatch x-3d label-range float64; do
    check "bad $k" "$MKDATA" bad $k "bad-$k.h5"
done
check "nan-x has a NaN in X" grep -qi nan <(h5dump -d X bad-nan-x.h5)
check "inf-x has an Inf in X" grep -qi inf <(h5dump -d X bad-inf-x.h5)
check "rows-mismatch: y has 9 rows" has bad-rows-mismatch.h5 y H5T_STD_I32LE "( 9 ) / ( 9 )"
check "x-3d: X is (10, 2, 2)" has bad-x-3d.h5 X H5T_IEEE_F32LE "( 10, 2, 2 ) / ( 10, 2, 2 )"
check "label-range: a label 7" grep -q ' 7' <(h5dump -d y bad-label-range.h5)
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

#!/bin/bash
# Image data through `dptrain import`: a folder tree of PNG and JPEG files (written by the fixture
# tool dpt_test_write_image) to X (N, H, W, C) uint8 / float32, y and class_names, read back with
# h5py; corrupt files, mismatched sizes and usage errors; --size; under mpirun; `import idx
# --layout image --dtype uint8` on the Debian package's Fashion-MNIST; 4-D uint8 .npy files.
# Usage: import_images.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT WRITE_IMAGE
. "$(dirname "$0")/lib.sh"
WRITE_IMAGE=$1
e2e_init import_images
PY=/usr/bin/python3

# expect_fail DESCRIPTION EXIT PATTERN COMMAND...: exits with EXIT, output matches PATTERN.
expect_fail() {
    local desc=$1 code=$2 pat=$3
    shift 3
    "$@" >fail.log 2>&1
    local rc=$?
    check "$desc: exit $code (got $rc)" [ "$rc" -eq "$code" ]
    check "$desc: message matches '$pat'" grep -qE -- "$pat" fail.log
    [ "$rc" -eq "$code" ] && grep -qE -- "$pat" fail.log || cat fail.log >&2
}
# py CHECK: runs Python with h5py and numpy; CHECK's assertions fail the check.
py() { "$PY" -c "import h5py, numpy as np
$1"; }

# Pixel (y, x, c) of an image written with BASE: (BASE + 3 y + 5 x + 70 c) mod 256.
PATTERN='def pat(base, h, w, c):
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((base + 3 * y + 5 * x + 70 * k) % 256).astype(np.uint8)'

folders() {
    mkdir -p pets/cat pets/dog/puppies
    "$WRITE_IMAGE" pets/cat/a.png 4 5 3 0 &&
        "$WRITE_IMAGE" pets/cat/b.jpg 4 5 3 40 &&
        "$WRITE_IMAGE" pets/dog/c.PNG 4 5 1 100 &&
        "$WRITE_IMAGE" pets/dog/puppies/d.jpeg 4 5 3 7 || die "cannot write the fixture images"
    echo "not an image" >pets/dog/notes.txt
    check "import images" run_logged im.log "$DPTRAIN" import images pets pets.h5
    check "summary: rows, uint8 X, labels, classes, skipped files" grep -qE \
        '^pets.h5: 4 rows, X \(4, 4, 5, 3\) uint8, y \(4\) int32 0\.\.1, 2 classes \[cat, dog\], 1 file skipped \(not \.png, \.jpg or \.jpeg\); [0-9.]+ MiB' im.log
    check "X, y and class_names read back with h5py" py "$PATTERN
f = h5py.File('pets.h5')
X, y = f['X'][...], f['y'][...]
assert X.shape == (4, 4, 5, 3) and X.dtype == np.uint8, (X.shape, X.dtype)
assert (X[0] == pat(0, 4, 5, 3)).all()                        # cat/a.png, exact
assert np.abs(X[1].astype(int) - pat(40, 4, 5, 3)).max() <= 12  # cat/b.jpg, lossy
assert (X[2] == pat(100, 4, 5, 1)).all()                      # dog/c.PNG, grey -> RGB
assert y.tolist() == [0, 0, 1, 1], y
assert list(f['class_names'].asstr()[...]) == ['cat', 'dog']
"
    check "--dtype float32: the same pixels / 255" run_logged f.log "$DPTRAIN" import images pets \
        pets-f.h5 --dtype float32
    check "float32 X = uint8 X / 255" py "
a, b = h5py.File('pets.h5')['X'][...], h5py.File('pets-f.h5')['X'][...]
assert b.dtype == np.float32 and (b == (a * (1.0 / 255.0)).astype(np.float32)).all()
"
    check "--size 8x10 --channels 1" run_logged s.log "$DPTRAIN" import images pets small.h5 \
        --size 8x10 --channels 1
    check "resized X is (4, 8, 10, 1)" grep -q 'X (4, 8, 10, 1) uint8' s.log

    check "--shuffle 3" run_logged sh.log "$DPTRAIN" import images pets sh.h5 --shuffle 3
    check "shuffled: the same rows in another order" py "
a, b = h5py.File('pets.h5'), h5py.File('sh.h5')
ka = sorted((int(y), x.tobytes()) for x, y in zip(a['X'][...], a['y'][...]))
kb = sorted((int(y), x.tobytes()) for x, y in zip(b['X'][...], b['y'][...]))
assert ka == kb and list(b['y'][...]) != list(a['y'][...]), list(b['y'][...])
"

    # mismatched sizes: refused naming both files and sizes, unless --size
    "$WRITE_IMAGE" pets/dog/e.png 6 5 3 0
    expect_fail "mismatched size" 1 \
        "pets/dog/e.png: the image is 6x5 \(height x width\) but the first one, pets/cat/a.png, is 4x5.*--size" \
        "$DPTRAIN" import images pets o.h5
    check "--size resizes it" run_logged s2.log "$DPTRAIN" import images pets o2.h5 --size 4x5
    check "5 rows" grep -q '^o2.h5: 5 rows, X (5, 4, 5, 3)' s2.log
    rm pets/dog/e.png

    # a damaged PNG: the file is named, nothing is written
    "$WRITE_IMAGE" pets/dog/f.png 16 16 3 0
    printf '\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5' |
        dd of=pets/dog/f.png bs=1 seek=45 conv=notrunc status=none
    expect_fail "corrupt PNG" 1 "pets/dog/f.png: cannot decode the image" \
        "$DPTRAIN" import images pets o.h5 --size 4x5
    echo "plain text" >pets/dog/f.png
    expect_fail "text named .png" 1 "pets/dog/f.png: not a PNG or JPEG file" \
        "$DPTRAIN" import images pets o.h5
    rm pets/dog/f.png
    mkdir pets/empty
    expect_fail "empty class folder" 1 "pets/empty: no .png, .jpg or .jpeg files" \
        "$DPTRAIN" import images pets o.h5
    rmdir pets/empty
    mkdir none
    expect_fail "no class folders" 1 "none: no class sub-folders" "$DPTRAIN" import images none o.h5
    check "no output or temporary file left by any failure" [ -z "$(find . -name 'o.h5*')" ]

    # usage errors
    expect_fail "--channels 2" 2 "bad value for '--channels'" "$DPTRAIN" import images pets o.h5 --channels 2
    expect_fail "--size 0x3" 2 "bad value for '--size'" "$DPTRAIN" import images pets o.h5 --size 0x3
    expect_fail "--dtype int8" 2 "bad value for '--dtype'" "$DPTRAIN" import images pets o.h5 --dtype int8
    expect_fail "--dtype for csv" 2 "option for another format: '--dtype'" \
        "$DPTRAIN" import csv a.csv o.h5 --dtype uint8
    expect_fail "--scale with uint8" 2 "--scale does not apply to --dtype uint8" \
        "$DPTRAIN" import idx a b o.h5 --dtype uint8 --scale 2
    expect_fail "--shuffle -1" 2 "bad value for '--shuffle'" "$DPTRAIN" import images pets o.h5 --shuffle -1
    expect_fail "two inputs" 2 "expected DIR OUT.h5" "$DPTRAIN" import images pets x o.h5

    # under mpirun rank 0 imports, one summary line, the same file
    check "mpirun -n 2 import images" run_logged mpi.log mpi 2 "$DPTRAIN" import images pets m.h5
    check "one summary line" [ "$(grep -c '^m.h5: 4 rows' mpi.log)" = 1 ]
    check "the same X" h5diff -q pets.h5 m.h5 X X
    check "the same y" h5diff -q pets.h5 m.h5 y y
}

idx_npy() {
    local pkg=/usr/share/datasets/fashion-mnist
    [ -r "$pkg/t10k-images-idx3-ubyte.gz" ] || die "Debian package dataset-fashion-mnist is missing"
    check "idx --layout image --dtype uint8" run_logged idx.log "$DPTRAIN" import idx \
        "$pkg/t10k-images-idx3-ubyte.gz" "$pkg/t10k-labels-idx1-ubyte.gz" fm.h5 --layout image --dtype uint8
    check "summary: X (10000, 28, 28, 1) uint8" grep -q 'X (10000, 28, 28, 1) uint8, y (10000) int32 0\.\.9' idx.log
    check "idx --layout image (float32)" run_logged idx2.log "$DPTRAIN" import idx \
        "$pkg/t10k-images-idx3-ubyte.gz" fmf.h5 --layout image
    check "the pixels are the IDX bytes; float32 = them / 255" py "
import gzip
raw = np.frombuffer(gzip.open('$pkg/t10k-images-idx3-ubyte.gz').read()[16:], np.uint8)
X, F = h5py.File('fm.h5')['X'][...], h5py.File('fmf.h5')['X'][...]
assert X.shape == (10000, 28, 28, 1) and X.dtype == np.uint8 and F.dtype == np.float32
assert (X.reshape(-1) == raw).all() and X.max() > 0
assert (F == (X * (1.0 / 255.0)).astype(np.float32)).all()
"
    check "4-D uint8 .npy" py "
np.save('im.npy', (np.arange(24) * 10 % 256).astype(np.uint8).reshape(2, 3, 4, 1))
np.save('lab.npy', np.array([1, 0]))
"
    check "import npy (N, H, W, C) --dtype uint8" run_logged npy.log "$DPTRAIN" import npy im.npy \
        lab.npy im.h5 --dtype uint8
    check "npy X (2, 3, 4, 1) uint8" grep -q 'X (2, 3, 4, 1) uint8' npy.log
    check "npy values as saved" py "
assert (h5py.File('im.h5')['X'][...] == np.load('im.npy')).all()
"
    check "import npy (N, H, W, C) float32" run_logged npy2.log "$DPTRAIN" import npy im.npy n2.h5
    check "npy X (2, 3, 4, 1) float32" grep -q 'X (2, 3, 4, 1) float32' npy2.log
}

folders
idx_npy
finish

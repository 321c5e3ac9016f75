#!/bin/bash
# Text through `dptrain import text` (language-model windows, held-out documents, labelled lines,
# --vocab reuse, word level, the Debian fortunes corpus when installed) and the sequence-to-sequence
# task files of `dpt_mkdata addition` / `reverse`: shapes (h5ls), y = X shifted by one, the split
# by document, decoded answers, disjoint train/test files, and bad input (invalid UTF-8 named by
# file and line, exit 1, no output left).
# Usage: import_text.sh DPTRAIN MKDATA H5CMP MPIEXEC SRCDIR WORKROOT MODE   (MODE: text | seq2seq)
. "$(dirname "$0")/lib.sh"
MODE=${1:-text}
e2e_init "import_text_$MODE"
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
py() { "$PY" -c "import h5py, numpy as np
$1"; }
# shape FILE DATASET: "{N, T}" as h5ls prints it
shape() { h5ls "$1/$2" | sed -n 's/.*Dataset \({[^}]*}\).*/\1/p'; }

# The vocabulary of FILE and a decoder, for the Python checks.
VOCAB='def vocab(path):
    f = h5py.File(path)
    return list(f["vocab"].asstr()[...]), f
def text(v, ids):
    return "".join(v[i] for i in ids if i not in (0, 2, 3) or len(v) < 4 or v[2] != "<start>")'

text_lm() {
    printf 'Le café est très bon — oui.\n日本語のテキスト。\n' >fr.txt
    printf 'first doc\n%%\nsecond document here\n%%\nthird one, longer than the others\n%%\nfourth\n%%\nfifth and last\n' >f.txt
    check "import text (char)" run_logged lm.log "$DPTRAIN" import text fr.txt f.txt lm.h5 --seq-len 8 --stride 4
    check "summary line" grep -qE '^lm.h5: [0-9]+ rows, X \([0-9]+, 8\) int32 [0-9]+\.\.[0-9]+, y \([0-9]+, 8\) int32 .*, 2 documents, [0-9]+ tokens \(0 <unk>\), vocabulary [0-9]+ \(char\); [0-9.]+ MiB' lm.log
    check "h5ls: X and y (N, 8), vocab, vocab_counts" [ "$(shape lm.h5 X)" = "$(shape lm.h5 y)" ]
    check "X is (N, 8)" grep -q ', 8}' <<<"$(shape lm.h5 X)"
    check "y = X shifted by one; the windows spell the text; multibyte characters are single tokens" py "$VOCAB
v, f = vocab('lm.h5')
X, y = f['X'][...], f['y'][...]
assert X.dtype == np.int32 and (X[:, 1:] == y[:, :-1]).all()
assert (X[1:, :4] == X[:-1, 4:]).all()                  # stride 4 of 8: overlapping halves
whole = ''.join(v[i] for i in X[0]) + ''.join(''.join(v[i] for i in r[4:]) for r in X[1:])
src = open('fr.txt', encoding='utf-8').read() + open('f.txt', encoding='utf-8').read()
assert src.startswith(whole[:40]), (whole[:40], src[:40])
assert 'é' in v and '—' in v and '日' in v and v[:2] == ['<pad>', '<unk>']
assert f['vocab'].attrs['level'] == 'char' and f['vocab'].attrs['start_id'] == -1
c = f['vocab_counts'][...]
assert c.dtype == np.int64 and len(c) == len(v) and (np.diff(c[2:]) <= 0).all()
"
    check "--holdout by document" run_logged ho.log "$DPTRAIN" import text f.txt tr.h5 \
        --documents percent --holdout 0.4 --holdout-out te.h5 --seed 7 --seq-len 4
    check "two summary lines" [ "$(grep -cE '^(tr|te)\.h5: ' ho.log)" = 2 ]
    check "3 training and 2 held-out documents" grep -q '^te.h5: .*, 2 documents' ho.log
    check "each file holds whole documents, the same vocabulary" py "$VOCAB
v, f = vocab('tr.h5'); w, g = vocab('te.h5')
assert v == w
docs = open('f.txt').read().split('\n%\n')
docs = [d.strip('\n') for d in docs]
def spelled(f):
    X = f['X'][...]
    return ''.join(''.join(v[i] for i in r) for r in X)
tr, te = spelled(f), spelled(g)
held = [d for d in docs if d in te]
assert len(held) == 2 and not any(d in tr for d in held), (held, tr)
"
    check "--vocab reuses the vocabulary" run_logged re.log "$DPTRAIN" import text fr.txt re.h5 --vocab tr.h5 --seq-len 4
    check "the same vocab; unknown characters are <unk>" py "
a, b = h5py.File('tr.h5'), h5py.File('re.h5')
assert list(a['vocab'].asstr()[...]) == list(b['vocab'].asstr()[...])
assert (b['X'][...] == 1).any()
"
    check "word level, --lowercase, --max-vocab" run_logged w.log "$DPTRAIN" import text f.txt w.h5 \
        --level word --lowercase --max-vocab 6 --seq-len 3 --documents percent
    check "word vocabulary of 6" grep -q 'vocabulary 6 (word)' w.log
}

text_labels() {
    printf 'pos\tA good film\nneg\tbad, bad\nneutral\tmeh\npos\ttrès bien\n' >l.tsv
    check "--labels" run_logged l.log "$DPTRAIN" import text l.tsv l.h5 --labels --level word
    check "summary: X, y, lengths, classes" grep -qE '^l.h5: 4 rows, X \(4, 3\) int32 .*y \(4\) int32 0\.\.2, lengths \(4\) int32 1\.\.3, 3 classes \[neg, neutral, pos\]' l.log
    check "padded rows, lengths and class_names" py "
f = h5py.File('l.h5')
X, L = f['X'][...], f['lengths'][...]
assert list(L) == [3, 3, 1, 2] and list(f['y'][...]) == [2, 0, 1, 2]
assert all((X[i, L[i]:] == 0).all() and (X[i, :L[i]] > 0).all() for i in range(4))
assert list(f['class_names'].asstr()[...]) == ['neg', 'neutral', 'pos']
"
    check "--seq-len caps the length" run_logged l2.log "$DPTRAIN" import text l.tsv l2.h5 --labels --seq-len 2
    check "truncation reported" grep -q 'texts truncated to 2 tokens' l2.log
}

text_bad() {
    printf 'good line\nline two\n' >ok.txt
    printf 'good line\nbad \xff byte\n' >bad.txt
    expect_fail "invalid UTF-8" 1 "bad.txt:2: invalid UTF-8 \(byte 0xff at column 5\); expected UTF-8 text" \
        "$DPTRAIN" import text ok.txt bad.txt o.h5 --seq-len 4
    : >empty.txt
    expect_fail "empty input" 1 "empty.txt: no text" "$DPTRAIN" import text empty.txt o.h5
    expect_fail "too few tokens" 1 "ok.txt: 19 tokens .* one window of --seq-len 100 needs 101" \
        "$DPTRAIN" import text ok.txt o.h5
    printf 'pos\tx\nneg\t\n' >e.tsv
    expect_fail "empty labelled text" 1 "e.tsv:2: empty text after the tab" \
        "$DPTRAIN" import text e.tsv o.h5 --labels
    expect_fail "holdout without file" 2 "--holdout F and --holdout-out FILE go together" \
        "$DPTRAIN" import text ok.txt o.h5 --holdout 0.5
    expect_fail "bad level" 2 "bad value for '--level'" "$DPTRAIN" import text ok.txt o.h5 --level byte
    expect_fail "--vocab from a file without one" 1 "ok.h5: no vocabulary|not an HDF5 file" \
        "$DPTRAIN" import text ok.txt o.h5 --vocab ok.txt
    check "no output or temporary file left by any failure" [ -z "$(find . -name 'o.h5*')" ]
}

fortunes() {
    local dir=/usr/share/games/fortunes
    if ! [ -r "$dir/fortunes" ]; then
        echo "skip: Debian package fortunes is not installed (./setup.sh installs it)"
        return
    fi
    local files=()
    for f in "$dir"/*; do
        case $f in *.dat | *.u8) ;; *) [ -f "$f" ] && files+=("$f") ;; esac
    done
    check "import the fortunes corpus by fortune" run_logged fo.log "$DPTRAIN" import text \
        "${files[@]}" fo.h5 --documents percent --holdout 0.1 --holdout-out fo-test.h5 --seed 1
    check "X (N, 100) with thousands of fortunes" grep -qE '^fo.h5: [0-9]{4,} rows, X \([0-9]+, 100\) int32.*, [0-9]{4,} documents' fo.log
    check "fortunes: y = X shifted, same vocabulary in both files" py "
a, b = h5py.File('fo.h5'), h5py.File('fo-test.h5')
for f in (a, b):
    X, y = f['X'][...], f['y'][...]
    assert X.shape[1] == 100 and (X[:, 1:] == y[:, :-1]).all()
assert list(a['vocab'].asstr()[...]) == list(b['vocab'].asstr()[...])
assert b['X'].shape[0] * 5 < a['X'].shape[0]
"
}

seq2seq() {
    check "dpt_mkdata addition" run_logged add.log "$MKDATA" addition add-tr.h5 add-te.h5 --n 3000 --test-n 500 --digits 3 --seed 4
    check "h5ls: source (3000, 7)" [ "$(shape add-tr.h5 source)" = "{3000, 7}" ]
    check "h5ls: answer (3000, 4), target_in and y (3000, 5)" [ "$(shape add-tr.h5 answer)$(shape add-tr.h5 target_in)$(shape add-tr.h5 y)" = "{3000, 4}{3000, 5}{3000, 5}" ]
    check "h5ls: test file (500, 7)" [ "$(shape add-te.h5 source)" = "{500, 7}" ]
    check "addition: the answers are the sums; files disjoint; vocabulary" py "
def rows(path):
    f = h5py.File(path)
    v = list(f['vocab'].asstr()[...])
    assert v[:4] == ['<pad>', '<unk>', '<start>', '<end>'] and ''.join(v[4:]) == '0123456789+ '
    assert f['vocab'].attrs['level'] == 'char'
    S, SL, A = f['source'][...], f['source_lengths'][...], f['answer'][...]
    TI, Y, YL, TL = f['target_in'][...], f['y'][...], f['y_lengths'][...], f['target_in_lengths'][...]
    assert (YL == TL).all()
    qs = []
    for i in range(len(S)):
        q = ''.join(v[t] for t in S[i, :SL[i]])
        assert (S[i, SL[i]:] == 0).all()
        a, b = map(int, q.split('+'))
        ans = ''.join(v[t] for t in Y[i, :YL[i] - 1])
        assert ans == str(a + b) and Y[i, YL[i] - 1] == 3 and (Y[i, YL[i]:] == 0).all(), (q, ans)
        assert TI[i, 0] == 2 and (TI[i, 1:YL[i]] == Y[i, :YL[i] - 1]).all() and (TI[i, YL[i]:] == 0).all()
        assert ''.join(v[t] for t in A[i]) == str(a + b).ljust(4)
        qs.append(tuple(sorted((a, b))))
    return qs
tr, te = rows('add-tr.h5'), rows('add-te.h5')
assert len(set(tr)) == len(tr) and len(set(te)) == len(te) and not set(tr) & set(te)
"
    check "dpt_mkdata reverse" run_logged rev.log "$MKDATA" reverse rev-tr.h5 rev-te.h5 --n 400 --test-n 100 --min-len 3 --max-len 9 --tokens 5
    check "h5ls: source (400, 9), y (400, 10)" [ "$(shape rev-tr.h5 source)$(shape rev-tr.h5 y)" = "{400, 9}{400, 10}" ]
    check "reverse: y is the reversed source then <end>; files disjoint" py "
def rows(path):
    f = h5py.File(path)
    v = list(f['vocab'].asstr()[...])
    assert v[4:] == list('abcde')
    S, SL, TI, Y, YL = (f[k][...] for k in ('source', 'source_lengths', 'target_in', 'y', 'y_lengths'))
    assert (SL >= 3).all() and (SL <= 9).all() and (YL == SL + 1).all()
    out = []
    for i in range(len(S)):
        s = list(S[i, :SL[i]])
        assert list(Y[i, :SL[i]]) == s[::-1] and Y[i, SL[i]] == 3 and (Y[i, SL[i] + 1:] == 0).all()
        assert TI[i, 0] == 2 and list(TI[i, 1:SL[i] + 1]) == s[::-1]
        out.append(tuple(s))
    return out
tr, te = rows('rev-tr.h5'), rows('rev-te.h5')
assert len(set(tr + te)) == len(tr) + len(te)
"
    check "same seed, same files" run_logged add2.log "$MKDATA" addition a2.h5 a2t.h5 --n 3000 --test-n 500 --digits 3 --seed 4
    check "bit-identical source" h5diff -q add-tr.h5 a2.h5 source source
    expect_fail "too many questions" 1 "cannot draw 100 distinct questions with --digits 1" \
        "$MKDATA" addition x.h5 y.h5 --digits 1 --n 90 --test-n 10
    expect_fail "unknown option" 2 "unknown option '--digits'" "$MKDATA" reverse x.h5 y.h5 --digits 2
}

case $MODE in
text)
    text_lm
    text_labels
    text_bad
    fortunes
    ;;
seq2seq) seq2seq ;;
*) die "unknown mode $MODE" ;;
esac
finish

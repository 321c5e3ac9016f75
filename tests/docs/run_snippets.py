#!/usr/bin/python3
# Runs every fenced block of the docs (README.md, docs/*.md, jobs/README.md, CODING.md) so a doc
# cannot show a command, config or script that does not work.  Each doc runs in its own scratch
# directory holding the build's binaries, a copy of configs/ and jobs/, and the fixtures the docs
# take as given (housing.csv, X.npy, y.npy, the Fashion-MNIST files); the source tree is read only.
#
# Fence tags: sh (run with bash -e), yaml (a dptrain config or a fragment of one, loaded by
# `dptrain train CONFIG --set training.epochs=1`), python (run with /usr/bin/python3), console
# ("$ command" lines are run, each output line that follows must match the actual line's first two
# words, numbers as wildcards; "..." stands for any lines), text (output or layout, not run), c (C
# source: needs a same-as marker naming the file of the repository that holds it, which a test
# compiles).  An untagged block fails the test.
#
# A marker comment on the line(s) right before a fence changes how it runs:
#   <!-- docs-test: ITEM; ITEM ... -->   with ITEM one of
#     skip (REASON)      not run here (the reason is listed)
#     slow (REASON)      run only by --slow (the docs_slow test)
#     exit N             the block must end with exit status N
#     set K=V (REASON)   adds --set K=V to every `dptrain train` of the block (shortens a run)
#     before: COMMAND    a shell command run first (state the doc takes as given)
#     wrap: K: V | K: V  yaml fragment: top-level sections added when the fragment lacks them
#     config-only        yaml: accepted when the config reader does not complain (the model need
#                        not fit any data)
#     same-as: FILE      yaml: the block's lines (comments aside) are lines of FILE (under the
#                        scratch directory), in order; c: every non-blank line of the block is a
#                        line of FILE (under the source tree), in order
#     fixture: seq-npy   X.npy (N, T, F), y.npy and lengths.npy as sequences instead of (N, F)
#
# usage: run_snippets.py --source DIR --build DIR --work DIR [--slow] [--list] DOC...
import argparse
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import time

TAGS = ("sh", "yaml", "python", "text", "console", "c")
FENCE = re.compile(r"^(\s*)(```+)\s*([\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class Block:
    def __init__(self, doc, line, tag, text, marker):
        self.doc, self.line, self.tag, self.text = doc, line, tag, text
        self.skip = self.slow = None
        self.exit, self.sets, self.before, self.wrap = 0, [], [], []
        self.config_only, self.fixtures, self.same_as = False, [], None
        self.bad = None
        # Items are separated by ';' outside parentheses (a reason may hold one).
        for item in [i.strip() for i in re.split(r";(?![^()]*\))", marker)] if marker else []:
            self.parse_item(item)

    def parse_item(self, item):
        m = re.match(r"(skip|slow)\s*\((.+)\)$", item)
        if m:
            setattr(self, m.group(1), m.group(2))
        elif re.match(r"exit \d+$", item):
            self.exit = int(item.split()[1])
        elif item.startswith("set "):
            # set K=V (WHY): the reason is for the reader.
            self.sets.append(re.sub(r"\s*\(.*\)$", "", item[4:]).strip())
        elif item.startswith("before:"):
            self.before.append(item[7:].strip())
        elif item.startswith("wrap:"):
            self.wrap = [w.strip() for w in item[5:].split("|")]
        elif item == "config-only":
            self.config_only = True
        elif item.startswith("same-as:"):
            self.same_as = item[8:].strip()
        elif item.startswith("fixture:"):
            self.fixtures.append(item[8:].strip())
        elif item:
            self.bad = f"unknown marker item '{item}'"

    def where(self):
        return f"{self.doc}:{self.line}"


def extract(path, rel):
    """Every fenced block of a Markdown file, with the marker comment right before it."""
    blocks, lines = [], open(path, encoding="utf-8").read().split("\n")
    attached, i = set(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, tag = m.group(1), m.group(2), m.group(3)
        j, body = i + 1, []
        while j < len(lines) and not re.match(r"^\s*" + fence + r"\s*$", lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        marker, k = "", i - 1
        while k >= 0 and lines[k].strip() == "":
            k -= 1
        if k >= 0 and MARKER.match(lines[k]):
            marker = MARKER.match(lines[k]).group(1)
            attached.add(k)
        blocks.append(Block(rel, i + 1, tag, "\n".join(body) + "\n", marker))
        i = j + 1
    # A marker that is not right before a fence would silently do nothing.
    for k, line in enumerate(lines):
        if MARKER.match(line) and k not in attached:
            orphan = Block(rel, k + 1, "marker", line + "\n", "")
            orphan.bad = "a docs-test marker not right before a fenced block"
            blocks.append(orphan)
    return blocks


def write_npy(path, shape, values, dtype):
    """A NumPy .npy file (format 1.0) without NumPy: dtype '<f4' or '<i4'."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        dtype, "".join(f"{d}, " for d in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), dtype[-2]), *values))


def make_scratch(work, source, build):
    """A directory laid out as the source tree the docs run in: build/, configs/, jobs/, data/."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "build", "tools"))
    os.makedirs(os.path.join(work, "data"))
    os.symlink(os.path.join(build, "dptrain"), os.path.join(work, "build", "dptrain"))
    for tool in ("dpt_mkdata", "dpt_h5cmp"):
        os.symlink(os.path.join(build, "tools", tool), os.path.join(work, "build", "tools", tool))
    for d in ("configs", "jobs"):
        shutil.copytree(os.path.join(source, d), os.path.join(work, d))
    # housing.csv: a header, MEDV (README) and price (docs/data.md) columns, 60 rows.
    with open(os.path.join(work, "housing.csv"), "w") as f:
        f.write("CRIM,RM,AGE,TAX,price,MEDV\n")
        for i in range(60):
            f.write(f"{i * 0.01:.2f},{5 + i % 4},{30 + i},{200 + 3 * i},{100 + i},{20 + i * 0.5}\n")
    # X.npy (100, 13) float32 and y.npy (100, 1) float32 (README's `import npy X.npy y.npy`).
    x = [(i * 7 % 13) / 13 for i in range(1300)]
    write_npy(os.path.join(work, "X.npy"), (100, 13), x, "<f4")
    write_npy(os.path.join(work, "y.npy"), (100, 1), [i / 100 for i in range(100)], "<f4")
    # The Fashion-MNIST IDX files in the working directory (docs/data.md imports them by name).
    fm = "/usr/share/datasets/fashion-mnist"
    if os.path.isdir(fm):
        for name in os.listdir(fm):
            os.symlink(os.path.join(fm, name), os.path.join(work, name))


def fixture_seq_npy(work):
    """X.npy (40, 6, 2), y.npy (40, 6, 1), lengths.npy (40) int32: sequences padded to 6 steps."""
    write_npy(os.path.join(work, "X.npy"), (40, 6, 2), [(i % 11) / 11 for i in range(480)], "<f4")
    write_npy(os.path.join(work, "y.npy"), (40, 6, 1), [(i % 5) / 5 for i in range(240)], "<f4")
    write_npy(os.path.join(work, "lengths.npy"), (40,), [3 + i % 4 for i in range(40)], "<i4")


def run(cmd, work, env, timeout=600):
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def with_sets(text, sets):
    """Adds --set K=V to every `dptrain train` command (before a trailing comment)."""
    if not sets:
        return text
    extra = "".join(f" --set {shlex.quote(s)}" for s in sets)
    out = []
    for line in text.split("\n"):
        if re.search(r"dptrain train\b", line):
            code, hash_, comment = line.partition(" #")
            line = code.rstrip() + extra + ("  #" + comment if hash_ else "")
        out.append(line)
    return "\n".join(out)


def normalize(line):
    """A line's shape: its first two words, numbers replaced by '#' (values, versions, kernel
    names and timings vary between machines; what a line is does not)."""
    return " ".join(NUMBER.sub("#", line).split()[:2])


def output_matches(expected, actual):
    """expected lines (numbers as wildcards, "..." for any lines) against the actual output."""
    exp = [normalize(x) for x in expected]
    act = [normalize(x) for x in actual]

    def match(i, j):
        if i == len(exp):
            return j == len(act)
        if expected[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and exp[i] == act[j] and match(i + 1, j + 1)

    return match(0, 0)


def run_block(b, work, env, n):
    """Runs one block; returns None when it passed, else what went wrong."""
    for fx in b.fixtures:
        if fx != "seq-npy":
            return f"unknown fixture '{fx}'"
        fixture_seq_npy(work)
    for cmd in b.before:
        r = run(["bash", "-e", "-o", "pipefail", "-c", cmd], work, env)
        if r.returncode != 0:
            return f"before: {cmd}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    if b.tag == "sh":
        r = run(["bash", "-e", "-o", "pipefail", "-c", with_sets(b.text, b.sets)], work, env)
        if r.returncode != b.exit:
            return f"exit {r.returncode}, expected {b.exit}\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    elif b.tag == "python":
        r = run(["/usr/bin/python3", "-c", b.text], work, env)
        if r.returncode != b.exit:
            hint = ("(setup.sh test installs python3-h5py)\n"
                    if "No module named 'h5py'" in r.stderr else "")
            out = r.stdout[-3000:] + r.stderr[-3000:]
            return f"exit {r.returncode}, expected {b.exit}\n{hint}{out}"
    elif b.tag == "yaml":
        return run_yaml(b, work, env, n)
    elif b.tag == "console":
        return run_console(b, work, env)
    return None


def run_yaml(b, work, env, n):
    """Loads a config with the real reader: dptrain train CONFIG --set training.epochs=1."""
    if b.same_as:
        err = same_lines(b.text, os.path.join(work, b.same_as))
        if err:
            return err
    text = b.text
    for piece in b.wrap:
        key = piece.split(":", 1)[0].strip()
        if not re.search(r"^" + re.escape(key) + r"\s*:", text, re.M):
            text += piece + "\n"
    os.makedirs(os.path.join(work, "docs-test"), exist_ok=True)
    path = f"docs-test/block{n}-line{b.line}.yaml"
    with open(os.path.join(work, path), "w") as f:
        f.write(text)
    sets = ["training.epochs=1", f"output.dir=runs/docs-test-{n}"] + b.sets
    cmd = ["build/dptrain", "train", path] + [a for s in sets for a in ("--set", s)]
    r = run(cmd, work, env)
    out = f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-3000:]}"
    if b.config_only:
        # The config reader names the file in its errors; a later (data) error does not.
        if r.returncode != 0 and (path in r.stderr or "--set " in r.stderr):
            return "the config reader refused it: " + out
        return None
    return None if r.returncode == b.exit else out


def same_lines(text, path, comments=True):
    """Every line of text is a line of path, in order; blank lines aside, and with comments=True
    also '#' comments (yaml, sh); C blocks pass comments=False ('#include' is code)."""
    if not os.path.isfile(path):
        return f"same-as: {path} does not exist"

    def code(lines):
        if comments:
            lines = (re.sub(r"\s+#.*$|^\s*#.*$", "", x) for x in lines)
        return [c for c in (x.rstrip() for x in lines) if c.strip()]

    want, have, i = code(text.split("\n")), code(open(path).read().split("\n")), 0
    for line in want:
        while i < len(have) and have[i] != line:
            i += 1
        if i == len(have):
            return f"'{line.strip()}' is not (in this order) in {path}"
        i += 1
    return None


def run_console(b, work, env):
    """'$ command' lines run in turn; the lines after each are its expected output."""
    steps = []
    for line in b.text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        else:
            return "a console block must start with a '$ command' line"
    for cmd, expected in steps:
        r = run(["bash", "-o", "pipefail", "-c", cmd], work, env)
        if r.returncode != b.exit:
            return f"$ {cmd}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        actual = r.stdout.rstrip("\n").split("\n") if r.stdout.strip() else []
        if not output_matches(expected, actual):
            return f"$ {cmd}: output does not match the doc\nexpected:\n" + "\n".join(
                expected) + "\nactual:\n" + r.stdout
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--slow", action="store_true", help="run only the blocks marked slow")
    ap.add_argument("--list", action="store_true", help="only check tags and list the blocks")
    ap.add_argument("--expect-fail", default=None,
                    help="self-test: pass when exactly these fence lines (a,b,...) fail")
    ap.add_argument("docs", nargs="+")
    a = ap.parse_args()
    source, build = os.path.abspath(a.source), os.path.abspath(a.build)

    failures, skips, ran, deferred = [], [], 0, 0
    for doc in a.docs:
        blocks = extract(os.path.join(source, doc), doc)
        work = os.path.join(os.path.abspath(a.work), doc.replace("/", "_").replace(".md", ""))
        # `dptrain ...` without build/ (docs/config.md) finds the build's binary.
        denv = dict(os.environ, PATH=os.path.join(work, "build") + ":" + os.environ["PATH"])
        scratch = False
        for n, b in enumerate(blocks):
            if b.bad or b.tag not in TAGS:
                failures.append((b, b.bad or f"untagged or unknown fence tag '{b.tag}' "
                                 f"(use one of {', '.join(TAGS)} or a docs-test marker)"))
                continue
            if b.skip:
                skips.append((b, b.skip))
                continue
            if b.tag == "text" or a.list:
                continue
            if b.tag == "c":
                err = (same_lines(b.text, os.path.join(source, b.same_as), comments=False) if b.same_as
                       else "a c block needs a same-as: FILE marker (the file a test compiles)")
                if err:
                    failures.append((b, err))
                continue
            if bool(b.slow) != a.slow:
                deferred += 1
                continue
            if not scratch:
                make_scratch(work, source, build)
                scratch = True
            t0 = time.time()
            err = run_block(b, work, denv, n)
            ran += 1
            print(f"{'FAIL' if err else 'ok  '} {b.where()} ({b.tag}, {time.time() - t0:.1f} s)",
                  flush=True)
            if err:
                failures.append((b, err))
        # The scratch directory holds copies of Fashion-MNIST (~200 MiB): kept only on failure.
        if scratch and not any(b.doc == doc for b, _ in failures):
            shutil.rmtree(work, ignore_errors=True)
    for b, why in skips:
        print(f"skip {b.where()} ({b.tag}): {why}")
    print(f"{ran} blocks run, {len(skips)} skipped, {deferred} left to the "
          f"{'fast' if a.slow else 'slow'} test, {len(failures)} failed")
    for b, why in failures:
        print(f"\nFAILED {b.where()} ({b.tag}):\n{b.text}--\n{why}")
    if a.expect_fail is not None:
        want = sorted(int(x) for x in a.expect_fail.split(","))
        got = sorted(b.line for b, _ in failures)
        print(f"self-test: failed at lines {got}, expected {want}")
        return 0 if got == want else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

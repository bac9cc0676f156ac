"""SHA-256 file hashing: Digest at an earlier commit against Digest now, with sha256sum for reference.

Makes a random file (--size-mib, default 1024: 1 GiB) in a temporary directory, then hashes it
with ``SHA256.hash(contentsOfFile:)`` (the ``digest-bench`` executable, bench/digest-bench) as
built from two trees, in release:

  old   the package at --commit (default: main), exported with ``git archive`` into the
        temporary directory; when that tree has no digest-bench target, this tree's
        bench/digest-bench/main.swift and its one-line target are added to it (it uses only
        Digest's public API, which did not change)
  new   this working tree (``swift build -c release --product digest-bench``)

and with ``sha256sum`` (coreutils). After one untimed read (so the file is in the page cache
for every run: this measures hashing, not the disk), each is run --repeat times (default 3),
alternating old, new, sha256sum. A digest-bench run reports its own time for the call (process
start excluded); sha256sum's is the wall time of the process. All digests must agree.

Prints every run, then per system the best and median seconds and GB/s (10^9 bytes/s, over the
median), and the ratios of the medians.

Usage:
    .venv/bin/python bench/digest_bench.py --commit main
    .venv/bin/python bench/digest_bench.py --old-exe /tmp/old/digest-bench --new-exe .build/release/digest-bench
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = '        .executableTarget(name: "digest-bench", dependencies: ["Digest"], path: "bench/digest-bench"),\n'


def run(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kw)


def make_file(path, mib):
    chunk = 16 << 20
    with open(path, "wb") as f:
        left = mib << 20
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def build_old(commit, work):
    """Exports `commit` into work/old, adds the bench target if missing, builds it; the executable."""
    tree = os.path.join(work, "old")
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    main = os.path.join(tree, "bench", "digest-bench", "main.swift")
    if not os.path.exists(main):
        os.makedirs(os.path.dirname(main))
        shutil.copy(os.path.join(ROOT, "bench", "digest-bench", "main.swift"), main)
    package = os.path.join(tree, "Package.swift")
    with open(package) as f:
        text = f.read()
    if '"digest-bench"' not in text:
        marker = "    targets: [\n"
        if marker not in text:
            sys.exit(f"cannot add the digest-bench target to {commit}'s Package.swift")
        text = text.replace(marker, marker + TARGET, 1)
        with open(package, "w") as f:
            f.write(text)
    resolved = os.path.join(ROOT, "Package.resolved")
    if os.path.exists(resolved) and not os.path.exists(os.path.join(tree, "Package.resolved")):
        shutil.copy(resolved, tree)
    run(["swift", "build", "-c", "release", "--product", "digest-bench", "--package-path", tree])
    return os.path.join(tree, ".build", "release", "digest-bench")


def build_new():
    run(["swift", "build", "-c", "release", "--product", "digest-bench", "--package-path", ROOT])
    return os.path.join(ROOT, ".build", "release", "digest-bench")


def time_bench(exe, path):
    out = subprocess.run([exe, path], check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["sha256"]


def time_sha256sum(path):
    t0 = time.perf_counter()
    out = subprocess.run(["sha256sum", path], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out.split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", default="main", help="revision whose Digest is 'old' (default: main)")
    ap.add_argument("--old-exe", help="an already built old digest-bench (skips exporting and building --commit)")
    ap.add_argument("--new-exe", help="an already built new digest-bench (skips building this tree)")
    ap.add_argument("--size-mib", type=int, default=1024, help="size of the random file in MiB (default 1024)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    ap.add_argument("--work-dir", help="where to make the temporary directory (default: the system's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (file and old build)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="digest-bench-", dir=args.work_dir)
    try:
        old = args.old_exe or build_old(args.commit, work)
        new = args.new_exe or build_new()
        path = os.path.join(work, "random.bin")
        make_file(path, args.size_mib)
        size = os.path.getsize(path)
        with open(path, "rb") as f:  # untimed read: the page cache holds the file for every run
            while f.read(16 << 20):
                pass

        systems = [
            (f"old ({args.commit if not args.old_exe else args.old_exe})", lambda: time_bench(old, path)),
            ("new (this tree)" if not args.new_exe else f"new ({args.new_exe})", lambda: time_bench(new, path)),
            ("sha256sum", lambda: time_sha256sum(path)),
        ]
        times = {name: [] for name, _ in systems}
        digests = set()
        for r in range(args.repeat):
            for name, measure in systems:
                seconds, digest = measure()
                digests.add(digest)
                times[name].append(seconds)
                print(f"run {r + 1}  {name:<28} {seconds:8.3f} s  {size / seconds / 1e9:6.3f} GB/s", flush=True)
        if len(digests) != 1:
            sys.exit(f"the digests differ: {sorted(digests)}")

        print(f"\n{size} bytes ({size / 2**30:.2f} GiB), sha256 {digests.pop()}, {args.repeat} runs each, page cache warm\n")
        print(f"| {'system':<28} | best s | median s | GB/s (median) |")
        print(f"|{'-' * 30}|--------|----------|---------------|")
        medians = {}
        for name, _ in systems:
            medians[name] = statistics.median(times[name])
            print(f"| {name:<28} | {min(times[name]):6.3f} | {medians[name]:8.3f} | {size / medians[name] / 1e9:13.3f} |")
        names = [name for name, _ in systems]
        print(f"\nold / new (median time): {medians[names[0]] / medians[names[1]]:.2f}x  (> 1: new is faster)")
        print(f"sha256sum / new (median time): {medians[names[2]] / medians[names[1]]:.2f}x")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

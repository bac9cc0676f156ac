"""What TLS costs: the same job through `score-cluster coordinator` and two connecting workers, over
loopback, plain TCP and TLS alternating, in one invocation.

For each run it starts a coordinator (`--listen 127.0.0.1:PORT --min-workers N`, a fresh token,
and with TLS a certificate made here with `openssl`) and N `score-cluster worker --connect`
processes (with TLS, `--tls-ca` trusting that certificate), and times the whole thing, from
starting the coordinator until every process has exited. It prints the median wall time of each
mode and the ratio TLS / plain. On one machine the encryption competes with scoring for the same
cores, so this is an upper bound on what TLS costs between machines.

Datasets and models are bench.py's (made under --work-dir, bench/out by default, reused).

Example:
    .venv/bin/python bench/tls_overhead.py --rows 10000000 --model linear --repeat 5
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (bench/bench.py: datasets and models)


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 and its key; returns (certificate, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def run_job(args, model, data, output, token, tls):
    """One job; returns its wall seconds. Exits when any process fails."""
    port = random.randrange(30000, 50000)
    shutil.rmtree(output, ignore_errors=True)
    coordinator = [args.exe, "coordinator", "--listen", f"127.0.0.1:{port}", "--min-workers", str(args.workers),
                   "--token-file", str(token), "--model", str(model), "--input", str(data), "--output", str(output),
                   "--columns", ",".join(bench.FEATURE_COLUMNS), "--preview", "0", "--quiet"]
    worker = [args.exe, "worker", "--connect", f"127.0.0.1:{port}", "--token-file", str(token)]
    if sys.prefix != sys.base_prefix:
        coordinator += ["--python-env", sys.prefix]
        worker += ["--python-env", sys.prefix]
    if tls:
        coordinator += ["--tls-certificate", str(tls[0]), "--tls-key", str(tls[1])]
        worker += ["--tls-ca", str(tls[0])]
    started = time.perf_counter()
    processes = [subprocess.Popen(coordinator, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    processes += [subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                  for _ in range(args.workers)]
    failures = []
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            failures.append(f"{' '.join(process.args[:2])} exited with {process.returncode}:\n{err}")
    seconds = time.perf_counter() - started
    if failures:
        sys.exit("tls_overhead: a run failed:\n" + "\n".join(failures))
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="dataset rows (default: 10,000,000)")
    parser.add_argument("--model", choices=sorted(bench.MODELS), default="linear",
                        help="bench.py model (default: linear, where the engine's own costs show most)")
    parser.add_argument("--workers", type=int, default=2, help="connecting workers (default: 2)")
    parser.add_argument("--files", type=int, default=8, help="part files per dataset (default: 8, as bench.py)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; medians reported (default: 3)")
    parser.add_argument("--exe", default=str(bench.REPO / ".build/release/score-cluster"),
                        help="score-cluster executable (default: .build/release/score-cluster)")
    parser.add_argument("--work-dir", default=str(bench.REPO / "bench/out"), help="datasets and models, as bench.py")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.workers < 1 or args.files < 1 or args.repeat < 1:
        parser.error("--rows, --workers, --files and --repeat must be >= 1")
    if shutil.which(args.exe) is None:
        parser.error(f"no score-cluster executable at {args.exe} (build it with `swift build -c release`, or pass --exe)")
    if shutil.which("openssl") is None:
        parser.error("the openssl command is needed to make a certificate (Debian: apt-get install openssl)")
    work_dir = Path(args.work_dir).resolve()
    model = bench.prepare_models(work_dir, [args.model]) / bench.MODELS[args.model].directory
    data = bench.prepare_dataset(work_dir, args.rows, args.files)
    with tempfile.TemporaryDirectory(prefix="tls-overhead-") as temp:
        temp = Path(temp)
        token = temp / "token"
        token.write_text(os.urandom(32).hex())
        os.chmod(token, 0o600)
        tls = make_certificate(temp)
        times = {"plain": [], "tls": []}
        for index in range(args.repeat):
            for mode in ("plain", "tls"):
                seconds = run_job(args, model, data, temp / "output", token, tls if mode == "tls" else None)
                times[mode].append(seconds)
                print(f"run {index + 1} {mode}: {seconds:.2f} s", file=sys.stderr)
    plain, secure = statistics.median(times["plain"]), statistics.median(times["tls"])
    print(f"| {args.rows:,} rows, model `{args.model}`, {args.workers} workers | plain TCP | TLS | TLS / plain |")
    print("|---|---:|---:|---:|")
    print(f"| median wall s ({args.repeat} runs each) | {plain:.2f} | {secure:.2f} | {secure / plain:.2f}x |")
    print(f"| rows/s | {args.rows / plain:,.0f} | {args.rows / secure:,.0f} | |")


if __name__ == "__main__":
    main()

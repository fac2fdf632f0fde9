#!/usr/bin/env python3
"""Times the MNIST example in adjoint and, in the same invocation, in PyTorch and numpy
(tools/peers), one process at a time, and prints medians and ratios as a Markdown table.

Run through scripts/bench, which builds adjoint and fetches MNIST first. Peers whose
library is not installed are skipped with a note (apt-get install python3-torch
python3-numpy; Debian's torch uses the system BLAS: install libopenblas0-pthread too).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--build", default="build", help="adjoint's build folder")
ap.add_argument("--data", default="data/mnist")
ap.add_argument("--runs", type=int, default=3, help="runs of each configuration (adjoint: seeds 1..runs)")
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--numpy-epochs", type=int, default=2, help="numpy is slow: fewer epochs")
args = ap.parse_args()
if args.runs < 1 or args.epochs < 1 or args.numpy_epochs < 1:
    sys.exit("bench: --runs, --epochs and --numpy-epochs must be positive")
python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def run(cmd, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=full_env).stdout


def peak_rss_mb(cmd, env=None):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, **(env or {}))).stderr
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1)) / 1000


def adjoint(threads):
    epochs, tests, trains = [], [], []
    for seed in range(1, args.runs + 1):
        lines = run([f"{args.build}/tools/mnist", "--data-dir", args.data, "--epochs", str(args.epochs), "--json",
                     "--threads", str(threads), "--seed", str(seed)]).splitlines()
        records = [json.loads(line) for line in lines]
        epochs += [r["seconds"] for r in records if "epoch" in r]
        tests.append(records[-1]["test_accuracy"])
        trains.append(records[-1]["train_accuracy"])
    return {"epochs": epochs, "test": tests, "train": trains}


def peer(script, threads, epochs, env=None):
    results = []
    for seed in range(1, args.runs + 1):
        out = run([python, os.path.join(here, "peers", script), "--data", args.data, "--epochs", str(epochs),
                   "--threads", str(threads), "--seed", str(seed)], env)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {"epochs": [t for r in results for t in r["epoch_s"]], "test": [r["test_accuracy"] for r in results],
            "train": [r["train_accuracy"] for r in results], "blas": results[0]["blas"]}


def has(module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


GFLOP = 98.18  # GEMM work per epoch (tools/peers/mnist_data.py)
rows = []
print("running adjoint on 2 threads, then 1 ...", file=sys.stderr)
rows.append(("adjoint, 2 threads", adjoint(2)))
rows.append(("adjoint, 1 thread", adjoint(1)))
adjoint_rss = peak_rss_mb([f"{args.build}/tools/mnist", "--data-dir", args.data, "--quiet"])
notes = []
if has("torch"):
    print("running PyTorch ...", file=sys.stderr)
    rows.append(("PyTorch, 2 threads (as installed)", peer("torch_mlp.py", 2, args.epochs)))
    rows.append(("PyTorch, 1 thread + 2 BLAS threads", peer("torch_mlp.py", 1, args.epochs, {"OPENBLAS_NUM_THREADS": "2"})))
    torch_rss = peak_rss_mb([python, os.path.join(here, "peers", "torch_mlp.py"), "--data", args.data, "--epochs", "1"])
else:
    torch_rss = None
    notes.append("PyTorch skipped: not installed (apt-get install python3-torch libopenblas0-pthread)")
if has("numpy"):
    print("running numpy ...", file=sys.stderr)
    rows.append((f"numpy, 2 BLAS threads ({args.numpy_epochs} epochs)", peer("numpy_mlp.py", 2, args.numpy_epochs)))
else:
    notes.append("numpy skipped: not installed (apt-get install python3-numpy)")
gemm = run([f"{args.build}/tools/bench_gemm"])
executor = run([f"{args.build}/tools/bench_executor"])

base = statistics.median(rows[0][1]["epochs"])
print(f"\n{args.runs} runs of each, {args.epochs} epochs (numpy {args.numpy_epochs}); median epoch over all of them\n")
print("| run | median epoch | samples/s | GEMM GFLOP/s | adjoint ÷ it | test acc (median) | train acc (median) |")
print("|---|---|---|---|---|---|---|")
for name, r in rows:
    med = statistics.median(r["epochs"])
    blas = f" [{r['blas']}]" if r.get("blas") else ""
    print(f"| {name}{blas} | {med:.3f} s | {60000 / med:,.0f} | {GFLOP / med:.1f} | {base / med:.2f} | "
          f"{statistics.median(r['test']):.4f} | {statistics.median(r['train']):.4f} |")
one = statistics.median(rows[1][1]["epochs"])
print(f"\nadjoint 1 -> 2 threads: {one / base:.2f}x. Peak RSS of a default run: adjoint {adjoint_rss:.1f} MB"
      + (f", PyTorch (1 epoch) {torch_rss:.1f} MB" if torch_rss else "") + ".")
for n in notes:
    print(f"\n{n}")
print("\nGEMM microbenchmarks (build/tools/bench_gemm, 2 threads):\n\n```\n" + gemm + "```")
print("\nExecutor overhead (build/tools/bench_executor):\n\n```\n" + executor + "```")

#!/usr/bin/env python3
"""Times the MNIST example in adjoint and, in the same invocation, in PyTorch and numpy
(bench/peers: also LibTorch, PyTorch's C++ API), one process at a time, and prints medians
and ratios as Markdown tables:
epoch times with GFLOP/s and % of the measured FMA peak (build/bench/bench_peak),
start-up, evaluation, peak RSS, hidden-width scaling, the GEMM and executor
microbenchmarks, and the performance goals, met or not; then the book's convnet
(--model convnet) against the same convnet in PyTorch, with GFLOP/s per layer. Configurations run once per
seed in rotation, so that a slow spell of a shared machine falls on all of them.

Run through scripts/bench, which builds adjoint and fetches MNIST first. Peers whose
library is not installed are skipped with a note (apt-get install python3-torch
python3-numpy libtorch-dev; Debian's torch uses the system BLAS: install libopenblas0-pthread
too). The LibTorch peer is compiled here, into the build folder, when its source changes.
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
ap.add_argument("--widths", default="512,1024,2048", help="hidden widths for the scaling table ('' to skip)")
ap.add_argument("--width-epochs", type=int, default=3, help="epochs per width run (the first, a warm-up, is not counted)")
ap.add_argument("--convnet-runs", type=int, default=1, help="runs of the convnet, each (0 to skip it)")
ap.add_argument("--convnet-epochs", type=int, default=2, help="epochs per convnet run")
args = ap.parse_args()
if args.convnet_runs < 0 or args.convnet_epochs < 1:
    sys.exit("bench: --convnet-runs must be 0 or more, --convnet-epochs positive")
if args.runs < 1 or args.epochs < 1 or args.numpy_epochs < 1 or args.width_epochs < 2:
    sys.exit("bench: --runs, --epochs and --numpy-epochs must be positive, --width-epochs at least 2")
try:
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
except ValueError:
    sys.exit(f"bench: --widths: {args.widths!r} is not a comma-separated list of integers")
python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def run(cmd, env=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=full_env).stdout


def peak_rss_mb(cmd, env=None):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, **(env or {}))).stderr
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1)) / 1000


def adjoint(seed, threads, epochs=None, hidden=512, model="mlp", isa=None, extra=()):
    """One run of the mnist driver (its kernels capped at `isa` if given: ADJOINT_MAX_ISA;
    `extra` flags added); returns its epoch times and final figures."""
    width = ["--hidden", str(hidden)] if model == "mlp" else []
    width += list(extra)
    lines = run([f"{args.build}/tools/mnist", "--data-dir", args.data, "--epochs", str(epochs or args.epochs), "--json",
                 "--threads", str(threads), "--seed", str(seed), "--model", model] + width,
                {"ADJOINT_MAX_ISA": isa} if isa else None).splitlines()
    records = [json.loads(line) for line in lines]
    last = records[-1]
    return {"epochs": [r["seconds"] for r in records if "epoch" in r], "test": [last["test_accuracy"]],
            "train": [last["train_accuracy"]], "startup": [last["startup_seconds"]], "eval": [last["eval_seconds"]]}


def peer(script, threads, epochs, env=None):
    def one(seed):
        out = run([python, os.path.join(here, "peers", script), "--data", args.data, "--epochs", str(epochs),
                   "--threads", str(threads), "--seed", str(seed)], env)
        r = json.loads(out.strip().splitlines()[-1])
        return {"epochs": r["epoch_s"], "test": [r["test_accuracy"]], "train": [r["train_accuracy"]], "blas": r["blas"]}
    return one


def libtorch_peer():
    """Builds bench/peers/libtorch_mlp.cpp into the build folder (when LibTorch's headers are
    installed and the binary is older than its source); returns its path, or None."""
    include = "/usr/include/torch/csrc/api/include"
    source, binary = os.path.join(here, "peers", "libtorch_mlp.cpp"), os.path.join(args.build, "bench", "libtorch_mlp")
    if not os.path.isdir(include):
        return None
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(source):
        print("building the LibTorch peer ...", file=sys.stderr)
        run(["c++", "-O2", "-std=c++17", source, "-isystem", include, "-o", binary, "-ltorch", "-ltorch_cpu", "-lc10"])
    return binary


def libtorch(binary, threads, env=None):
    def one(seed):
        out = run([binary, "--data", args.data, "--epochs", str(args.epochs), "--threads", str(threads),
                   "--seed", str(seed)], env)
        r = json.loads(out.strip().splitlines()[-1])
        return {"epochs": r["epoch_s"], "test": [r["test_accuracy"]], "train": [r["train_accuracy"]]}
    return one


def has(module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


GFLOP = 98.18  # GEMM work per epoch (bench/peers/mnist_data.py)


def measure_peak(peak):
    """Runs bench_peak and keeps, per thread count, the best figure seen so far: of the
    widest vectors (the % of peak), and of AVX2 where that is AVX-512 (reported beside)."""
    global peak_isa
    out = run([f"{args.build}/bench/bench_peak"])
    for m in re.finditer(r"threads (\d+)\s+fma_peak_gflops ([\d.]+)(?:\s+isa (\w+))?", out):
        peak[int(m.group(1))] = max(peak.get(int(m.group(1)), 0), float(m.group(2)))
        peak_isa = m.group(3) or "avx2"
    for m in re.finditer(r"threads (\d+)\s+avx2_fma_peak_gflops ([\d.]+)", out):
        avx2_peak[int(m.group(1))] = max(avx2_peak.get(int(m.group(1)), 0), float(m.group(2)))


peak, avx2_peak, peak_isa = {}, {}, "avx2"
measure_peak(peak)  # now and again at the end: the best of both is the peak
# Every configuration runs once per seed, in rotation, so that a slow spell of this
# shared machine falls on all of them alike rather than on one row.
configs = [("adjoint, 2 threads", 2, lambda seed: adjoint(seed, 2)),
           ("adjoint, 1 thread", 1, lambda seed: adjoint(seed, 1))]
if peak_isa == "avx512":  # the same code on the narrower vectors, for the ratio
    configs.append(("adjoint, 2 threads, AVX2 kernels (ADJOINT_MAX_ISA=avx2)", 2, lambda seed: adjoint(seed, 2, isa="avx2")))
notes = []
if has("torch"):
    configs += [("PyTorch, 2 threads (as installed)", 2, peer("torch_mlp.py", 2, args.epochs)),
                ("PyTorch, 1 thread + 2 BLAS threads", 2, peer("torch_mlp.py", 1, args.epochs, {"OPENBLAS_NUM_THREADS": "2"}))]
else:
    notes.append("PyTorch skipped: not installed (apt-get install python3-torch libopenblas0-pthread)")
libtorch_binary = libtorch_peer()
if libtorch_binary:
    configs.append(("LibTorch C++, 1 thread + 2 BLAS threads", 2,
                    libtorch(libtorch_binary, 1, {"OPENBLAS_NUM_THREADS": "2"})))
else:
    notes.append("LibTorch C++ skipped: not installed (apt-get install libtorch-dev libopenblas0-pthread)")
if has("numpy"):
    configs.append((f"numpy, 2 BLAS threads ({args.numpy_epochs} epochs)", 2, peer("numpy_mlp.py", 2, args.numpy_epochs)))
else:
    notes.append("numpy skipped: not installed (apt-get install python3-numpy)")
def width(w):
    def one(seed):
        r = adjoint(seed, 2, args.width_epochs, w)
        return dict(r, epochs=r["epochs"][1:])  # the first epoch pays for first touches of memory
    return one


configs += [(f"width {w}", 2, width(w)) for w in widths]
results = {name: {"threads": threads} for name, threads, _ in configs}
for seed in range(1, args.runs + 1):
    for name, _, fn in configs:
        print(f"seed {seed}: {name} ...", file=sys.stderr)
        for key, value in fn(seed).items():
            if isinstance(value, list):
                results[name].setdefault(key, []).extend(value)
            else:
                results[name][key] = value
rows = [(name, results[name]) for name, _, _ in configs if not name.startswith("width ")]
scaling = [(w, statistics.median(results[f"width {w}"]["epochs"])) for w in widths]
adjoint_rss = peak_rss_mb([f"{args.build}/tools/mnist", "--data-dir", args.data, "--quiet"])
torch_rss = (peak_rss_mb([python, os.path.join(here, "peers", "torch_mlp.py"), "--data", args.data, "--epochs", "1"])
             if has("torch") else None)
libtorch_rss = (peak_rss_mb([libtorch_binary, "--data", args.data, "--epochs", "1", "--threads", "1"],
                            {"OPENBLAS_NUM_THREADS": "2"}) if libtorch_binary else None)
measure_peak(peak)
gemm = run([f"{args.build}/bench/bench_gemm"])
executor = run([f"{args.build}/bench/bench_executor"])

base = statistics.median(rows[0][1]["epochs"])
print(f"\n{args.runs} runs of each, {args.epochs} epochs (numpy {args.numpy_epochs}); median epoch over all of them\n")
print("| run | median epoch | samples/s | GEMM GFLOP/s | % of FMA peak | adjoint ÷ it | test acc (median) | train acc (median) |")
print("|---|---|---|---|---|---|---|---|")
for name, r in rows:
    med = statistics.median(r["epochs"])
    blas = f" [{r['blas']}]" if r.get("blas") else ""
    p = peak.get(r.get("threads", 2))
    print(f"| {name}{blas} | {med:.3f} s | {60000 / med:,.0f} | {GFLOP / med:.1f} | "
          f"{f'{100 * GFLOP / med / p:.0f} %' if p else 'n/a'} | {base / med:.2f} | "
          f"{statistics.median(r['test']):.4f} | {statistics.median(r['train']):.4f} |")
one = statistics.median(rows[1][1]["epochs"])
startup, evaluation = statistics.median(rows[0][1]["startup"]), statistics.median(rows[0][1]["eval"])
print(f"\nFP32 FMA peak of the widest vectors, {peak_isa} (build/bench/bench_peak): "
      + ", ".join(f"{v:.1f} GFLOP/s on {k} thread{'s' if k > 1 else ''}" for k, v in sorted(peak.items())) + "."
      + (" With AVX2: " + ", ".join(f"{v:.1f} on {k}" for k, v in sorted(avx2_peak.items())) + "." if avx2_peak else ""))
print(f"adjoint 1 -> 2 threads: {one / base:.2f}x. Start-up (data loaded and checked, model built): {startup:.3f} s. "
      f"Evaluating the 10,000 test images: {1000 * evaluation:.0f} ms (medians, 2 threads).")
print(f"Peak RSS of a default run: adjoint {adjoint_rss:.1f} MB" + (f", PyTorch (1 epoch) {torch_rss:.1f} MB" if torch_rss else "")
      + (f", LibTorch C++ (1 epoch) {libtorch_rss:.1f} MB" if libtorch_rss else "") + ".")
if scaling:
    print(f"\nWidth scaling (adjoint, 2 threads, --hidden W, median of epochs 2-{args.width_epochs} of {args.runs} runs; "
          "GEMM work grows as W):\n")
    print("| hidden | median epoch | time ratio | work ratio | time ÷ work |")
    print("|---|---|---|---|---|")
    w0, t0 = scaling[0]
    for w, t in scaling:
        print(f"| {w} | {t:.3f} s | {t / t0:.2f} | {w / w0:.2f} | {t / t0 / (w / w0):.2f} |")
for n in notes:
    print(f"\n{n}")
print("\nGEMM microbenchmarks (build/bench/bench_gemm, 2 threads):\n\n```\n" + gemm + "```")
print("\nExecutor overhead (build/bench/bench_executor):\n\n```\n" + executor + "```")

# The performance goals, as measured above.
def row(prefix):
    return next((r for name, r in rows if name.startswith(prefix)), None)


goals = [("epoch time, 2 threads", f"{base:.3f} s", "≤ 0.45 s", base <= 0.45),
         ("epoch time, 1 thread", f"{one:.3f} s", "≤ 0.85 s", one <= 0.85),
         ("1 → 2 threads", f"{one / base:.2f}x", "≥ 1.8x", one / base >= 1.8)]
if peak.get(2):
    pct = 100 * GFLOP / base / peak[2]
    goals.append((f"GEMM FLOPs ÷ epoch time, of the FMA peak ({peak_isa})", f"{pct:.0f} %", "≥ 65 %", pct >= 65))
    goals.append((f"the same, the widest vectors' bound", f"{pct:.0f} %", "≥ 80 %", pct >= 80))
for prefix, label, bound in (("PyTorch, 1 thread", "tuned PyTorch", 0.33), ("PyTorch, 2 threads", "stock PyTorch", 0.1),
                             ("LibTorch C++", "tuned LibTorch C++", 0.6)):
    r = row(prefix)
    if r:
        ratio = base / statistics.median(r["epochs"])
        goals.append((f"epoch time ÷ {label}'s", f"{ratio:.2f}", f"≤ {bound}", ratio <= bound))
goals += [("peak RSS of a default run", f"{adjoint_rss:.1f} MB", "≤ 100 MB", adjoint_rss <= 100),
          ("start-up to the first step", f"{startup:.3f} s", "≤ 0.2 s", startup <= 0.2),
          ("evaluating 10,000 images", f"{1000 * evaluation:.0f} ms", "≤ 20 ms", evaluation <= 0.02)]
if len(scaling) > 1:
    worst = max(abs(t / scaling[0][1] / (w / scaling[0][0]) - 1) for w, t in scaling[1:])
    goals.append(("width scaling, off the work ratio by", f"{100 * worst:.0f} %", "≤ 15 %", worst <= 0.15))
per_node = [float(v) for v in re.findall(r"([\d.]+) us per node", executor)]
if per_node:
    goals.append(("executor overhead per node", f"{max(per_node):.3f} µs", "≤ 2 µs", max(per_node) <= 2))
print("\nGoals:\n\n| goal | measured | bound | met |\n|---|---|---|---|")
for name, measured, bound, met in goals:
    print(f"| {name} | {measured} | {bound} | {'yes' if met else 'no'} |")
sys.stdout.flush()


def convnet():
    """The book's convnet: adjoint and PyTorch in rotation, then adjoint's time per layer."""
    sys.path.insert(0, os.path.join(here, "peers"))
    import mnist_data
    gflop = mnist_data.CONVNET_FLOPS_PER_SAMPLE * 60000 / 1e9
    runs = [("adjoint convnet, 2 threads", lambda seed: adjoint(seed, 2, args.convnet_epochs, model="convnet"))]
    runs.append(("adjoint convnet, 2 threads, first layer unfused (--no-fuse)",
                 lambda seed: adjoint(seed, 2, args.convnet_epochs, model="convnet", extra=["--no-fuse"])))
    if peak_isa == "avx512":
        runs.append(("adjoint convnet, 2 threads, AVX2 kernels",
                     lambda seed: adjoint(seed, 2, args.convnet_epochs, model="convnet", isa="avx2")))
    if has("torch"):
        runs.append(("PyTorch convnet, 2 threads", peer("torch_convnet.py", 2, args.convnet_epochs)))
    measured = {name: {} for name, _ in runs}
    for seed in range(1, args.convnet_runs + 1):
        for name, fn in runs:
            print(f"seed {seed}: {name} ...", file=sys.stderr)
            for key, value in fn(seed).items():
                if isinstance(value, list):
                    measured[name].setdefault(key, []).extend(value)
    ours = statistics.median(measured[runs[0][0]]["epochs"])
    print(f"\nThe book's convnet (--model convnet, batch 64), {args.convnet_runs} run(s) of {args.convnet_epochs} "
          f"epochs each; {gflop:.1f} GFLOP of products per epoch\n")
    print(f"| run | median epoch | samples/s | GFLOP/s | % of FMA peak ({peak_isa}, 2 threads) | adjoint ÷ it | test acc |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in runs:
        r = measured[name]
        med = statistics.median(r["epochs"])
        p = peak.get(2)
        print(f"| {name} | {med:.3f} s | {60000 / med:,.0f} | {gflop / med:.1f} | "
              f"{f'{100 * gflop / med / p:.0f} %' if p else 'n/a'} | {ours / med:.2f} | {statistics.median(r['test']):.4f} |")
    # Time per layer: one profiled epoch (kernel time of the 25 slowest nodes, forward and
    # gradient nodes of a layer together).
    err = subprocess.run([f"{args.build}/tools/mnist", "--data-dir", args.data, "--model", "convnet", "--epochs", "1",
                          "--threads", "2", "--quiet", "--profile"], check=True, capture_output=True, text=True).stderr
    per_layer = {}
    for ms, node in re.findall(r"^\s*([\d.]+)\s+[\d.]+%\s+\d+\s+(\S+)\s", err, re.M):
        parts = node.split("/")
        layer = parts[1] if parts[0] == "grad" and len(parts) > 1 else parts[0]
        per_layer[layer] = per_layer.get(layer, 0) + float(ms) / 1000
    print("\nPer layer (one profiled epoch, 2 threads; the products' FLOPs over the kernel time of the layer's "
          "forward and gradient nodes; conv2d's nodes are conv2d_max_pool, its pooling's too):\n")
    print("| layer | GFLOP per epoch | kernel time | GFLOP/s |\n|---|---|---|---|")
    for layer, flops in mnist_data.CONVNET_LAYER_FLOPS.items():
        work, t = flops * 60000 / 1e9, per_layer.get(layer)
        print(f"| {layer} | {work:.1f} | {f'{t:.2f} s' if t else 'n/a'} | {f'{work / t:.1f}' if t else 'n/a'} |")
    others = sum(t for layer, t in per_layer.items() if layer not in mnist_data.CONVNET_LAYER_FLOPS)
    print(f"| pooling, loss, optimizer and the rest | | {others:.2f} s | |")
    print("\nThe convolution and pooling ops alone, at the convnet's shapes (build/bench/bench_conv, 2 threads):\n\n```\n"
          + run([f"{args.build}/bench/bench_conv", "--threads", "2"]) + "```")
    rss = peak_rss_mb([f"{args.build}/tools/mnist", "--data-dir", args.data, "--model", "convnet", "--epochs", "1",
                       "--quiet"])
    goals = [("epoch time, convnet, 2 threads", f"{ours:.3f} s", "(no bound)", None)]
    if peak.get(2):
        pct = 100 * gflop / ours / peak[2]
        goals.append(("convnet FLOPs ÷ epoch time, of the FMA peak", f"{pct:.0f} %", "≥ 40 %", pct >= 40))
    torch_run = next((name for name, _ in runs if name.startswith("PyTorch")), None)
    if torch_run:
        ratio = ours / statistics.median(measured[torch_run]["epochs"])
        goals.append(("convnet epoch ÷ PyTorch's", f"{ratio:.2f}", "≤ 0.33", ratio <= 0.33))
    goals.append(("peak RSS of a convnet run", f"{rss:.1f} MB", "≤ 200 MB", rss <= 200))
    print("\nConvnet goals:\n\n| goal | measured | bound | met |\n|---|---|---|---|")
    for name, value, bound, met in goals:
        print(f"| {name} | {value} | {bound} | {'—' if met is None else 'yes' if met else 'no'} |")


if args.convnet_runs:
    convnet()

#!/usr/bin/env python3
"""Data-parallel training, measured and modelled (BENCHMARKS.md, "Training on several
processes"). In one invocation:

1. all-reduce time against message size over shared memory, 2 and 3 ranks
   (build/bench/bench_allreduce: adjoint's ordered sum beside MPI_Allreduce);
2. the MNIST MLP's epoch on 1 process and on 2 and 3 ranks (1 thread each, the same global
   batch of 128), and on 2 ranks with the gradients in 64 KB buckets;
3. with --slow-link (root): two ranks in two network namespaces made here, joined by a
   veth pair whose bandwidth tc's tbf limits, Open MPI's TCP transport pinned to it: the
   all-reduce and the epoch against what the model predicts from the link's rate;
4. the alpha-beta model of a ring all-reduce, T(p) = 2 (p - 1) / p * bytes / bandwidth +
   2 (p - 1) * latency, with the measured compute time of a step: step time and
   efficiency for 8 to 512 ranks on 10, 25 and 100 Gb/s links, for this MLP (1.6 MB of
   gradients) and for a network 100 times larger, without and with overlap.

Every process talks over shared memory, loopback, or the private addresses of the
namespaces this script creates (and deletes).
"""
import argparse
import json
import os
import re
import subprocess
import sys

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--build", default="build")
ap.add_argument("--data", default="data/mnist")
ap.add_argument("--runs", type=int, default=3, help="epochs timed per configuration (the median is kept)")
ap.add_argument("--slow-link", default="", help="tbf rates in Mbit/s for the namespace check, e.g. 1000,250 (root)")
ap.add_argument("--latency-us", type=float, default=20.0, help="the model's per-message latency (tbf cannot add it)")
ap.add_argument("--link-efficiency", type=float, default=0.75,
                help="the share of a link's nominal rate the model counts on (TCP over the tbf link sustained "
                     "0.74-0.76 of it in training steps: BENCHMARKS.md)")
args = ap.parse_args()

env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
mpirun = ["mpirun", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "--mca", "oob_tcp_if_include", "lo"]
bench = os.path.join(args.build, "bench", "bench_allreduce")
mnist = os.path.join(args.build, "tools", "mnist")
for exe in (bench, mnist):
    if not os.access(exe, os.X_OK):
        sys.exit(f"distributed: {exe} is missing: build adjoint with MPI first (scripts/setup, then meson)")


def run(cmd, **kw):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, **kw)
    if r.returncode != 0:
        sys.exit(f"distributed: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout


def allreduce_table(prefix, np, extra):
    out = run(prefix + ["-np", str(np), bench] + extra)
    fit = re.search(r"fit: t = ([-0-9.]+) us \+ bytes / \(([0-9.]+) GB/s\)", out)
    return out, float(fit.group(1)) * 1e-6, float(fit.group(2)) * 1e9


def epoch_seconds(prefix, extra=()):
    """Median over args.runs of the epoch time of one epoch (after a first, warm-up epoch)."""
    out = run(prefix + [mnist, "--data-dir", args.data, "--threads", "1", "--epochs", str(args.runs + 1), "--json",
                        *extra])
    times = [json.loads(l)["seconds"] for l in out.splitlines() if l.startswith('{"epoch"')][1:]
    return sorted(times)[len(times) // 2]


print("## Measured here (shared memory)\n")
shm, shm_mlp_ms = {}, {}
for np in (2, 3):
    table, alpha, beta = allreduce_table(mpirun, np, ["--max-mb", "64", "--repeats", "10"])
    shm[np] = (alpha, beta)
    shm_mlp_ms[np] = float(re.search(rf"\| {407050 * 4} \| ([0-9.]+) \|", table).group(1))
    print(table)
steps = 469  # 60000 / 128, the last batch short
one = epoch_seconds([])
print("| processes (1 thread each) | epoch (s) | per step (ms) | against 1 process |\n|---|---|---|---|")
print(f"| 1 | {one:.3f} | {one / steps * 1e3:.3f} | 1.00x |")
epochs = {1: one}
for np, extra, label in ((2, (), "2"), (3, (), "3"), (2, ("--bucket-bytes", "65536"), "2, 64 KB buckets")):
    t = epoch_seconds(mpirun + ["-np", str(np)], extra)
    epochs.setdefault(np, t)
    print(f"| {label} | {t:.3f} | {t / steps * 1e3:.3f} | {t / one:.2f}x |")
print("\n(3 ranks share 2 cores here: oversubscribed. Each rank computes 1/p of a batch, so the "
      "ideal is 1/p of the 1-process time on p free cores.)\n")

gradient_bytes = 407050 * 4
compute = one / steps  # one rank's step on one thread, batch 128: the weak-scaling unit

if args.slow_link:
    if os.geteuid() != 0:
        sys.exit("distributed: --slow-link makes network namespaces: run it as root")
    a, b = f"adjoint-a{os.getpid()}", f"adjoint-b{os.getpid()}"
    va, vb = f"adja{os.getpid()}"[:15], f"adjb{os.getpid()}"[:15]
    net = "10.231.7"

    def sh(*cmd):
        subprocess.run(cmd, check=True)

    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", a)
        sh("ip", "link", "set", vb, "netns", b)
        for ns, dev, host in ((a, va, 1), (b, vb, 2)):
            sh("ip", "-n", ns, "addr", "add", f"{net}.{host}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # mpirun in namespace a, rank 1 entered into b: Open MPI's TCP transport, its
        # control channel and PMIx all pinned to the veth's private subnet.
        env.update(PMIX_MCA_ptl_tcp_remote_connections="1", PMIX_MCA_ptl_tcp_if_include=f"{net}.0/24")
        link = ["ip", "netns", "exec", a, "mpirun", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include",
                f"{net}.0/24", "--mca", "oob_tcp_if_include", f"{net}.0/24"]
        print("## Checked against a slowed link (two namespaces, veth, tbf)\n")
        print("| tbf rate (Mbit/s) | all-reduce of 4 KB (ms) | of 1.6 MB, alone: measured (ms) | model (ms) "
              "| epoch, 2 ranks: measured (s) | model (s) | all-reduce per step in training (ms) | share of the rate "
              "sustained |\n|---|---|---|---|---|---|---|---|")
        for rate in [int(r) for r in args.slow_link.split(",")]:
            for ns, dev in ((a, va), (b, vb)):
                sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{rate}mbit", "burst",
                   "256kb", "latency", "100ms")
            rank1 = ["ip", "netns", "exec", b]
            out = run(link + ["-np", "1", bench, "--max-mb", "16", "--repeats", "5", ":", "-np", "1", *rank1, bench,
                              "--max-mb", "16", "--repeats", "5"])
            small_ms = float(re.search(r"\| 4096 \| ([0-9.]+) \|", out).group(1))
            measured_ms = float(re.search(rf"\| {gradient_bytes} \| ([0-9.]+) \|", out).group(1))
            # Ring model for p = 2: bytes / bandwidth + 2 latency; the link's bytes per second
            # are tbf's rate.
            model_ms = (2 * (2 - 1) / 2 * gradient_bytes / (rate * 1e6 / 8) + 2 * shm[2][0]) * 1e3
            mn = [mnist, "--data-dir", args.data, "--threads", "1", "--epochs", "2", "--json"]
            out = run(link + ["-np", "1", *mn, ":", "-np", "1", *rank1, *mn])
            t = [json.loads(l)["seconds"] for l in out.splitlines() if l.startswith('{"epoch"')][-1]
            shm_ms = shm_mlp_ms[2]
            model_epoch = epochs[2] + steps * (model_ms - shm_ms) * 1e-3
            # What a training step's all-reduce took: the epoch's excess over shared memory.
            in_training_ms = (t - epochs[2]) / steps * 1e3 + shm_ms
            sustained = gradient_bytes / (in_training_ms * 1e-3) / (rate * 1e6 / 8)
            print(f"| {rate} | {small_ms:.3f} | {measured_ms:.2f} | {model_ms:.2f} | {t:.2f} | {model_epoch:.2f} "
                  f"| {in_training_ms:.2f} | {sustained:.2f} |")
        print()
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)

print("## The cost model, beyond this machine\n")
alpha = args.latency_us * 1e-6
print(f"Ring all-reduce T(p) = 2(p-1)/p * bytes / bandwidth + 2(p-1) * {args.latency_us:.0f} us, the bandwidth "
      f"{args.link_efficiency:.2f} of the link's nominal rate (what TCP sustained in the namespace check); weak scaling: every "
      f"rank keeps a batch of 128, so a step computes {compute * 1e3:.2f} ms (measured above: 1 thread of this "
      "machine) whatever p. Efficiency = compute / (compute + all-reduce). Overlap (buckets sent while the backward "
      "pass, about 2/3 of a step, still runs): only the gradients finished before the last layer's backward can "
      "hide. In this MLP that is the second layer's 5,130 of 407,050 (1.3 %): the first layer's kernel, 99 % of "
      "the bytes, is the backward pass's last result, so overlap cannot pay. The 100x network is taken as a deep "
      "one of equal layers in 4 buckets: 3/4 of its bytes can hide.\n")
for name, nbytes, c, hideable in (("MNIST MLP", gradient_bytes, compute, 5130 / 407050),
                                  ("100x larger", 100 * gradient_bytes, 100 * compute, 3 / 4)):
    print(f"### {name}: {nbytes / 1e6:.1f} MB of gradients, {c * 1e3:.1f} ms of compute per step\n")
    print("| ranks | 10 Gb/s: step (ms) | eff. | overlap eff. | 25 Gb/s: step (ms) | eff. | overlap eff. "
          "| 100 Gb/s: step (ms) | eff. | overlap eff. |\n|---|---|---|---|---|---|---|---|---|---|")
    for p in (8, 16, 32, 64, 128, 256, 512):
        row = [str(p)]
        for gbit in (10, 25, 100):
            t_ar = 2 * (p - 1) / p * nbytes / (args.link_efficiency * gbit * 1e9 / 8) + 2 * (p - 1) * alpha
            step = c + t_ar
            hidden = min(t_ar * hideable, c * 2 / 3)  # under the rest of the backward pass at most
            row += [f"{step * 1e3:.2f}", f"{c / step:.0%}", f"{c / (step - hidden):.0%}"]
        print("| " + " | ".join(row) + " |")
    print()

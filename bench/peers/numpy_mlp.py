#!/usr/bin/python3
"""The MNIST example in plain numpy, forward and backward by hand (see mnist_data.py).

Prints one JSON line like torch_mlp.py. --threads sets the BLAS pool before import.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_data  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--threads", type=int, default=0, help="0: the library's default")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--data", default="data/mnist")
args = ap.parse_args()
mnist_data.set_threads(args.threads)

import numpy as np  # noqa: E402

rng = np.random.default_rng(args.seed)
x_tr, y_tr, x_te, y_te = mnist_data.load(args.data)
n = x_tr.shape[0]
params = [mnist_data.glorot_uniform(rng, 784, 512), np.zeros(512, np.float32),
          mnist_data.glorot_uniform(rng, 512, 10), np.zeros(10, np.float32)]
acc_sq = [np.zeros_like(p) for p in params]
lr, rho, eps = np.float32(1e-3), np.float32(0.9), np.float32(1e-7)

times = []
for epoch in range(args.epochs):
    t0 = time.perf_counter()
    order = rng.permutation(n)
    correct = 0
    for i in range(0, n, 128):
        idx = order[i:i + 128]
        xb, yb = x_tr[idx], y_tr[idx]
        W1, b1, W2, b2 = params
        pre = xb @ W1 + b1
        h = np.maximum(pre, 0)
        z = h @ W2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        correct += int((z.argmax(1) == yb).sum())
        dz = p
        dz[np.arange(len(yb)), yb] -= 1
        dz /= len(yb)                       # mean over the batch
        dh = (dz @ W2.T) * (pre > 0)
        grads = [xb.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
        for q, g, a in zip(params, grads, acc_sq):
            a *= rho
            a += (1 - rho) * g * g
            q -= lr * g / (np.sqrt(a) + eps)
    times.append(time.perf_counter() - t0)

W1, b1, W2, b2 = params
test_acc = float(((np.maximum(x_te @ W1 + b1, 0) @ W2 + b2).argmax(1) == y_te).mean())
median = statistics.median(times)
print(json.dumps({"system": f"numpy {np.__version__}", "threads": args.threads, "blas": mnist_data.blas_core(),
                  "epoch_s": [round(t, 4) for t in times], "median_epoch_s": round(median, 4),
                  "gflops": round(mnist_data.GEMM_FLOPS_PER_SAMPLE * n / median / 1e9, 1),
                  "train_accuracy": round(correct / n, 4), "test_accuracy": round(test_acc, 4)}))

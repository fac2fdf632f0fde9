#!/usr/bin/python3
"""The MNIST example in PyTorch on the CPU, for side-by-side timing (see mnist_data.py).

Prints one JSON line: per-epoch seconds, their median, GFLOP/s, train and test accuracy.
--threads sets torch's threads and, before import, the BLAS pool's (Debian's torch does
its products in the system BLAS, whose pool torch.set_num_threads does not govern).
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
ap.add_argument("--threads", type=int, default=0, help="0: the libraries' defaults")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--data", default="data/mnist")
args = ap.parse_args()
mnist_data.set_threads(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

if args.threads:
    torch.set_num_threads(args.threads)
rng = np.random.default_rng(args.seed)
x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in mnist_data.load(args.data))
n = x_tr.shape[0]
W1 = torch.from_numpy(mnist_data.glorot_uniform(rng, 784, 512)).requires_grad_()
b1 = torch.zeros(512, requires_grad=True)
W2 = torch.from_numpy(mnist_data.glorot_uniform(rng, 512, 10)).requires_grad_()
b2 = torch.zeros(10, requires_grad=True)
params = [W1, b1, W2, b2]
acc_sq = [torch.zeros_like(p) for p in params]
lr, rho, eps = 1e-3, 0.9, 1e-7

times = []
for epoch in range(args.epochs):
    t0 = time.perf_counter()
    order = torch.from_numpy(rng.permutation(n))
    loss_sum, correct = 0.0, 0
    for i in range(0, n, 128):
        idx = order[i:i + 128]
        xb, yb = x_tr.index_select(0, idx), y_tr.index_select(0, idx)
        z = torch.addmm(b2, torch.relu(torch.addmm(b1, xb, W1)), W2)
        loss = F.cross_entropy(z, yb)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, a in zip(params, grads, acc_sq):
                a.mul_(rho).addcmul_(g, g, value=1 - rho)
                p.addcdiv_(g, a.sqrt().add_(eps), value=-lr)
            loss_sum += loss.item() * idx.numel()
            correct += int((z.argmax(1) == yb).sum())
    times.append(time.perf_counter() - t0)

with torch.no_grad():
    test_acc = float((torch.addmm(b2, torch.relu(torch.addmm(b1, x_te, W1)), W2).argmax(1) == y_te).double().mean())
median = statistics.median(times)
print(json.dumps({"system": f"torch {torch.__version__}", "threads": args.threads, "blas": mnist_data.blas_core(),
                  "epoch_s": [round(t, 4) for t in times], "median_epoch_s": round(median, 4),
                  "gflops": round(mnist_data.GEMM_FLOPS_PER_SAMPLE * n / median / 1e9, 1),
                  "train_accuracy": round(correct / n, 4), "test_accuracy": round(test_acc, 4)}))

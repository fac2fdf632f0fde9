#!/usr/bin/python3
"""The book's MNIST convnet (Deep Learning with Python, 5.1) in PyTorch on the CPU, for
side-by-side timing with `mnist --model convnet`.

The recipe, as adjoint runs it: (28, 28, 1) -> Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2)
-> Conv2D(64, 3x3, relu) -> MaxPooling2D(2x2) -> Conv2D(64, 3x3, relu) -> Flatten ->
Dense(64, relu) -> Dense(10, softmax); categorical cross-entropy (mean over the batch),
RMSprop (lr 1e-3, rho 0.9, eps 1e-7), Glorot-uniform kernels (fans of Keras: the
receptive field times the channels), zero biases, batch 64, reshuffled every epoch. Only
the training loop is timed. PyTorch lays images out NCHW; with one input channel the
images are the same bytes.

Prints one JSON line: per-epoch seconds, their median, GFLOP/s, train and test accuracy.
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
x_tr, x_te = x_tr.view(-1, 1, 28, 28), x_te.view(-1, 1, 28, 28)
n = x_tr.shape[0]


def conv_kernel(cin, cout):
    # Keras' fans for a 3x3 kernel: 9 cin in, 9 cout out; PyTorch's layout (cout, cin, 3, 3).
    limit = np.sqrt(6.0 / (9 * cin + 9 * cout))
    w = rng.uniform(-limit, limit, size=(3, 3, cin, cout)).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_()


def dense_kernel(fan_in, fan_out):  # F.linear takes (out, in)
    return torch.from_numpy(np.ascontiguousarray(mnist_data.glorot_uniform(rng, fan_in, fan_out).T)).requires_grad_()


params = [conv_kernel(1, 32), torch.zeros(32), conv_kernel(32, 64), torch.zeros(64), conv_kernel(64, 64),
          torch.zeros(64), dense_kernel(576, 64), torch.zeros(64), dense_kernel(64, 10), torch.zeros(10)]
for p in params:
    p.requires_grad_()


def forward(x):
    c1, b1, c2, b2, c3, b3, d1, e1, d2, e2 = params
    h = F.max_pool2d(F.relu(F.conv2d(x, c1, b1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, c2, b2)), 2)
    h = F.relu(F.conv2d(h, c3, b3)).flatten(1)
    return F.linear(F.relu(F.linear(h, d1, e1)), d2, e2)


acc_sq = [torch.zeros_like(p) for p in params]
lr, rho, eps = 1e-3, 0.9, 1e-7
times = []
for epoch in range(args.epochs):
    t0 = time.perf_counter()
    order = torch.from_numpy(rng.permutation(n))
    correct = 0
    for i in range(0, n, 64):
        idx = order[i:i + 64]
        xb, yb = x_tr.index_select(0, idx), y_tr.index_select(0, idx)
        z = forward(xb)
        loss = F.cross_entropy(z, yb)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, a in zip(params, grads, acc_sq):
                a.mul_(rho).addcmul_(g, g, value=1 - rho)
                p.addcdiv_(g, a.sqrt().add_(eps), value=-lr)
            correct += int((z.argmax(1) == yb).sum())
    times.append(time.perf_counter() - t0)

with torch.no_grad():
    test_acc = float(torch.cat([forward(x_te[i:i + 1000]).argmax(1) for i in range(0, x_te.shape[0], 1000)])
                     .eq(y_te).double().mean())
median = statistics.median(times)
print(json.dumps({"system": f"torch {torch.__version__}", "threads": args.threads, "blas": mnist_data.blas_core(),
                  "epoch_s": [round(t, 4) for t in times], "median_epoch_s": round(median, 4),
                  "gflops": round(mnist_data.CONVNET_FLOPS_PER_SAMPLE * n / median / 1e9, 1),
                  "train_accuracy": round(correct / n, 4), "test_accuracy": round(test_acc, 4)}))

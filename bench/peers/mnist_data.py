"""The MNIST example's data and shared pieces for the peer implementations.

The recipe, as adjoint's tools/mnist runs it: 784 -> Dense(512, relu) -> Dense(10,
softmax), categorical cross-entropy (mean over the batch), RMSprop (lr 1e-3, rho 0.9,
eps 1e-7, w -= lr g / (sqrt(a) + eps)), Glorot-uniform kernels, zero biases, batch 128
(the last batch has 96), reshuffled every epoch. Only the training loop is timed.
"""
import os

# Products per sample: forward x W1, h W2; backward dW1 = x^T dh, dW2 = h^T dz, dh = dz W2^T.
GEMM_FLOPS_PER_SAMPLE = 2 * (2 * 784 * 512 + 3 * 512 * 10)

# The convnet's products per sample, per layer (torch_convnet.py): multiply-adds of the
# forward product times 2 FLOPs, times 3 for forward, input gradient and weight gradient,
# except the first convolution, whose input (the images) needs no gradient.
CONVNET_LAYER_FLOPS = {
    "conv2d": 2 * 2 * (26 * 26 * 32 * 9 * 1),
    "conv2d_1": 3 * 2 * (11 * 11 * 64 * 9 * 32),
    "conv2d_2": 3 * 2 * (3 * 3 * 64 * 9 * 64),
    "dense": 3 * 2 * (576 * 64),
    "dense_1": 3 * 2 * (64 * 10),
}
CONVNET_FLOPS_PER_SAMPLE = sum(CONVNET_LAYER_FLOPS.values())


def set_threads(threads):
    """Before numpy or torch is imported: BLAS thread pools read these when loaded."""
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))


def read_idx(path):
    import numpy as np
    raw = open(path, "rb").read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(data_dir):
    """(x_train, y_train, x_test, y_test): float32 (n, 784) in [0, 1] and int64 labels."""
    import numpy as np

    def images(name):
        return read_idx(os.path.join(data_dir, name)).reshape(-1, 784).astype(np.float32) / 255

    def labels(name):
        return read_idx(os.path.join(data_dir, name)).astype(np.int64)

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def glorot_uniform(rng, fan_in, fan_out):
    import numpy as np
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def blas_core():
    """The BLAS library and the kernel core it picked, when threadpoolctl can tell."""
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')}"
    except ImportError:
        pass
    return None

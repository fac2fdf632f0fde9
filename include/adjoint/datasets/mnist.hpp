// MNIST, or any directory of IDX files in its layout: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or
// with a .gz suffix. Images stay u8 (a float copy would take 4x the memory).
#pragma once

#include <string>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

struct Mnist {
    Tensor train_images;  // u8 (N, 28, 28)
    Tensor train_labels;  // u8 (N,)
    Tensor test_images;   // u8 (M, 28, 28)
    Tensor test_labels;   // u8 (M,)
};

// Loads and checks the four files: images u8 of rank 3, labels u8 of rank 1, as many
// labels as images, every label below `classes`. Errors name the file at fault.
Mnist load_mnist(const std::string& dir, int classes = 10);

}  // namespace adjoint

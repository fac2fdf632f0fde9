// Preparing data for training: seeded shuffles, batches gathered from u8 images and
// scaled to [0, 1], one-hot labels. The last partial batch is used, as Keras does.
#pragma once

#include <cstdint>
#include <vector>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

// A permutation of [0, n) that depends only on n and seed (our own Fisher-Yates on
// std::mt19937_64, so the same on every platform).
std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::uint64_t seed);

// labels (N,) of u8 or i32 in [0, classes) -> f32 (N, classes), as keras.utils.to_categorical.
Tensor to_categorical(const Tensor& labels, int classes);

// Part `index` of `count` equal parts of every batch (data-parallel training: each rank
// takes its part of every global batch). Rows [rows i / count, rows (i + 1) / count).
struct Shard {
    int index = 0, count = 1;
};

// Cuts (N, ...) inputs and targets into batches along a permutation, into buffers that
// are reused from batch to batch. u8 inputs become f32 / 255.
class Batches {
public:
    // inputs: (N, ...) u8 or f32; targets: (N, ...) any dtype.
    Batches(const Tensor& inputs, const Tensor& targets, std::int64_t batch_size);

    // Samples N, and batches: ceil(N / batch_size).
    std::int64_t sample_count() const { return n_; }
    std::int64_t batch_size() const { return batch_; }
    std::int64_t batch_count() const { return (n_ + batch_ - 1) / batch_; }
    // Gathers batch b of `order` (N indices; empty = in order), 16 rows a TBB task, on the
    // threads of the calling arena (Session::on_threads: a session's). The returned
    // tensors are views of internal buffers, valid until the next call.
    std::pair<Tensor, Tensor> get(std::int64_t b, const std::vector<std::int64_t>& order = {}, Shard shard = {});
    // The rows of batch b (the last may be short), and of its part `shard`.
    std::int64_t rows(std::int64_t b) const;
    std::int64_t rows(std::int64_t b, Shard shard) const;

private:
    Tensor inputs_, targets_;
    std::int64_t n_, batch_;
    std::int64_t row_in_, row_out_;  // elements per sample
    Tensor x_, y_;                   // batch buffers of the largest size
};

}  // namespace adjoint

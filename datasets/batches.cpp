// N = samples, B = batch size, D = elements per sample.
#include <adjoint/datasets/batches.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "../core/parallel.hpp"

namespace adjoint {

std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::uint64_t seed) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = i;
    std::mt19937_64 rng(seed);
    for (std::int64_t i = n - 1; i > 0; --i) {
        // Uniform j in [0, i] by rejection: no modulo bias.
        const std::uint64_t range = static_cast<std::uint64_t>(i) + 1;
        const std::uint64_t limit =
            std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
        std::uint64_t r;
        do r = rng();
        while (r >= limit);
        std::swap(idx[static_cast<std::size_t>(i)], idx[static_cast<std::size_t>(r % range)]);
    }
    return idx;
}

Tensor to_categorical(const Tensor& labels, int classes) {
    if (labels.shape().rank() != 1)
        throw Error(fmt::format("to_categorical: labels must be 1-D, got {}", labels.shape()));
    if (classes <= 0) throw Error(fmt::format("to_categorical: classes is {}", classes));
    Tensor out = Tensor::zeros({labels.shape()[0], classes});
    float* o = out.data<float>().data();
    for (std::int64_t i = 0; i < labels.numel(); ++i) {
        const double l = labels.as_double(i);
        if (l < 0 || l >= classes || l != std::trunc(l))
            throw Error(fmt::format("to_categorical: label {} at index {} is not in 0-{}", l, i, classes - 1));
        o[i * classes + static_cast<std::int64_t>(l)] = 1.f;
    }
    return out;
}

Batches::Batches(const Tensor& inputs, const Tensor& targets, std::int64_t batch_size)
    : inputs_(inputs), targets_(targets), n_(inputs.shape().rank() ? inputs.shape()[0] : 0), batch_(batch_size) {
    if (inputs.dtype() != DType::u8 && inputs.dtype() != DType::f32)
        throw Error(fmt::format("Batches: inputs must be u8 or f32, got {}", dtype_name(inputs.dtype())));
    if (inputs.shape().rank() == 0 || targets.shape().rank() == 0 || targets.shape()[0] != n_)
        throw Error(fmt::format("Batches: inputs {} and targets {} must have the same number of rows", inputs.shape(),
                                targets.shape()));
    if (batch_size <= 0) throw Error(fmt::format("Batches: batch size is {}; it must be positive", batch_size));
    batch_ = std::min(batch_, std::max<std::int64_t>(n_, 1));
    row_in_ = n_ ? inputs.numel() / n_ : 0;
    row_out_ = n_ ? targets.numel() / n_ : 0;
    Shape xs = inputs.shape(), ys = targets.shape();
    xs[0] = ys[0] = batch_;
    x_ = Tensor(xs, DType::f32);
    y_ = Tensor(ys, targets.dtype());
}

std::int64_t Batches::rows(std::int64_t b) const {
    if (b < 0 || b >= batch_count()) throw Error(fmt::format("Batches::rows: batch {} of {}", b, batch_count()));
    return std::min(batch_, n_ - b * batch_);
}

std::int64_t Batches::rows(std::int64_t b, Shard shard) const {
    if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
        throw Error(fmt::format("Batches::rows: part {} of {}", shard.index, shard.count));
    const std::int64_t all = rows(b);
    return all * (shard.index + 1) / shard.count - all * shard.index / shard.count;
}

std::pair<Tensor, Tensor> Batches::get(std::int64_t b, const std::vector<std::int64_t>& order, Shard shard) {
    if (b < 0 || b >= batch_count()) throw Error(fmt::format("Batches::get: batch {} of {}", b, batch_count()));
    if (!order.empty() && static_cast<std::int64_t>(order.size()) != n_)
        throw Error(fmt::format("Batches::get: an order of {} indices for {} samples", order.size(), n_));
    if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
        throw Error(fmt::format("Batches::get: part {} of {}", shard.index, shard.count));
    const std::int64_t start = b * batch_ + this->rows(b) * shard.index / shard.count;  // the shard's first row
    const std::int64_t rows = this->rows(b, shard);
    if (!order.empty())  // the batch's indices, checked before any row is read
        for (std::int64_t r = start; r < start + rows; ++r)
            if (order[static_cast<std::size_t>(r)] < 0 || order[static_cast<std::size_t>(r)] >= n_)
                throw Error(fmt::format("Batches::get: order[{}] is {}, not a sample of [0, {})", r,
                                        order[static_cast<std::size_t>(r)], n_));
    float* x = x_.data<float>().data();
    const std::size_t y_bytes = static_cast<std::size_t>(row_out_) * dtype_size(targets_.dtype());
    auto* y = static_cast<std::byte*>(y_.raw());
    const auto* ty = static_cast<const std::byte*>(targets_.raw());
    const auto x_row_bytes = row_in_ * static_cast<std::int64_t>(dtype_size(inputs_.dtype()));
    // In parallel, 16 rows a chunk: shuffled rows are scattered through the data set (47 MB
    // of MNIST's u8 images), and each thread waits for its own rows' memory. The u8 -> f32
    // division runs on the widest vectors (parallel_chunks calls call_isa_cloned()).
    parallel_chunks(rows, 16, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
            const std::int64_t i = order.empty() ? start + r : order[static_cast<std::size_t>(start + r)];
            if (r + 1 < r1) {  // shuffled rows are scattered: fetch the next while this one converts
                const std::int64_t next =
                    order.empty() ? start + r + 1 : order[static_cast<std::size_t>(start + r + 1)];
                const auto* p = static_cast<const char*>(inputs_.raw()) + next * x_row_bytes;
                for (std::int64_t off = 0; off < x_row_bytes; off += 64) __builtin_prefetch(p + off);
            }
            if (inputs_.dtype() == DType::u8) {
                const std::uint8_t* src = inputs_.data<std::uint8_t>().data() + i * row_in_;
                for (std::int64_t k = 0; k < row_in_; ++k)
                    x[r * row_in_ + k] = static_cast<float>(src[k]) / 255.f;  // as x.astype(float32) / 255
            } else {
                std::memcpy(x + r * row_in_, inputs_.data<float>().data() + i * row_in_,
                            static_cast<std::size_t>(row_in_) * 4);
            }
            std::memcpy(y + static_cast<std::size_t>(r) * y_bytes, ty + static_cast<std::size_t>(i) * y_bytes, y_bytes);
        }
    });
    Shape xs = x_.shape(), ys = y_.shape();
    xs[0] = ys[0] = rows;
    return {x_.view(xs, DType::f32), y_.view(ys, y_.dtype())};
}

}  // namespace adjoint

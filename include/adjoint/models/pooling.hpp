// Keras' pooling layers on (batch, height, width, channels) images: MaxPooling2D,
// AveragePooling2D (pool_size (2, 2), strides = pool_size, padding valid by default) and
// GlobalAveragePooling2D. No weights.
#pragma once

#include <adjoint/models/layer.hpp>
#include <adjoint/ops/conv.hpp>

namespace adjoint {

class MaxPooling2D : public Layer {
public:
    explicit MaxPooling2D(std::array<std::int64_t, 2> pool_size = {2, 2}, PoolOptions options = {},
                          std::optional<Shape> input_shape = std::nullopt);
    std::string_view type() const override { return "MaxPooling2D"; }
    Shape output_shape(const Shape& input) const override;  // (H, W, C) -> (OH, OW, C)
    std::int64_t param_count(const Shape& input) const override;
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override { return {}; }

    std::array<std::int64_t, 2> pool_size;
    PoolOptions options;
};

class AveragePooling2D : public Layer {
public:
    explicit AveragePooling2D(std::array<std::int64_t, 2> pool_size = {2, 2}, PoolOptions options = {},
                              std::optional<Shape> input_shape = std::nullopt);
    std::string_view type() const override { return "AveragePooling2D"; }
    Shape output_shape(const Shape& input) const override;  // (H, W, C) -> (OH, OW, C)
    std::int64_t param_count(const Shape& input) const override;
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override { return {}; }

    std::array<std::int64_t, 2> pool_size;
    PoolOptions options;
};

// The mean over height and width: (H, W, C) -> (C,).
class GlobalAveragePooling2D : public Layer {
public:
    explicit GlobalAveragePooling2D(std::optional<Shape> input_shape = std::nullopt);
    std::string_view type() const override { return "GlobalAveragePooling2D"; }
    Shape output_shape(const Shape& input) const override;
    std::int64_t param_count(const Shape& input) const override;
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override { return {}; }
};

}  // namespace adjoint

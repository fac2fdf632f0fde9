// Keras' pooling layers on (batch, height, width, channels) images: MaxPooling2D,
// AveragePooling2D (pool_size (2, 2), strides = pool_size, padding valid by default) and
// GlobalAveragePooling2D. No weights.
#pragma once

#include <adjoint/models/layer.hpp>
#include <adjoint/ops/conv.hpp>

namespace adjoint {

// What the two windowed pooling layers share: the window, the shape rule, no weights.
class Pooling2D : public Layer {
public:
    Shape output_shape(const Shape& input) const override;  // (H, W, C) -> (OH, OW, C)
    std::int64_t param_count(const Shape& input) const override;
    std::vector<Expr> trainable_weights() const override { return {}; }

    std::array<std::int64_t, 2> pool_size;
    PoolOptions options;

protected:
    // type: the subclass's type(), for the errors (it cannot be called from here yet).
    Pooling2D(std::string_view type, std::array<std::int64_t, 2> pool_size, PoolOptions options,
              std::optional<Shape> input_shape);
};

class MaxPooling2D : public Pooling2D {
public:
    explicit MaxPooling2D(std::array<std::int64_t, 2> pool_size = {2, 2}, PoolOptions options = {},
                          std::optional<Shape> input_shape = std::nullopt)
        : Pooling2D("MaxPooling2D", pool_size, options, input_shape) {}
    std::string_view type() const override { return "MaxPooling2D"; }
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
};

class AveragePooling2D : public Pooling2D {
public:
    explicit AveragePooling2D(std::array<std::int64_t, 2> pool_size = {2, 2}, PoolOptions options = {},
                              std::optional<Shape> input_shape = std::nullopt)
        : Pooling2D("AveragePooling2D", pool_size, options, input_shape) {}
    std::string_view type() const override { return "AveragePooling2D"; }
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
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

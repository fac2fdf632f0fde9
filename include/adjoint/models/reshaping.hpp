// Keras' layers that only reshape one sample: Flatten and Reshape. No weights; each is one
// reshape node (a copy today, a free view once reshape is one).
#pragma once

#include <adjoint/models/layer.hpp>

namespace adjoint {

// (d1, d2, ...) -> (d1 * d2 * ...,): what a Dense layer after a convolution needs.
class Flatten : public Layer {
public:
    // input_shape: one sample's shape, needed on a model's first layer only.
    explicit Flatten(std::optional<Shape> input_shape_ = std::nullopt);
    std::string_view type() const override { return "Flatten"; }
    Shape output_shape(const Shape& input) const override;
    std::int64_t param_count(const Shape& input) const override;
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override { return {}; }
};

// One sample to `target_shape`, which may hold one -1 (inferred, as in Keras):
// Reshape({28, 28, 1}).
class Reshape : public Layer {
public:
    explicit Reshape(std::vector<std::int64_t> target_shape, std::optional<Shape> input_shape_ = std::nullopt);
    std::string_view type() const override { return "Reshape"; }
    Shape output_shape(const Shape& input) const override;
    std::int64_t param_count(const Shape& input) const override;
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override { return {}; }

    std::vector<std::int64_t> target;
};

}  // namespace adjoint

// Keras' BatchNormalization over the last axis (channels, or features):
//   training:  y = gamma (x - mean_B) / sqrt(var_B + epsilon) + beta, with the batch's
//              mean and (biased) variance over every other axis, and
//              moving = momentum moving + (1 - momentum) batch, for mean and variance;
//   inference: the same with the moving statistics.
// gamma ones and beta zeros are trainable; the moving mean (zeros) and variance (ones)
// are non-trainable weights, counted as such by the summary and stored by checkpoints.
#pragma once

#include <adjoint/models/layer.hpp>

namespace adjoint {

class BatchNormalization : public Layer {
public:
    explicit BatchNormalization(double momentum = 0.99, double epsilon = 0.001,
                                std::optional<Shape> input_shape = std::nullopt);
    std::string_view type() const override { return "BatchNormalization"; }
    Shape output_shape(const Shape& input) const override;
    // 4 per channel: gamma, beta, the moving mean and variance.
    std::int64_t param_count(const Shape& input) const override;
    std::int64_t non_trainable_param_count(const Shape& input) const override;
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;  // throws: it needs the flag
    bool uses_training_flag() const override { return true; }
    Expr build(Graph& g, const Expr& input, std::uint64_t seed, const Expr& training) override;
    std::vector<Expr> trainable_weights() const override;
    std::vector<Expr> non_trainable_weights() const override;
    std::vector<Expr> state_updates() const override;

    double momentum, epsilon;

    // Made by build().
    Expr gamma, beta, moving_mean, moving_variance;
    std::vector<Expr> updates;
};

}  // namespace adjoint

// Keras' Dropout: while training, each value is zeroed with probability rate and the rest
// scaled by 1 / (1 - rate); at inference (evaluate, predict) the layer is the identity.
// The masks depend on the seed and a step counter the training step increments (a
// non-trainable weight, so a run resumed from a checkpoint draws the masks an
// uninterrupted one would), never on the thread count.
#pragma once

#include <adjoint/models/layer.hpp>

namespace adjoint {

class Dropout : public Layer {
public:
    explicit Dropout(double rate, std::optional<Shape> input_shape = std::nullopt);
    std::string_view type() const override { return "Dropout"; }
    Shape output_shape(const Shape& input) const override { return input; }
    std::int64_t param_count(const Shape&) const override { return 0; }
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;  // throws: it needs the flag
    bool uses_training_flag() const override { return true; }
    Expr build(Graph& g, const Expr& input, std::uint64_t seed, const Expr& training) override;
    std::vector<Expr> trainable_weights() const override { return {}; }
    std::vector<Expr> non_trainable_weights() const override;
    std::vector<Expr> state_updates() const override;

    double rate;
    std::optional<std::uint64_t> seed;  // the masks' seed; default: the model's

    Expr step, next_step;  // made by build(): the counter and its update
};

}  // namespace adjoint

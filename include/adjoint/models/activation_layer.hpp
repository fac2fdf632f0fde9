// Keras' Activation layer: an activation by name on its own, Activation("relu"). (Named
// ActivationLayer in C++, as ad::Activation is the activation function the layers take;
// the summary shows it as Keras does, "activation (Activation)".)
#pragma once

#include <adjoint/models/activations.hpp>
#include <adjoint/models/layer.hpp>

namespace adjoint {

class ActivationLayer : public Layer {
public:
    explicit ActivationLayer(Activation activation, std::optional<Shape> input_shape = std::nullopt);
    std::string_view type() const override { return "Activation"; }
    Shape output_shape(const Shape& input) const override { return input; }
    std::int64_t param_count(const Shape&) const override { return 0; }
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    std::vector<Expr> trainable_weights() const override { return {}; }

    Activation activation;
};

}  // namespace adjoint

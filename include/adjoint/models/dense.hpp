// Dense: Keras' fully connected layer, y = activation(x kernel + bias) on (batch, features)
// inputs, with the kernel Glorot-uniform and the bias zeros by default.
#pragma once

#include <adjoint/models/activations.hpp>
#include <adjoint/models/layer.hpp>

namespace adjoint {

class Dense : public Layer {
public:
    // input_dim: the features of one sample, needed on a model's first layer only
    // (Keras' input_shape=(input_dim,)); 0 = not given.
    Dense(std::int64_t units, Activation activation = "linear", std::int64_t input_dim = 0);

    std::string_view type() const override { return "Dense"; }
    // (features,) -> (units,)
    Shape output_shape(const Shape& input) const override;
    // kernel (features x units) plus bias (units)
    std::int64_t param_count(const Shape& input) const override;
    // relu is the product's epilogue (one matmul_bias node); other activations follow it.
    Expr build(Graph& g, const Expr& input, std::uint64_t seed) override;
    // {kernel, bias}
    std::vector<Expr> trainable_weights() const override;

    std::int64_t units;
    Activation activation;
    std::optional<std::uint64_t> seed;  // the kernel initializer's seed; default: the model's

    // Made by build().
    Expr kernel, bias;
};

}  // namespace adjoint

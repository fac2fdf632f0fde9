// Layers of a Sequential model. Dense is Keras' Dense: y = activation(x kernel + bias),
// kernel Glorot-uniform and bias zeros by default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <adjoint/core/graph.hpp>

namespace adjoint {

enum class Activation { linear, relu, sigmoid, tanh, softmax };

// "relu", "softmax", ... (Keras' names; "linear" or "" for none). Throws on others.
Activation parse_activation(const std::string& name);
std::string_view activation_name(Activation a);

struct Dense {
    Dense(std::int64_t units, const std::string& activation = "linear", std::int64_t input_dim = 0);

    std::int64_t units;
    Activation activation;
    std::int64_t input_dim;             // required on the first layer only
    std::optional<std::uint64_t> seed;  // kernel initializer seed; default: from the model's

    // Filled in when the model is built.
    std::string name;
    Expr kernel, bias;
    Expr pre_activation, output;  // pre_activation = x W + b; not built for relu (fused into output)

    // Creates the variables and nodes in the current scope of `g`.
    void build(Graph& g, const Expr& input, std::uint64_t kernel_seed);
};

}  // namespace adjoint

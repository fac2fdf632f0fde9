// B = batch, I = inputs, O = units.  z = x kernel + bias: (B, I) x (I, O) + (O,)
#include <adjoint/models/layers.hpp>

#include <adjoint/ops/all.hpp>

namespace adjoint {

Activation parse_activation(const std::string& name) {
    if (name.empty() || name == "linear") return Activation::linear;
    if (name == "relu") return Activation::relu;
    if (name == "sigmoid") return Activation::sigmoid;
    if (name == "tanh") return Activation::tanh;
    if (name == "softmax") return Activation::softmax;
    throw Error(fmt::format("unknown activation \"{}\" (linear, relu, sigmoid, tanh, softmax)", name));
}

std::string_view activation_name(Activation a) {
    switch (a) {
        case Activation::linear: return "linear";
        case Activation::relu: return "relu";
        case Activation::sigmoid: return "sigmoid";
        case Activation::tanh: return "tanh";
        case Activation::softmax: return "softmax";
    }
    return "?";
}

Dense::Dense(std::int64_t units_, const std::string& activation_, std::int64_t input_dim_)
    : units(units_), activation(parse_activation(activation_)), input_dim(input_dim_) {
    if (units <= 0) throw Error(fmt::format("Dense: units is {}; it must be positive", units));
    if (input_dim < 0) throw Error(fmt::format("Dense: input_dim is {}; it must be positive", input_dim));
}

void Dense::build(Graph& g, const Expr& input, std::uint64_t kernel_seed) {
    const std::int64_t in = input.shape().back();
    kernel = g.variable("kernel", {in, units}, init::glorot_uniform(seed.value_or(kernel_seed)));
    bias = g.variable("bias", {units}, init::zeros());
    // One node per layer for relu (the bias and the relu are the product's epilogue), and
    // one plus the activation otherwise.
    if (activation == Activation::relu) {
        output = matmul_bias(input, kernel, bias, true);
        return;
    }
    pre_activation = matmul_bias(input, kernel, bias);
    switch (activation) {
        case Activation::linear: output = pre_activation; break;
        case Activation::relu: break;
        case Activation::sigmoid: output = sigmoid(pre_activation); break;
        case Activation::tanh: output = tanh(pre_activation); break;
        case Activation::softmax: output = softmax(pre_activation); break;
    }
}

}  // namespace adjoint

// B = batch, I = inputs (features), O = units.  y = activation(x kernel + bias):
// (B, I) x (I, O) + (O,)
#include <adjoint/models/dense.hpp>

#include <adjoint/core/error.hpp>
#include <adjoint/ops/matmul.hpp>

namespace adjoint {

Dense::Dense(std::int64_t units_, Activation activation_, std::int64_t input_dim)
    : units(units_), activation(activation_) {
    if (units <= 0) throw Error(fmt::format("Dense: units is {}; it must be positive", units));
    if (input_dim < 0) throw Error(fmt::format("Dense: input_dim is {}; it must be positive", input_dim));
    if (input_dim > 0) input_shape = Shape{input_dim};
}

Shape Dense::output_shape(const Shape& input) const {
    if (input.rank() != 1)
        throw Error(
            fmt::format("Dense \"{}\": one sample is {}; Dense takes samples of shape (features,) "
                        "(reshape the inputs first)",
                        name, input));
    return Shape{units};
}

std::int64_t Dense::param_count(const Shape& input) const {
    (void)output_shape(input);  // checks the input
    return input[0] * units + units;
}

Expr Dense::build(Graph& g, const Expr& input, std::uint64_t model_seed) {
    const Shape in = input.shape();
    const Shape sample(std::span<const std::int64_t>(in.begin() + 1, in.end()));  // one sample: no batch dim
    (void)output_shape(sample);                                                   // checks the input
    kernel = g.variable("kernel", {sample[0], units}, init::glorot_uniform(seed.value_or(model_seed)));
    bias = g.variable("bias", {units}, init::zeros());
    if (activation.name() == "relu") return matmul_bias(input, kernel, bias, true);
    return activation(matmul_bias(input, kernel, bias));
}

std::vector<Expr> Dense::trainable_weights() const {
    if (!kernel.valid()) return {};
    return {kernel, bias};
}

}  // namespace adjoint

// y = dropout(x, rate, seed, training, step); step += 1 after every training step.
#include <adjoint/models/dropout.hpp>

#include <adjoint/core/error.hpp>
#include <adjoint/ops/assign.hpp>
#include <adjoint/ops/dropout.hpp>
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/where.hpp>

namespace adjoint {

Dropout::Dropout(double rate_, std::optional<Shape> input_shape_) : rate(rate_) {
    input_shape = input_shape_;
    if (!(rate >= 0 && rate < 1)) throw Error(fmt::format("Dropout: rate {} is not in [0, 1)", rate));
}

Expr Dropout::build(Graph&, const Expr&, std::uint64_t) {
    throw Error(
        fmt::format("Dropout \"{}\": it needs the model's training flag (build it through Sequential, or "
                    "call the ad::dropout op)",
                    name));
}

Expr Dropout::build(Graph& g, const Expr& input, std::uint64_t model_seed, const Expr& training) {
    step = g.variable("step", Tensor::zeros({}, DType::f64));
    // Counted in training steps only (a hand-written loop with the flag at 0 leaves it).
    next_step = assign(step, where(training, step + scalar_like(step, 1, SourceLocation::current()), step));
    // The op's seed attribute is written as a signed 64-bit number: the low 63 bits.
    return dropout(input, rate, seed.value_or(model_seed) & 0x7fffffffffffffffULL, training, step);
}

std::vector<Expr> Dropout::non_trainable_weights() const {
    if (!step.valid()) return {};
    return {step};
}

std::vector<Expr> Dropout::state_updates() const {
    if (!next_step.valid()) return {};
    return {next_step};
}

}  // namespace adjoint

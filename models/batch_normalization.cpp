// C = channels (the last axis); the statistics reduce every other axis, batch included.
#include <adjoint/models/batch_normalization.hpp>

#include <adjoint/core/error.hpp>
#include <adjoint/core/init.hpp>

#include <adjoint/ops/assign.hpp>
#include <adjoint/ops/cast.hpp>
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/reduce.hpp>
#include <adjoint/ops/shape_ops.hpp>
#include <adjoint/ops/where.hpp>
#include <cmath>

namespace adjoint {

BatchNormalization::BatchNormalization(double momentum_, double epsilon_, std::optional<Shape> input_shape_)
    : momentum(momentum_), epsilon(epsilon_) {
    input_shape = input_shape_;
    if (!(momentum >= 0 && momentum <= 1))
        throw Error(fmt::format("BatchNormalization: momentum {} is not in [0, 1]", momentum));
    // The layer computes in f32: epsilon must stay positive and finite there.
    if (!(static_cast<float>(epsilon) > 0) || !std::isfinite(static_cast<float>(epsilon)))
        throw Error(fmt::format("BatchNormalization: epsilon {} is not positive and finite in f32", epsilon));
}

Shape BatchNormalization::output_shape(const Shape& input) const {
    if (input.rank() == 0 || input.has_batch())
        throw Error(fmt::format("BatchNormalization \"{}\": one sample is {}; it needs a channel axis", name, input));
    return input;
}

std::int64_t BatchNormalization::param_count(const Shape& input) const { return 4 * output_shape(input).back(); }
std::int64_t BatchNormalization::non_trainable_param_count(const Shape& input) const {
    return 2 * output_shape(input).back();
}

Expr BatchNormalization::build(Graph&, const Expr&, std::uint64_t) {
    throw Error(
        fmt::format("BatchNormalization \"{}\": it needs the model's training flag (build it through "
                    "Sequential)",
                    name));
}

Expr BatchNormalization::build(Graph& g, const Expr& input, std::uint64_t /*seed*/, const Expr& training) {
    const Expr& x = input;
    const Shape in = x.shape();
    (void)output_shape(Shape(std::span<const std::int64_t>(in.begin() + 1, in.end())));
    const std::int64_t C = in.back();
    gamma = g.variable("gamma", {C}, init::constant(1));
    beta = g.variable("beta", {C}, init::zeros());
    moving_mean = g.variable("moving_mean", {C}, init::zeros());
    moving_variance = g.variable("moving_variance", {C}, init::constant(1));
    std::vector<int> axes;
    for (int d = 0; d + 1 < static_cast<int>(in.rank()); ++d) axes.push_back(d);
    // The batch's statistics (biased variance, as Keras), and the ones this run uses.
    const Expr batch_mean = mean(x, axes);
    const Expr centered = x - batch_mean;
    const Expr batch_variance = mean(square(centered), axes);
    const Expr m = where(training, batch_mean, moving_mean), v = where(training, batch_variance, moving_variance);
    const Expr inv = gamma / sqrt(v + static_cast<float>(epsilon));
    Expr y = (x - m) * inv + beta;
    // The moving statistics: run by training steps, and moved only while the flag is 1
    // (a hand-written loop that runs the updates with the flag at 0 leaves them).
    auto moved = [&](const Expr& moving, const Expr& now) {
        const Expr next = moving * static_cast<float>(momentum) + now * static_cast<float>(1 - momentum);
        return assign(moving, where(training, next, moving));
    };
    updates = {moved(moving_mean, stop_gradient(batch_mean)), moved(moving_variance, stop_gradient(batch_variance))};
    return y;
}

std::vector<Expr> BatchNormalization::trainable_weights() const {
    if (!gamma.valid()) return {};
    return {gamma, beta};
}

std::vector<Expr> BatchNormalization::non_trainable_weights() const {
    if (!moving_mean.valid()) return {};
    return {moving_mean, moving_variance};
}

std::vector<Expr> BatchNormalization::state_updates() const { return updates; }

}  // namespace adjoint

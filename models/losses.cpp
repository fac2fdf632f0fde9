// B = batch, C = classes.
#include <adjoint/models/losses.hpp>

#include <adjoint/core/error.hpp>
#include <adjoint/ops/all.hpp>

namespace adjoint {

namespace {

constexpr double epsilon = 1e-7;  // Keras' backend epsilon

// The logits behind `output` when it is an Op node (ops::Softmax, over the last
// axis; ops::Sigmoid), else none.
template <class Op> std::optional<Expr> logits_of(const Expr& output) {
    if (!ops::as<Op>(output.node())) return std::nullopt;
    return output.graph().expr(output.node().inputs[0]);
}

}  // namespace

Expr categorical_crossentropy(const Expr& output, const Expr& onehot) {
    if (const auto logits = logits_of<ops::Softmax>(output)) return softmax_cross_entropy(*logits, onehot);
    const Expr p = clip(output, epsilon, 1 - epsilon);
    return -sum(onehot * log(p), {-1});
}

Expr sparse_categorical_crossentropy(const Expr& output, const Expr& labels) {
    if (const auto logits = logits_of<ops::Softmax>(output)) return sparse_softmax_cross_entropy(*logits, labels);
    return categorical_crossentropy(output, one_hot(labels, output.shape().back(), output.dtype()));
}

Expr binary_crossentropy(const Expr& output, const Expr& targets) {
    if (const auto logits = logits_of<ops::Sigmoid>(output)) return mean(sigmoid_cross_entropy(*logits, targets), {-1});
    const Expr p = clip(output, epsilon, 1 - epsilon);
    return -mean(targets * log(p) + (1.f - targets) * log(1.f - p), {-1});
}

Expr mean_squared_error(const Expr& y, const Expr& t) { return mean(square(y - t), {-1}); }

Expr mean_absolute_error(const Expr& y, const Expr& t) { return mean(abs(y - t), {-1}); }

Expr correct_predictions(const Expr& y, const Expr& targets) {
    if (y.shape().rank() > 0 && y.shape().back() == 1 && targets.shape().rank() == y.shape().rank()) {
        // Binary: y > 0.5 against the 0 or 1 target.
        const Expr predicted = cast(greater(y, scalar_like(y, 0.5, SourceLocation::current())), y.dtype());
        return cast(equal(predicted, targets), y.dtype());
    }
    const Expr predicted = argmax(y, -1);
    const Expr truth = targets.shape().rank() == y.shape().rank() ? argmax(targets, -1) : cast(targets, DType::i32);
    return cast(equal(predicted, truth), y.dtype());
}

Loss Loss::categorical_crossentropy() {
    return {"categorical_crossentropy", Targets::like_output,
            [](const Expr& y, const Expr& t) { return adjoint::categorical_crossentropy(y, t); }};
}

Loss Loss::sparse_categorical_crossentropy() {
    return {"sparse_categorical_crossentropy", Targets::class_indices,
            [](const Expr& y, const Expr& t) { return adjoint::sparse_categorical_crossentropy(y, t); }};
}

Loss Loss::binary_crossentropy() {
    return {"binary_crossentropy", Targets::like_output,
            [](const Expr& y, const Expr& t) { return adjoint::binary_crossentropy(y, t); }};
}

Loss Loss::mean_absolute_error() {
    return {"mean_absolute_error", Targets::like_output,
            [](const Expr& y, const Expr& t) { return adjoint::mean_absolute_error(y, t); }};
}

Loss Loss::mean_squared_error() {
    return {"mean_squared_error", Targets::like_output,
            [](const Expr& y, const Expr& t) { return adjoint::mean_squared_error(y, t); }};
}

Loss Loss::from_name(std::string_view name) {
    if (name == "categorical_crossentropy") return categorical_crossentropy();
    if (name == "sparse_categorical_crossentropy") return sparse_categorical_crossentropy();
    if (name == "binary_crossentropy") return binary_crossentropy();
    if (name == "mean_squared_error" || name == "mse") return mean_squared_error();
    if (name == "mean_absolute_error" || name == "mae") return mean_absolute_error();
    throw Error(
        fmt::format("unknown loss \"{}\" (categorical_crossentropy, sparse_categorical_crossentropy, "
                    "binary_crossentropy, mean_squared_error or mse, mean_absolute_error or mae)",
                    name));
}

std::string_view metric_name(Metric m) {
    switch (m) {
        case Metric::accuracy: return "accuracy";
    }
    return "?";
}

Metric metric_from_name(std::string_view name) {
    if (name == "accuracy" || name == "acc") return Metric::accuracy;
    throw Error(fmt::format("unknown metric \"{}\" (accuracy)", name));
}

}  // namespace adjoint

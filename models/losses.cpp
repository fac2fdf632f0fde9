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

Expr categorical_accuracy(const Expr& y, const Expr& targets) {
    if (targets.shape() != y.shape() || y.shape().rank() == 0 || y.shape().back() < 2)
        throw Error(fmt::format("categorical_accuracy: the targets {} must be one-hot rows of the outputs' shape {}",
                                targets.shape(), y.shape()));
    return cast(equal(argmax(y, -1), argmax(targets, -1)), y.dtype());
}

Expr sparse_categorical_accuracy(const Expr& y, const Expr& targets) {
    if (targets.shape().rank() + 1 != y.shape().rank() || is_floating(targets.dtype()))
        throw Error(
            fmt::format("sparse_categorical_accuracy: the targets {} {} must be class indices, one per row of "
                        "the outputs {} (a sparse loss)",
                        dtype_name(targets.dtype()), targets.shape(), y.shape()));
    return cast(equal(argmax(y, -1), cast(targets, DType::i32)), y.dtype());
}

Expr binary_accuracy(const Expr& y, const Expr& targets) {
    if (targets.shape() != y.shape() || y.shape().rank() < 2)
        throw Error(fmt::format("binary_accuracy: the targets {} must be 0 or 1 of the outputs' shape {}",
                                targets.shape(), y.shape()));
    const Expr predicted = cast(greater(y, scalar_like(y, 0.5, SourceLocation::current())), y.dtype());
    return mean(cast(equal(predicted, targets), y.dtype()), {-1});
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
        case Metric::categorical_accuracy: return "categorical_accuracy";
        case Metric::sparse_categorical_accuracy: return "sparse_categorical_accuracy";
        case Metric::binary_accuracy: return "binary_accuracy";
    }
    return "?";
}

Metric metric_from_name(std::string_view name) {
    if (name == "accuracy" || name == "acc") return Metric::accuracy;
    if (name == "categorical_accuracy") return Metric::categorical_accuracy;
    if (name == "sparse_categorical_accuracy") return Metric::sparse_categorical_accuracy;
    if (name == "binary_accuracy") return Metric::binary_accuracy;
    throw Error(fmt::format(
        "unknown metric \"{}\" (accuracy, categorical_accuracy, sparse_categorical_accuracy, binary_accuracy)", name));
}

}  // namespace adjoint

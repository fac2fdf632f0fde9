// Keras' losses and metrics. Each loss is an object (a name, the kind of targets it takes
// and a function giving one value per sample), so models may be given losses of their
// own; the functions below build those values as graph nodes, shape (batch,).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <adjoint/core/expr.hpp>

namespace adjoint {

// -sum(onehot * log(p)) per row. When `output` is a softmax node, computed from its
// logits with the fused, stable softmax_cross_entropy (as TensorFlow's Keras does);
// otherwise from the probabilities clipped to [1e-7, 1 - 1e-7], as Keras does.
Expr categorical_crossentropy(const Expr& output, const Expr& onehot);
// The same with integer class labels (batch,).
Expr sparse_categorical_crossentropy(const Expr& output, const Expr& labels);
// -mean(t log(p) + (1 - t) log(1 - p)) over each sample's values. When `output` is a
// sigmoid node, computed from its logits with the stable sigmoid_cross_entropy (as
// TensorFlow's Keras does); otherwise from p clipped to [1e-7, 1 - 1e-7], as Keras does.
Expr binary_crossentropy(const Expr& output, const Expr& targets);
// mean((y - t)^2) over each sample's values.
Expr mean_squared_error(const Expr& y, const Expr& t);
// mean(|y - t|) over each sample's values.
Expr mean_absolute_error(const Expr& y, const Expr& t);
// 1 where the prediction is right, else 0, as y's dtype: argmax(y) is the target class
// (one-hot or integer targets); for one output per sample (binary), y > 0.5 is the 0 or 1
// target (Keras' binary accuracy).
Expr correct_predictions(const Expr& y, const Expr& targets);
// Keras' three accuracies by themselves (correct_predictions picks one by the shapes):
// argmax of one-hot targets; argmax against class indices; and y > 0.5 against 0 or 1
// targets, the share of a sample's outputs right. Each throws an adjoint::Error when the
// targets are not of its kind.
Expr categorical_accuracy(const Expr& y, const Expr& targets);
Expr sparse_categorical_accuracy(const Expr& y, const Expr& targets);
Expr binary_accuracy(const Expr& y, const Expr& targets);

struct Loss {
    // What the targets are: floating values shaped like the output (one-hot rows,
    // regression targets), or class indices of shape (batch,), i32 (u8 is widened).
    enum class Targets { like_output, class_indices };

    std::string name;
    Targets targets = Targets::like_output;
    std::function<Expr(const Expr& output, const Expr& targets)> per_sample;

    static Loss categorical_crossentropy();
    static Loss sparse_categorical_crossentropy();
    static Loss binary_crossentropy();
    static Loss mean_squared_error();
    static Loss mean_absolute_error();
    // By Keras' name: "categorical_crossentropy", "sparse_categorical_crossentropy",
    // "binary_crossentropy", "mean_squared_error" or "mse", "mean_absolute_error" or
    // "mae"; throws an adjoint::Error listing them otherwise.
    static Loss from_name(std::string_view name);
};

// The metrics compile() can add to the loss, averaged over samples like it.
enum class Metric {
    accuracy,  // the share of samples predicted right (correct_predictions)
    // The same, of one kind (Keras' names): reported as "accuracy" too (one per model).
    categorical_accuracy,
    sparse_categorical_accuracy,
    binary_accuracy,
};

std::string_view metric_name(Metric m);
// "accuracy" (or Keras' "acc"), "categorical_accuracy", "sparse_categorical_accuracy",
// "binary_accuracy"; throws an adjoint::Error listing the metrics otherwise.
Metric metric_from_name(std::string_view name);

}  // namespace adjoint

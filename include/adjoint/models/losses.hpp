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
};

std::string_view metric_name(Metric m);
// "accuracy" (or Keras' "acc"); throws an adjoint::Error listing the metrics otherwise.
Metric metric_from_name(std::string_view name);

}  // namespace adjoint

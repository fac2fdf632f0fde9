// Activations by their Keras names, one list shared by layers and ops: "linear" (none),
// "softmax" (over the last axis), and every element-wise function of one tensor of
// ops/elementwise.def ("relu", "sigmoid", "tanh", "softplus", ...), so that an op added
// to that table is an activation too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <adjoint/core/expr.hpp>
#include <adjoint/core/source_location.hpp>

namespace adjoint {

class Activation {
public:
    // Implicit, so that layers take names: Dense(512, "relu"). Throws an adjoint::Error
    // listing the known names when `name` is not one of them.
    Activation(std::string_view name = "linear");
    Activation(const char* name) : Activation(std::string_view(name)) {}
    Activation(const std::string& name) : Activation(std::string_view(name)) {}

    std::string_view name() const { return name_; }
    bool is_linear() const { return apply_ == nullptr; }
    // The activation applied to x (x itself for "linear").
    Expr operator()(const Expr& x, SourceLocation loc = SourceLocation::current()) const;

    // Every known name, in the table's order.
    static std::vector<std::string_view> names();

private:
    std::string_view name_;
    Expr (*apply_)(const Expr&, SourceLocation) = nullptr;
};

}  // namespace adjoint

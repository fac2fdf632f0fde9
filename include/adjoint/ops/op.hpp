// How an op is written: a struct with typed attributes and
//   static constexpr std::string_view name;               // "matmul"
//   std::string attrs() const;                            // for dumps, "" if none
//   TypedShape infer(std::span<const TypedShape>, std::int64_t batch_size) const;
//   void forward(const Inputs& x, Tensor& y) const;       // fast kernel
//   void reference(const Inputs& x, Tensor& y) const;     // naive kernel, for tests
//   Grads gradient(const GradContext& c) const;           // the rule, from ops
// OpAdapter<T> adapts such a struct to the graph's OpBase; make() appends a node for it.
#pragma once

#include <concepts>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <adjoint/core/graph.hpp>
#include <adjoint/core/source_location.hpp>

namespace adjoint::ops {

template <class T>
concept Op = requires(const T& op, std::span<const TypedShape> in, std::int64_t batch_size, const Inputs& x, Tensor& y,
                      const GradContext& c) {
    { T::name } -> std::convertible_to<std::string_view>;
    { op.attrs() } -> std::convertible_to<std::string>;
    { op.infer(in, batch_size) } -> std::same_as<TypedShape>;
    { op.forward(x, y) } -> std::same_as<void>;
    { op.reference(x, y) } -> std::same_as<void>;
    { op.gradient(c) } -> std::same_as<Grads>;
};

// For ops without attributes.
struct NoAttrs {
    std::string attrs() const { return {}; }
};

// An op's attributes read back from what its attrs() wrote (graph files): key=value pairs
// and bare flags, separated by spaces; a value may hold spaces inside brackets
// ("axes=[0, 1] keepdims=true", "transpose_a relu", "shape=(batch, 784)"). An op with
// attributes reads them in `static T from_attrs(const Attrs&)`, beside its attrs(). Each
// getter throws std::invalid_argument naming the attribute and the text.
class Attrs {
public:
    explicit Attrs(std::string_view text);
    bool flag(std::string_view key) const;  // a bare word
    bool has(std::string_view key) const;   // key=value given (for optional values)
    double number(std::string_view key) const;
    std::int64_t integer(std::string_view key) const;
    bool boolean(std::string_view key) const;           // key=true or key=false
    std::vector<int> axes(std::string_view key) const;  // "[0, 1]", or "all": none
    Shape shape(std::string_view key) const;            // "(batch, 784)"
    DType dtype(std::string_view key) const;            // "f32"
    // Throws unless every key and flag is one of `known` (a misspelt attribute).
    void only(std::initializer_list<std::string_view> known) const;

private:
    const std::string& value(std::string_view key) const;
    std::string text_;
    std::vector<std::pair<std::string, std::string>> values_;  // flags have no '=' and an empty value
};

template <Op T> class OpAdapter final : public OpBase {
public:
    explicit OpAdapter(T op) : op_(std::move(op)) {}
    std::string_view name() const override { return T::name; }
    std::string attrs() const override { return op_.attrs(); }
    TypedShape infer(std::span<const TypedShape> in, std::int64_t b) const override { return op_.infer(in, b); }
    void forward(const Inputs& x, Tensor& y) const override { op_.forward(x, y); }
    void reference(const Inputs& x, Tensor& y) const override { op_.reference(x, y); }
    Grads gradient(const GradContext& c) const override { return op_.gradient(c); }
    std::size_t writes_variables() const override {
        if constexpr (requires { T::writes_variables; }) return T::writes_variables;
        else return 0;
    }
    std::size_t workspace_bytes(std::span<const TypedShape> in) const override {
        if constexpr (requires { op_.workspace_bytes(in); }) return op_.workspace_bytes(in);
        else return 0;
    }
    bool is_assign() const override {
        if constexpr (requires { T::is_assign; }) return T::is_assign;
        else return false;
    }
    bool elementwise() const override {
        if constexpr (requires { T::elementwise; }) return T::elementwise;
        else return false;
    }
    bool is_view() const override {
        if constexpr (requires { T::view; }) return T::view;
        else return false;
    }
    bool is_collective() const override {
        if constexpr (requires { T::collective; }) return T::collective;
        else return false;
    }
    bool differentiable() const override {
        if constexpr (requires { T::differentiable; }) return T::differentiable;
        else return true;
    }
    const T& op() const { return op_; }

private:
    T op_;
};

// Appends a node applying `op` to `inputs` (all of one graph) named after the op.
template <Op T> Expr make(T op, std::span<const Expr> inputs, SourceLocation loc) {
    if (inputs.empty()) throw Error(fmt::format("{} ({}): an op needs at least one input", T::name, where(loc)));
    for (std::size_t i = 0; i < inputs.size(); ++i)
        if (!inputs[i].valid())
            throw Error(
                fmt::format("{} ({}): input {} is an empty Expr (default-constructed)", T::name, where(loc), i));
    return inputs.front().graph().append_op(std::make_shared<OpAdapter<T>>(std::move(op)), inputs, std::string(T::name),
                                            loc);
}
template <Op T> Expr make(T op, std::initializer_list<Expr> inputs, SourceLocation loc) {
    return make(std::move(op), std::span<const Expr>(inputs.begin(), inputs.size()), loc);
}

// The op struct behind a node, or nullptr if the node is not a T.
template <Op T> const T* as(const Node& n) {
    if (n.kind != NodeKind::op) return nullptr;
    const auto* m = dynamic_cast<const OpAdapter<T>*>(n.op.get());
    return m ? &m->op() : nullptr;
}

// Gradient-rule helper: grads(c, f0, f1, ...) calls f_i (returning an Expr, or
// std::optional<Expr>) only for the inputs whose gradient is wanted.
template <class... F> Grads grads(const GradContext& c, F&&... f) {
    Grads out;
    std::size_t i = 0;
    auto one = [&](auto& fi) { out.push_back(c.wanted[i++] ? std::optional<Expr>(fi()) : std::nullopt); };
    (one(f), ...);
    return out;
}
// For an input no gradient flows into.
inline std::optional<Expr> no_gradient() { return std::nullopt; }

// Shape-rule helpers: each throws std::invalid_argument with the reason.
void expect_inputs(std::span<const TypedShape> in, std::size_t n);
void expect_floating(const TypedShape& t, std::string_view which);
void expect_same_dtype(const TypedShape& a, const TypedShape& b);
// "[0, 1]" for attrs.
std::string format_axes(std::span<const int> axes);

}  // namespace adjoint::ops

namespace adjoint {

// An Expr operand that remembers where in the user's source the expression was written
// (operators cannot take a defaulted source_location, a converting constructor can).
struct Operand {
    Expr e;
    SourceLocation loc;
    Operand(const Expr& x, SourceLocation l = SourceLocation::current()) : e(x), loc(l) {}
};

// A scalar as a constant of x's dtype, to mix into expressions: x * 2.f.
Expr scalar_like(const Expr& x, double value, SourceLocation loc);

}  // namespace adjoint

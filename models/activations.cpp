#include <adjoint/models/activations.hpp>

#include <array>

#include <adjoint/core/error.hpp>
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/softmax.hpp>
#include <adjoint/ops/where.hpp>

namespace adjoint {

namespace {

struct Entry {
    std::string_view name;
    Expr (*apply)(const Expr&, SourceLocation);
};

Expr softmax_last(const Expr& x, SourceLocation loc) { return softmax(x, -1, loc); }
Expr elu_default(const Expr& x, SourceLocation loc) { return elu(x, 1.0, loc); }
Expr leaky_relu_default(const Expr& x, SourceLocation loc) { return leaky_relu(x, 0.2, loc); }

// "linear", "softmax", "elu" and "leaky_relu" (their default alphas), then the table's
// functions of one tensor.
constexpr std::array entries{
    Entry{"linear", nullptr},
    Entry{"softmax", &softmax_last},
    Entry{"elu", &elu_default},
    Entry{"leaky_relu", &leaky_relu_default},
#define ADJOINT_UNARY(Type, fn, expr, dx) Entry{#fn, &adjoint::fn},
#include <adjoint/ops/elementwise.def>
};

}  // namespace

Activation::Activation(std::string_view name) {
    for (const Entry& e : entries)
        if (e.name == name) {
            name_ = e.name;
            apply_ = e.apply;
            return;
        }
    std::string known;
    for (const Entry& e : entries) known += fmt::format("{}{}", known.empty() ? "" : ", ", e.name);
    throw Error(fmt::format("unknown activation \"{}\" ({})", name, known));
}

Expr Activation::operator()(const Expr& x, SourceLocation loc) const { return apply_ ? apply_(x, loc) : x; }

std::vector<std::string_view> Activation::names() {
    std::vector<std::string_view> out;
    out.reserve(entries.size());
    for (const Entry& e : entries) out.push_back(e.name);
    return out;
}

}  // namespace adjoint

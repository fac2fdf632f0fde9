#include <adjoint/core/numerics.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "check_numerics.hpp"
#include "parallel.hpp"

namespace adjoint {

namespace {

// A float is NaN or infinite when its magnitude bits (all but the sign), read as an
// unsigned integer, are at least those of infinity: a max reduction over the integers
// vectorises (std::isfinite does not, under IEEE rules).
template <class T, class U> bool bits_all_finite(const T* x, std::int64_t n) {
    constexpr U magnitude = static_cast<U>(~U{0} >> 1);
    constexpr U infinity =
        std::is_same_v<T, float> ? static_cast<U>(0x7f800000u) : static_cast<U>(0x7ff0000000000000ull);
    U largest = 0;
    call_isa_cloned(
        [&](std::int64_t b, std::int64_t e) {
            U m = 0;
            for (std::int64_t i = b; i < e; ++i) {
                U u;
                std::memcpy(&u, x + i, sizeof u);
                m = std::max<U>(m, u & magnitude);
            }
            largest = m;
        },
        0, n);
    return largest < infinity;
}

}  // namespace

bool all_finite(const Tensor& t) {
    if (t.empty() || t.numel() == 0) return true;
    switch (t.dtype()) {
        case DType::f32: return bits_all_finite<float, std::uint32_t>(t.data<float>().data(), t.numel());
        case DType::f64: return bits_all_finite<double, std::uint64_t>(t.data<double>().data(), t.numel());
        default: return true;
    }
}

TensorStats tensor_stats(const Tensor& t) {
    TensorStats s;
    if (t.empty()) return s;
    s.count = t.numel();
    long double sum = 0, squares = 0;
    std::int64_t finite = 0;
    for (std::int64_t i = 0; i < s.count; ++i) {
        const double v = t.as_double(i);
        if (std::isnan(v)) ++s.nan;
        else if (std::isinf(v)) ++(v > 0 ? s.pos_inf : s.neg_inf);
        else {
            s.min = finite ? std::min(s.min, v) : v;
            s.max = finite ? std::max(s.max, v) : v;
            sum += v;
            squares += static_cast<long double>(v) * v;
            ++finite;
            continue;
        }
        if (!s.first_non_finite) s.first_non_finite = i;
    }
    if (finite) {
        s.mean = static_cast<double>(sum / static_cast<long double>(finite));
        s.l2 = static_cast<double>(std::sqrt(squares));
    }
    return s;
}

std::string to_string(const TensorStats& s) {
    std::string out = fmt::format("min {:.6g}, max {:.6g}, mean {:.6g}, L2 {:.6g}, {} NaN, {} +inf, {} -inf", s.min,
                                  s.max, s.mean, s.l2, s.nan, s.pos_inf, s.neg_inf);
    if (s.first_non_finite) out += fmt::format(" (the first at index {})", *s.first_non_finite);
    return out;
}

}  // namespace adjoint

namespace adjoint {

std::string non_finite_report(const Graph& g, const Node& n, std::span<const Tensor* const> inputs, const Tensor& bad,
                              std::size_t which, std::optional<std::size_t> in_place) {
    const std::size_t writes = n.op ? n.op->writes_variables() : 0;
    std::string role;
    if (writes > 0) role = fmt::format("an update of variable \"{}\"", g.node(n.inputs[0]).name);
    else if (n.gradient_of)
        role = fmt::format("a gradient node: the gradient of node {} \"{}\" by the {} rule", n.gradient_of->forward,
                           g.node(n.gradient_of->forward).name, n.gradient_of->rule);
    else role = "a forward node";
    if (in_place)
        role += fmt::format(", computed in place into variable \"{}\" (its input {}), which an assign sets to it",
                            g.node(n.inputs[*in_place]).name, *in_place);
    const std::string what = which == 0 ? std::string("its output")
                                        : fmt::format("the variable it overwrites as its input {}, \"{}\",", which,
                                                      g.node(n.inputs[which]).name);
    std::string out = fmt::format(
        "check_numerics: node {} \"{}\" ({}, built at {}; {}) is the first of the run whose values hold NaN or "
        "infinity: {} {} {}: {}",
        n.id, n.name, n.op_name(), where(n.built_at), role, what, dtype_name(bad.dtype()), bad.shape(),
        to_string(tensor_stats(bad)));
    for (std::size_t i = 0; i < inputs.size() && i < n.inputs.size(); ++i) {
        const Node& in = g.node(n.inputs[i]);
        out += fmt::format("\n  input {} \"{}\" ({}) {} {}{}: {}", i, in.name, in.op_name(),
                           dtype_name(inputs[i]->dtype()), inputs[i]->shape(),
                           i < writes || i == in_place ? ", as this step wrote it" : "",
                           to_string(tensor_stats(*inputs[i])));
    }
    out += "\n  No variable was changed by this run.";
    return out;
}

}  // namespace adjoint

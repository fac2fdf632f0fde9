#include <adjoint/ops/op.hpp>

#include <algorithm>
#include <charconv>

namespace adjoint::ops {

void expect_inputs(std::span<const TypedShape> in, std::size_t n) {
    if (in.size() != n) throw std::invalid_argument(fmt::format("expects {} inputs, got {}", n, in.size()));
}

void expect_floating(const TypedShape& t, std::string_view which) {
    if (!is_floating(t.dtype))
        throw std::invalid_argument(
            fmt::format("{} has dtype {}; this op takes f32 or f64", which, dtype_name(t.dtype)));
}

void expect_same_dtype(const TypedShape& a, const TypedShape& b) {
    if (a.dtype != b.dtype)
        throw std::invalid_argument(
            fmt::format("dtypes {} and {} differ (cast one of them)", dtype_name(a.dtype), dtype_name(b.dtype)));
}

std::string format_axes(std::span<const int> axes) {
    std::string s = "[";
    for (std::size_t i = 0; i < axes.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", axes[i]);
    return s + "]";
}

Attrs::Attrs(std::string_view text) : text_(text) {
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ') {
            ++i;
            continue;
        }
        // A word runs to the next space outside brackets.
        int depth = 0;
        const std::size_t start = i;
        for (; i < text.size() && (depth > 0 || text[i] != ' '); ++i) {
            if (text[i] == '(' || text[i] == '[') ++depth;
            if ((text[i] == ')' || text[i] == ']') && --depth < 0)
                throw std::invalid_argument(fmt::format("attributes \"{}\": an unmatched '{}'", text_, text[i]));
        }
        if (depth != 0) throw std::invalid_argument(fmt::format("attributes \"{}\": an unclosed bracket", text_));
        const std::string_view word = text.substr(start, i - start);
        const std::size_t eq = word.find('=');
        std::string key(word.substr(0, eq));
        for (const auto& [k, v] : values_)
            if (k == key) throw std::invalid_argument(fmt::format("attributes \"{}\": {} given twice", text_, key));
        values_.emplace_back(std::move(key),
                             eq == std::string_view::npos ? std::string() : std::string(word.substr(eq + 1)));
    }
}

const std::string& Attrs::value(std::string_view key) const {
    for (const auto& [k, v] : values_)
        if (k == key) return v;
    throw std::invalid_argument(fmt::format("attributes \"{}\": {} is missing", text_, key));
}

bool Attrs::flag(std::string_view key) const {
    for (const auto& [k, v] : values_)
        if (k == key) {
            if (!v.empty())
                throw std::invalid_argument(fmt::format("attributes \"{}\": {} takes no value", text_, key));
            return true;
        }
    return false;
}

bool Attrs::has(std::string_view key) const {
    return std::any_of(values_.begin(), values_.end(), [&](const auto& kv) { return kv.first == key; });
}

double Attrs::number(std::string_view key) const {
    const std::string& v = value(key);
    double d = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty())
        throw std::invalid_argument(fmt::format("attributes \"{}\": {}={} is not a number", text_, key, v));
    return d;
}

std::int64_t Attrs::integer(std::string_view key) const {
    const std::string& v = value(key);
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty())
        throw std::invalid_argument(fmt::format("attributes \"{}\": {}={} is not a whole number", text_, key, v));
    return n;
}

bool Attrs::boolean(std::string_view key) const {
    const std::string& v = value(key);
    if (v == "true" || v == "false") return v == "true";
    throw std::invalid_argument(fmt::format("attributes \"{}\": {}={} is not true or false", text_, key, v));
}

std::vector<int> Attrs::axes(std::string_view key) const {
    const std::string& v = value(key);
    if (v == "all") return {};
    if (v.size() < 2 || v.front() != '[' || v.back() != ']')
        throw std::invalid_argument(fmt::format("attributes \"{}\": {}={} is not [axes] or all", text_, key, v));
    std::vector<int> out;
    std::string_view rest = std::string_view(v).substr(1, v.size() - 2);
    while (!rest.empty()) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        int a = 0;
        const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), a);
        if (ec != std::errc() || out.size() >= Shape::max_rank * 2)
            throw std::invalid_argument(fmt::format("attributes \"{}\": {}={} is not a list of axes", text_, key, v));
        out.push_back(a);
        rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
        if (!rest.empty() && rest.front() != ',')
            throw std::invalid_argument(fmt::format("attributes \"{}\": {}={} is not a list of axes", text_, key, v));
        if (!rest.empty()) rest.remove_prefix(1);
    }
    return out;
}

Shape Attrs::shape(std::string_view key) const {
    try {
        return parse_shape(value(key));
    } catch (const Error& e) {
        throw std::invalid_argument(fmt::format("attributes \"{}\": {}: {}", text_, key, e.what()));
    }
}

DType Attrs::dtype(std::string_view key) const {
    const std::string& v = value(key);
    if (const auto t = dtype_from_name(v)) return *t;
    throw std::invalid_argument(
        fmt::format("attributes \"{}\": {}={} is not a dtype (f32, f64, i32, u8)", text_, key, v));
}

void Attrs::only(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : values_)
        if (std::find(known.begin(), known.end(), k) == known.end())
            throw std::invalid_argument(fmt::format("attributes \"{}\": unknown attribute \"{}\"", text_, k));
}

}  // namespace adjoint::ops

namespace adjoint {

Expr scalar_like(const Expr& x, double value, SourceLocation loc) {
    Tensor scalar;
    try {
        scalar = Tensor::full(Shape{}, value, x.dtype());
    } catch (const Error& e) {
        throw Error(fmt::format("the scalar operand at {} does not fit \"{}\": {}", where(loc), x.name(), e.what()));
    }
    return x.graph().constant(std::move(scalar), loc);
}

}  // namespace adjoint

#include <adjoint/core/init.hpp>

#include <charconv>
#include <cmath>
#include <numbers>
#include <random>

namespace adjoint::init {

namespace {

// Uniform double in [0, 1) from the top 53 bits.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Tensor fill(const Shape& shape, DType dtype, auto&& next) {
    if (shape.has_batch()) throw Error(fmt::format("initializer: variable shape {} may not have a batch dim", shape));
    Tensor t(shape, dtype);
    visit_floating(dtype, "initializer", [&](auto tag) {
        using T = decltype(tag);
        for (T& v : t.data<T>()) v = static_cast<T>(next());
    });
    return t;
}

}  // namespace

Initializer zeros() {
    return {"zeros", [](const Shape& s, DType t) { return Tensor::zeros(s, t); }};
}

Initializer constant(double value) {
    return {fmt::format("constant({})", value), [value](const Shape& s, DType t) { return Tensor::full(s, value, t); }};
}

Initializer uniform(double low, double high, std::uint64_t seed) {
    if (!(low < high)) throw Error(fmt::format("init::uniform: low {} is not below high {}", low, high));
    return {fmt::format("uniform({}, {}, seed={})", low, high, seed), [=](const Shape& s, DType t) {
                std::mt19937_64 rng(seed);
                return fill(s, t, [&] { return low + (high - low) * unit(rng); });
            }};
}

Initializer normal(double mean, double stddev, std::uint64_t seed) {
    if (!(stddev >= 0)) throw Error(fmt::format("init::normal: stddev {} is negative", stddev));
    return {fmt::format("normal({}, {}, seed={})", mean, stddev, seed), [=](const Shape& s, DType t) {
                std::mt19937_64 rng(seed);
                // Box-Muller: two uniforms give two independent standard normals.
                bool have = false;
                double spare = 0;
                return fill(s, t, [&] {
                    if (have) {
                        have = false;
                        return mean + stddev * spare;
                    }
                    const double u1 = 1.0 - unit(rng);  // (0, 1]: log is finite
                    const double u2 = unit(rng);
                    const double r = std::sqrt(-2.0 * std::log(u1));
                    spare = r * std::sin(2 * std::numbers::pi * u2);
                    have = true;
                    return mean + stddev * r * std::cos(2 * std::numbers::pi * u2);
                });
            }};
}

Initializer glorot_uniform(std::uint64_t seed) {
    return {fmt::format("glorot_uniform(seed={})", seed), [=](const Shape& s, DType t) {
                std::int64_t fan_in = 1, fan_out = 1;
                if (s.rank() == 1) fan_in = fan_out = s[0];
                else if (s.rank() >= 2) {
                    // Keras: dims before the last two are a receptive field (conv kernels).
                    std::int64_t field = 1;
                    for (std::size_t i = 0; i + 2 < s.rank(); ++i) field *= s[i];
                    fan_in = s[s.rank() - 2] * field;
                    fan_out = s[s.rank() - 1] * field;
                }
                const double limit = std::sqrt(6.0 / static_cast<double>(std::max<std::int64_t>(fan_in + fan_out, 1)));
                std::mt19937_64 rng(seed);
                return fill(s, t, [&] { return -limit + 2 * limit * unit(rng); });
            }};
}

namespace {

// The numbers of a description `prefix` n1, n2, ..., seed=s `)`, as the functions above
// write them: `count` numbers, and a seed if `seeded`.
struct Described {
    std::vector<double> numbers;
    std::uint64_t seed = 0;
};
std::optional<Described> described(std::string_view d, std::string_view prefix, std::size_t count, bool seeded) {
    if (!d.starts_with(prefix) || !d.ends_with(")")) return std::nullopt;
    d = d.substr(prefix.size(), d.size() - prefix.size() - 1);
    Described out;
    auto separator = [&] {
        if (out.numbers.empty()) return true;
        if (!d.starts_with(", ")) return false;
        d.remove_prefix(2);
        return true;
    };
    for (std::size_t i = 0; i < count; ++i) {
        double v = 0;
        if (!separator()) return std::nullopt;
        const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
        if (ec != std::errc()) return std::nullopt;
        out.numbers.push_back(v);
        d.remove_prefix(static_cast<std::size_t>(end - d.data()));
    }
    if (seeded) {
        if (!out.numbers.empty() && !d.starts_with(", ")) return std::nullopt;
        if (!out.numbers.empty()) d.remove_prefix(2);
        if (!d.starts_with("seed=")) return std::nullopt;
        d.remove_prefix(5);
        const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), out.seed);
        if (ec != std::errc()) return std::nullopt;
        d.remove_prefix(static_cast<std::size_t>(end - d.data()));
    }
    if (!d.empty()) return std::nullopt;
    return out;
}

}  // namespace

std::optional<Initializer> from_description(std::string_view d) {
    if (d == "zeros") return zeros();
    if (auto v = described(d, "constant(", 1, false)) return constant(v->numbers[0]);
    if (auto v = described(d, "glorot_uniform(", 0, true)) return glorot_uniform(v->seed);
    try {
        if (auto v = described(d, "uniform(", 2, true)) return uniform(v->numbers[0], v->numbers[1], v->seed);
        if (auto v = described(d, "normal(", 2, true)) return normal(v->numbers[0], v->numbers[1], v->seed);
    } catch (const Error&) {
        return std::nullopt;  // low >= high, a negative stddev: not what they write
    }
    return std::nullopt;
}

}  // namespace adjoint::init

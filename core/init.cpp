#include <adjoint/core/init.hpp>

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

}  // namespace adjoint::init

// Initializers for Graph::variable(name, shape, init): seeded and reproducible on every
// platform (std::mt19937_64 has a standard output sequence; the conversions are ours).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <adjoint/core/tensor.hpp>

namespace adjoint {

struct Initializer {
    std::string description;  // for dumps: "glorot_uniform(seed=1)"
    std::function<Tensor(const Shape&, DType)> make;
};

namespace init {

Initializer zeros();
Initializer constant(double value);
// Uniform on [low, high).
Initializer uniform(double low, double high, std::uint64_t seed);
Initializer normal(double mean, double stddev, std::uint64_t seed);
// Keras' default kernel initializer: uniform on [-l, l), l = sqrt(6 / (fan_in + fan_out)),
// with fan_in = shape[0] and fan_out = shape[1] for a (inputs, outputs) kernel.
Initializer glorot_uniform(std::uint64_t seed);

// The initializer a description names, as the functions above write it
// ("glorot_uniform(seed=1)", "uniform(-0.5, 0.5, seed=3)"), if it is one of them.
std::optional<Initializer> from_description(std::string_view description);

}  // namespace init
}  // namespace adjoint

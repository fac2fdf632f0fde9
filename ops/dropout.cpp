// N = elements of x. keep(i) = u(seed, step, i) >= rate; y[i] = keep(i) ? x[i] * s : 0 with
// s = 1 / (1 - rate) in x's dtype, when training; y = x otherwise.
#include <adjoint/ops/dropout.hpp>

#include <cmath>
#include <cstring>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

namespace {
std::uint64_t splitmix64(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
}  // namespace

bool dropout_keeps(std::uint64_t seed, std::int64_t step, std::int64_t i, double rate) {
    const std::uint64_t stream = splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(step)));
    const double u = static_cast<double>(splitmix64(stream + static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
    return u >= rate;
}

std::string Dropout::attrs() const { return fmt::format("rate={} seed={}", rate, seed); }
Dropout Dropout::from_attrs(const Attrs& a) {
    a.only({"rate", "seed"});
    const std::int64_t seed = a.integer("seed");
    if (seed < 0) throw std::invalid_argument(fmt::format("seed={} is negative", seed));
    return {a.number("rate"), static_cast<std::uint64_t>(seed)};
}

TypedShape Dropout::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 3);
    expect_floating(in[0], "x");
    // In x's dtype too: a rate just below 1 rounds to 1 in f32, and 1 / (1 - rate) to inf.
    if (!(rate >= 0 && rate < 1) || (in[0].dtype == DType::f32 && !(static_cast<float>(rate) < 1.f)))
        throw std::invalid_argument(fmt::format("rate {} is not in [0, 1) in {}", rate, dtype_name(in[0].dtype)));
    if (seed > static_cast<std::uint64_t>(INT64_MAX))  // attrs() writes it, from_attrs reads an int64
        throw std::invalid_argument(fmt::format("seed {} is above 2^63 - 1", seed));
    if (in[1].dtype != DType::u8 || in[1].shape.rank() != 0)
        throw std::invalid_argument(
            fmt::format("the training flag is {} {}; it must be a u8 scalar", dtype_name(in[1].dtype), in[1].shape));
    if (in[2].dtype != DType::f64 || in[2].shape.rank() != 0)
        throw std::invalid_argument(
            fmt::format("the step is {} {}; it must be an f64 scalar", dtype_name(in[2].dtype), in[2].shape));
    return in[0];
}

void Dropout::forward(const Inputs& x, Tensor& y) const {
    const bool training = x[1].data<std::uint8_t>()[0] != 0;
    if (!training || rate == 0) {
        if (y.raw() != x[0].raw()) std::memcpy(y.raw(), x[0].raw(), y.nbytes());
        return;
    }
    const double step_value = x[2].data<double>()[0];
    if (!(std::abs(step_value) <= 0x1p53) || step_value != std::floor(step_value))
        throw Error(fmt::format("the step {} is not a whole number within 2^53", step_value));
    const auto step = static_cast<std::int64_t>(step_value);
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* in = x[0].data<T>().data();
        T* out = y.data<T>().data();
        const T scale = T(1) / (T(1) - static_cast<T>(rate));
        parallel_chunks(y.numel(), elementwise_grain, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t i = s; i < e; ++i) out[i] = dropout_keeps(seed, step, i, rate) ? in[i] * scale : T(0);
        });
    });
}

// The same mask, element by element; the scale as the kernel rounds it in the dtype.
void Dropout::reference(const Inputs& x, Tensor& y) const {
    const bool training = naive::get(x[1], 0) != 0;
    const long double step_value = naive::get(x[2], 0);
    if (!(std::abs(step_value) <= 0x1p53L) || step_value != std::floor(step_value))
        throw Error(fmt::format("the step {} is not a whole number within 2^53", static_cast<double>(step_value)));
    const auto step = static_cast<std::int64_t>(step_value);
    const long double scale = visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        return static_cast<long double>(T(1) / (T(1) - static_cast<T>(rate)));
    });
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const long double v = naive::get(x[0], i);
        naive::set(y, i, !training || rate == 0 ? v : dropout_keeps(seed, step, i, rate) ? v * scale : 0);
    }
}

// Linear in x with a fixed mask: dx = dropout(dy) with the same flag and step.
Grads Dropout::gradient(const GradContext& c) const {
    return grads(
        c,
        [&] {
            return make_listed(*this, {c.dy, c.x[1], c.x[2]}, SourceLocation::current());
        },
        no_gradient, no_gradient);
}

}  // namespace adjoint::ops

namespace adjoint {

Expr dropout(const Expr& x, double rate, std::uint64_t seed, const Expr& training, const Expr& step,
             SourceLocation loc) {
    return ops::make_listed(ops::Dropout{rate, seed}, {x, training, step}, loc);
}

}  // namespace adjoint

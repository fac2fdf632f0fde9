// Shared test helpers: random tensors, comparisons, and running one op against its
// naive reference kernel.
#pragma once

#include <doctest/doctest.h>

#include <adjoint/adjoint.hpp>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace adjoint::test {

// A fresh folder under /tmp, removed with everything in it at the end of the scope.
struct TempDir {
    std::filesystem::path path;
    TempDir();
    ~TempDir();
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Uniform values in [lo, hi) of any dtype (integers rounded down), seeded.
Tensor random_tensor(const Shape& shape, DType dtype, double lo, double hi, std::uint64_t seed);
// Floating values in [-2, 2) with about one element in `every` replaced by an edge value:
// NaN, +inf, -inf, -0.0, +0.0, the smallest denormal (either sign), the largest finite.
Tensor edge_tensor(const Shape& shape, DType dtype, std::uint64_t seed, int every = 16);

// Largest |a - b| / (1 + |b|) over all elements; +inf if shapes or dtypes differ.
double max_rel_diff(const Tensor& a, const Tensor& b);
// Same shape, dtype and bytes.
bool bitwise_equal(const Tensor& a, const Tensor& b);
// The same, except that any NaN matches any NaN: IEEE 754 leaves the sign and payload of
// an arithmetic NaN open (x86 keeps the first operand's, and a compiler may swap a + b).
bool same_bits_or_nan(const Tensor& a, const Tensor& b);
// The elements as doubles, row-major.
std::vector<double> values(const Tensor& t);

// Runs what `a` does, expects an adjoint::Error whose message contains every one of
// `parts`, and returns the message.
std::string error_of(const std::function<void()>& a);
#define CHECK_ERROR(expr, ...)                                                     \
    do {                                                                           \
        const std::string msg_ = ::adjoint::test::error_of([&] { (void)(expr); }); \
        for (const char* part_ : {__VA_ARGS__}) {                                  \
            INFO("message: ", msg_);                                               \
            CHECK(msg_.find(part_) != std::string::npos);                          \
        }                                                                          \
    } while (0)

// An input of an op under test: its shape (may start with `batch`), dtype and range.
struct Spec {
    Shape shape;
    DType dtype = DType::f32;
    double lo = -2, hi = 2;
    int edges = 0;  // if > 0, about one element in `edges` is an edge value (edge_tensor)
};

// Builds build(placeholders) for the specs and, for each batch size (once if no spec has
// a batch dim), feeds random inputs, runs it on 2 threads and compares the result with
// the node's reference kernel applied to the same inputs. Returns the last result.
Tensor agrees_with_reference(const std::function<Expr(std::span<const Expr>)>& build, const std::vector<Spec>& specs,
                             double tolerance = 1e-6, std::vector<std::int64_t> batches = {1, 96, 128});

// Builds build(constants of the given values) and returns its value.
Tensor eval(const std::function<Expr(std::span<const Expr>)>& build, const std::vector<Tensor>& inputs);

}  // namespace adjoint::test

namespace adjoint::test {

// Gradient checks of build(placeholders) in f64 at random points of the specs' ranges
// (floating specs are made f64): the full Jacobian against central differences for every
// floating input, with PyTorch gradcheck's bounds; and, if `second_order`, the
// Hessian-vector product of sum(build(xs) * r) for a random r.
void check_op_gradients(const std::function<Expr(std::span<const Expr>)>& build, std::vector<Spec> specs,
                        bool second_order = true);

// The gradient of sum(cast(build(xs), f64)) with respect to every floating input is zero.
void check_no_gradient(const std::function<Expr(std::span<const Expr>)>& build, std::vector<Spec> specs);

}  // namespace adjoint::test

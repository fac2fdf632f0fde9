#include "helpers.hpp"

#include <cmath>
#include <cstring>
#include <unistd.h>

#include <algorithm>
#include <limits>

namespace adjoint::test {

TempDir::TempDir() {
    char tmpl[] = "/tmp/adjoint-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
}

TempDir::~TempDir() { std::filesystem::remove_all(path); }

Tensor random_tensor(const Shape& shape, DType dtype, double lo, double hi, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    Tensor t(shape, dtype);
    visit_dtype(dtype, [&](auto tag) {
        using T = decltype(tag);
        for (T& v : t.data<T>()) v = static_cast<T>(std::is_integral_v<T> ? std::floor(u(rng)) : u(rng));
    });
    return t;
}

Tensor edge_tensor(const Shape& shape, DType dtype, std::uint64_t seed, int every) {
    Tensor t = random_tensor(shape, dtype, -2, 2, seed);
    std::mt19937_64 rng(seed + 1);
    visit_floating(dtype, "edge_tensor", [&](auto tag) {
        using T = decltype(tag);
        using L = std::numeric_limits<T>;
        const T edges[] = {L::quiet_NaN(), L::infinity(),   -L::infinity(),   T(-0.0),
                           T(0),           L::denorm_min(), -L::denorm_min(), L::max()};
        for (T& v : t.data<T>())
            if (rng() % static_cast<std::uint64_t>(every) == 0) v = edges[rng() % std::size(edges)];
    });
    return t;
}

std::vector<double> values(const Tensor& t) {
    std::vector<double> v(static_cast<std::size_t>(t.numel()));
    for (std::int64_t i = 0; i < t.numel(); ++i) v[static_cast<std::size_t>(i)] = t.as_double(i);
    return v;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return std::numeric_limits<double>::infinity();
    double worst = 0;
    for (std::int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.as_double(i), y = b.as_double(i);
        if (std::isnan(x) != std::isnan(y)) return std::numeric_limits<double>::infinity();
        if (std::isnan(x) || x == y) continue;
        worst = std::max(worst, std::abs(x - y) / (1 + std::abs(y)));
    }
    return worst;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool same_bits_or_nan(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    return visit_dtype(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const auto x = a.data<T>(), y = b.data<T>();
        for (std::size_t i = 0; i < x.size(); ++i) {
            if constexpr (std::is_floating_point_v<T>)
                if (std::isnan(x[i]) && std::isnan(y[i])) continue;
            // The bits, not the values: -0.0 differs from 0.0 here.
            // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison)
            if (std::memcmp(&x[i], &y[i], sizeof(T)) != 0) return false;
        }
        return true;
    });
}

std::string error_of(const std::function<void()>& a) {
    try {
        a();
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL_CHECK("expected adjoint::Error, got another exception: ", e.what());
        return {};
    }
    FAIL_CHECK("expected adjoint::Error, nothing was thrown");
    return {};
}

Tensor agrees_with_reference(const std::function<Expr(std::span<const Expr>)>& build, const std::vector<Spec>& specs,
                             double tolerance, std::vector<std::int64_t> batches) {
    Graph g;
    std::vector<Expr> xs;
    bool batched = false;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        xs.push_back(g.placeholder(fmt::format("x{}", i), specs[i].shape, specs[i].dtype));
        batched = batched || specs[i].shape.has_batch();
    }
    const Expr y = build(xs);
    Session sess(g, {.threads = 2});
    if (!batched) batches = {-1};
    Tensor last;
    for (std::int64_t b : batches) {
        CAPTURE(b);
        Feeds feeds;
        std::vector<const Tensor*> ptrs;
        for (std::size_t i = 0; i < specs.size(); ++i) {
            const Spec& s = specs[i];
            const std::uint64_t seed = 1000 * static_cast<std::uint64_t>(b + 2) + i;
            feeds.push_back({xs[i], s.edges > 0 ? edge_tensor(s.shape.resolve(b), s.dtype, seed, s.edges)
                                                : random_tensor(s.shape.resolve(b), s.dtype, s.lo, s.hi, seed)});
        }
        // The op under test reads the placeholders directly (in any order, any repeats).
        for (NodeId in : y.node().inputs) {
            const auto it = std::find_if(feeds.begin(), feeds.end(), [&](const Feed& f) { return f.node.id() == in; });
            CHECK_MESSAGE(it != feeds.end(), "the op under test must read the placeholders directly");
            if (it == feeds.end()) return {};
            ptrs.push_back(&it->value);
        }
        const Tensor fast = sess.run({y}, feeds)[0];
        // The reference kernel on the same inputs, for the node that consumes the placeholders.
        Tensor ref(fast.shape(), fast.dtype());
        y.node().op->reference(Inputs(ptrs), ref);
        CHECK(max_rel_diff(fast, ref) <= tolerance);
        last = fast;
    }
    return last;
}

Tensor eval(const std::function<Expr(std::span<const Expr>)>& build, const std::vector<Tensor>& inputs) {
    Graph g;
    std::vector<Expr> xs;
    xs.reserve(inputs.size());
    for (const Tensor& t : inputs) xs.push_back(g.constant(t));
    const Expr y = build(xs);
    Session sess(g, {.threads = 2});
    return sess.run({y})[0];
}

}  // namespace adjoint::test

namespace adjoint::test {

namespace {

struct Built {
    std::vector<Expr> xs, floating;
    Feeds feeds;
};

Built placeholders(Graph& g, std::vector<Spec>& specs) {
    Built b;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (is_floating(specs[i].dtype)) specs[i].dtype = DType::f64;
        b.xs.push_back(g.placeholder(fmt::format("x{}", i), specs[i].shape, specs[i].dtype));
        b.feeds.push_back(
            {b.xs.back(), random_tensor(specs[i].shape, specs[i].dtype, specs[i].lo, specs[i].hi, 77 + i)});
        if (is_floating(specs[i].dtype)) b.floating.push_back(b.xs.back());
    }
    return b;
}

}  // namespace

void check_op_gradients(const std::function<Expr(std::span<const Expr>)>& build, std::vector<Spec> specs,
                        bool second_order) {
    Graph g;
    Built b = placeholders(g, specs);
    const Expr y = build(b.xs);
    const GradCheckReport first = check_gradients(y, b.floating, b.feeds);
    INFO("first order:\n", first.str());
    CHECK(first.ok());
    if (!second_order) return;
    const Expr r = g.constant(random_tensor(y.shape(), DType::f64, -1, 1, 99));
    const GradCheckReport second = check_hessian_vector(sum(y * r), b.floating, b.feeds);
    INFO("second order:\n", second.str());
    CHECK(second.ok());
}

void check_no_gradient(const std::function<Expr(std::span<const Expr>)>& build, std::vector<Spec> specs) {
    Graph g;
    Built b = placeholders(g, specs);
    const Expr y = sum(cast(build(b.xs), DType::f64));
    Session sess(g);
    for (const Tensor& t : sess.run(gradients(y, b.floating), b.feeds))
        for (double v : values(t)) CHECK(v == 0);
}

}  // namespace adjoint::test

// Fuzz target: random small graphs, built, differentiated and run.
//
// The input is a little program: a batch size, up to three inputs (variables,
// placeholders, constants of random dtypes and shapes, their values with NaN, infinities
// and huge numbers mixed in), then up to sixteen ops applied to earlier values (every
// element-wise op of ops/elementwise.def, scalar arithmetic, matmul, reductions, shape
// ops, softmaxes, cross-entropies, one_hot, cast, argmax), with attributes (axes, shapes,
// depths) that may be wrong or absurd (2^62 and more). The last value is fetched; if it
// is floating, the gradients of its sum with respect to the variables are built and an
// SGD step on them is run too.
//
// Holds when: every failure is an adjoint::Error naming the line of this file that built
// the node or ran the session (so a user's error names theirs); a graph whose values
// are small runs on 1 and on 2 threads to the same bits; and the graph passes
// (passes::optimize) never fail on it, and what they make computes the same values (bit
// for bit, the sign of a zero too, but for NaN's payload; not compared where a
// cross-entropy was fused, which is finite where the composite is not). Graphs with a
// value over 2^16 elements are built but not run: they are legal, and only slow.
#include <bit>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <random>

#include <adjoint/adjoint.hpp>

#include "fuzz.hpp"

namespace {

using namespace adjoint;

// The input, read a byte at a time; zeros once it runs out.
class Program {
public:
    Program(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
    template <class T, std::size_t N> T pick(const T (&table)[N]) { return table[byte() % N]; }
    std::size_t below(std::size_t n) { return byte() % n; }

private:
    const std::uint8_t* data_;
    std::size_t size_, at_ = 0;
};

constexpr std::int64_t huge = std::int64_t{1} << 62;
const DType dtypes[] = {DType::f32, DType::f32, DType::f64, DType::i32};
const std::int64_t small_dims[] = {1, 2, 3, 4, 5, 1, 2, 8};
const std::int64_t any_dims[] = {1, 2, 3, 4, 6, 8, batch, 0, std::int64_t{1} << 31, std::int64_t{1} << 32, huge};
const double scalars[] = {0,
                          1,
                          -1,
                          0.5,
                          2,
                          3,
                          1e30,
                          -1e30,
                          std::numeric_limits<double>::quiet_NaN(),
                          std::numeric_limits<double>::infinity()};

// Values in [-2, 2) with, if `edges`, about one in eight an edge value.
Tensor values(const Shape& shape, DType dtype, std::uint32_t seed, bool edges) {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    constexpr double flt_max = std::numeric_limits<float>::max(), flt_min = std::numeric_limits<float>::min();
    const double edge_values[] = {nan, inf, -inf, 0.0, -0.0, 1e30, -1e30, flt_max, -flt_max, flt_min};
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-2, 2);
    Tensor t(shape, dtype);
    const std::int64_t n = t.numel();
    auto fill = [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (std::int64_t i = 0; i < n; ++i) {
            const bool edge = edges && rng() % 8 == 0;
            if constexpr (std::is_floating_point_v<T>) p[i] = static_cast<T>(edge ? edge_values[rng() % 10] : u(rng));
            else p[i] = static_cast<T>(edge ? static_cast<int>(rng() % 64) - 32 : static_cast<int>(rng() % 4));
        }
    };
    switch (dtype) {
        case DType::f32: fill(t.data<float>().data()); break;
        case DType::f64: fill(t.data<double>().data()); break;
        case DType::i32: fill(t.data<std::int32_t>().data()); break;
        default: fill(t.data<std::uint8_t>().data()); break;
    }
    return t;
}

Shape shape_of(Program& in, const std::int64_t* dims, std::size_t count, std::size_t max_rank) {
    Shape s;
    const std::size_t rank = in.below(max_rank + 1);
    for (std::size_t i = 0; i < rank; ++i) s.push_back(dims[in.below(count)]);
    return s;
}

std::vector<int> axes_of(Program& in) {
    std::vector<int> axes;
    const std::size_t n = in.below(3);
    for (std::size_t i = 0; i < n; ++i) axes.push_back(static_cast<int>(in.below(9)) - 4);
    return axes;
}

using Unary = std::function<Expr(const Expr&, SourceLocation)>;
using Binary = std::function<Expr(const Expr&, const Expr&, SourceLocation)>;

// Every element-wise op of the table. The calls are macro expansions, which a compiler
// places on the table's lines, so the caller's location is passed on explicitly.
const std::vector<Unary>& unary_ops() {
    static const std::vector<Unary> ops{
#define ADJOINT_UNARY(Type, fn, expr, dx) [](const Expr& x, SourceLocation loc) { return fn(x, loc); },
#include <adjoint/ops/elementwise.def>
    };
    return ops;
}
const std::vector<Binary>& binary_ops() {
    static const std::vector<Binary> ops{
#define ADJOINT_BINARY(Type, fn, expr, da, db) \
    [](const Expr& a, const Expr& b, SourceLocation loc) { return fn(a, b, loc); },
#define ADJOINT_COMPARE(Type, fn, expr) [](const Expr& a, const Expr& b, SourceLocation loc) { return fn(a, b, loc); },
#include <adjoint/ops/elementwise.def>
    };
    return ops;
}

// Applies one op of the program to the values built so far. Operands and attributes are
// read in separate statements: the order of a call's arguments is unspecified, and an
// input must mean the same graph to every compiler.
Expr apply_op(Program& in, const std::vector<Expr>& v) {
    auto any = [&] { return v[in.below(v.size())]; };
    const std::size_t op = in.below(18);
    const Expr x = any();
    switch (op) {
        case 0: return unary_ops()[in.below(unary_ops().size())](x, SourceLocation::current());
        case 1: {
            const Expr y = any();
            return binary_ops()[in.below(binary_ops().size())](x, y, SourceLocation::current());
        }
        case 2: {
            const double c = in.pick(scalars);
            switch (in.below(5)) {
                case 0: return x + c;
                case 1: return c - x;
                case 2: return x * c;
                case 3: return x / c;
                default: return pow(x, c);
            }
        }
        case 3: return matmul(x, any());
        case 4: {
            const std::vector<int> axes = axes_of(in);
            const bool keep = in.byte() & 1;
            switch (in.below(3)) {
                case 0: return sum(x, axes, keep);
                case 1: return max(x, axes, keep);
                default: return mean(x, axes, keep);
            }
        }
        case 5: return transpose(x);
        case 6: return reshape(x, shape_of(in, any_dims, std::size(any_dims), 4));
        case 7: return broadcast_to(x, shape_of(in, any_dims, std::size(any_dims), 4));
        case 8: return softmax(x, static_cast<int>(in.below(5)) - 2);
        case 9: return log_softmax(x, static_cast<int>(in.below(5)) - 2);
        case 10: return softmax_cross_entropy(x, any());
        case 11: return sparse_softmax_cross_entropy(x, any());
        case 12: {
            const std::int64_t depths[] = {1, 2, 3, 10, 0, -1, huge};
            const std::int64_t depth = in.pick(depths);
            return one_hot(x, depth, in.pick(dtypes));
        }
        case 13: return cast(x, in.pick(dtypes));
        case 14: return argmax(x, static_cast<int>(in.below(5)) - 2);
        case 15: return stop_gradient(x);
        case 16: return element_count(x, axes_of(in));
        default: {
            const Expr w = any();
            const Expr b = any();
            return matmul_bias(x, w, b, in.byte() & 1);
        }
    }
}

bool floating(DType d) { return d == DType::f32 || d == DType::f64; }

// A graph-building error names the line of this file that called the op.
void expect_named(const Error& e) {
    fuzz::expect(std::string_view(e.what()).find("fuzz_graph.cpp") != std::string_view::npos,
                 "an error must name the line that built the node", e.what());
}

// A run's error names the node that failed and the line of this file that built it (the
// feeds are always right here, so a run fails only in a kernel).
void expect_node_named(const Error& e) {
    const std::string_view m = e.what();
    const std::size_t at = m.find("(built at ");
    fuzz::expect(at != std::string_view::npos && m.find("fuzz_graph.cpp", at) != std::string_view::npos,
                 "a run's error must name the failing node and the line that built it", m);
}

bool same_bits_or_nan(const Tensor& a, const Tensor& b) {
    if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
    for (std::int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.as_double(i), y = b.as_double(i);
        if (std::isnan(x) && std::isnan(y)) continue;
        if (std::bit_cast<std::uint64_t>(x) != std::bit_cast<std::uint64_t>(y)) return false;
    }
    return true;
}

// The passes over a graph that ran: they succeed, and the rewritten graph computes the
// same fetches from the same feeds (those its roots still need).
void check_passes(const Graph& g, const std::vector<Expr>& fetches, const std::vector<Expr>& steps, const Feeds& feeds,
                  const std::vector<Tensor>& expected) {
    std::vector<Expr> roots = fetches;
    roots.insert(roots.end(), steps.begin(), steps.end());
    passes::Rewritten r;
    try {
        r = passes::optimize(g, roots);
    } catch (const Error& e) {
        fuzz::finding("the passes failed on a graph that runs", e.what());
    }
    for (const auto& log : r.logs)
        for (const auto& line : log.lines)
            if (line.find("softmax_cross_entropy") != std::string::npos) return;
    Feeds mapped;
    for (const Feed& f : feeds)
        if (f.node.id() < r.map.size() && r.map[f.node.id()]) mapped.push_back({r[f.node], f.value});
    const std::vector<Expr> opt_fetches(r.roots.begin(), r.roots.begin() + static_cast<std::ptrdiff_t>(fetches.size()));
    std::vector<Tensor> got;
    try {
        Session session(r.graph, {.threads = 2});
        got = session.run(opt_fetches, mapped);
    } catch (const Error& e) {
        fuzz::finding("the graph after the passes fails where the graph before ran", e.what());
    }
    for (std::size_t i = 0; i < fetches.size(); ++i)
        fuzz::expect(same_bits_or_nan(got[i], expected[i]), "the passes changed a value", fetches[i].name());
}

}  // namespace

namespace adjoint::fuzz {

std::vector<std::string> seeds() {
    // Programs in the input format: the batch size and input count; per input its kind,
    // dtype, rank, dims, value seed and edges flag; the op count; per op its code, its
    // operand and what the op reads.
    auto program = [](std::initializer_list<int> bytes) {
        std::string s;
        for (int b : bytes) s.push_back(static_cast<char>(b));
        return s;
    };
    return {
        // x (batch, 3) placeholder, w (3, 2) variable: softmax(relu(matmul(x, w))).
        program({1, 1, 1, 0, 1, 2, 7, 0, 0, 0, 2, 2, 1, 5, 0, 3, 3, 0, 1, 0, 2, 5, 8, 3, 1}),
        // A (2, 2) f64 variable with edge values: log(sum(exp(v), axis 1)).
        program({0, 0, 0, 2, 2, 1, 1, 9, 1, 3, 0, 0, 1, 4, 1, 1, 5, 0, 0, 0, 2, 2}),
    };
}

}  // namespace adjoint::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Program in(data, size);
    Graph g;
    const std::int64_t batch_size = 1 + static_cast<std::int64_t>(in.below(3));
    std::vector<Expr> v, variables;
    Feeds feeds;
    const std::size_t inputs = 1 + in.below(3);
    for (std::size_t i = 0; i < inputs; ++i) {
        const std::size_t kind = in.below(3);
        const DType dtype = in.pick(dtypes);
        Shape shape = shape_of(in, small_dims, std::size(small_dims), 3);
        const std::uint32_t seed = in.byte();
        const bool edges = in.byte() & 1;
        const std::string name = "in" + std::to_string(i);
        if (kind == 0) {
            v.push_back(g.variable(name, values(shape, dtype, seed, edges)));
            if (floating(dtype)) variables.push_back(v.back());
        } else if (kind == 1) {
            Shape fed{batch_size};
            Shape declared{batch};
            for (std::int64_t d : shape) fed.push_back(d), declared.push_back(d);
            v.push_back(g.placeholder(name, declared, dtype));
            feeds.push_back({v.back(), values(fed, dtype, seed, edges)});
        } else {
            v.push_back(g.constant(name, values(shape, dtype, seed, edges)));
        }
    }
    const std::size_t ops = in.below(17);
    for (std::size_t i = 0; i < ops; ++i) {
        try {
            v.push_back(apply_op(in, v));
        } catch (const Error& e) {
            expect_named(e);
        }
    }

    // Fetch the last value; for a floating one, also the gradients of its sum and an SGD
    // step on them.
    std::vector<Expr> fetches{v.back()}, steps;
    if (floating(v.back().dtype()) && !variables.empty()) {
        try {
            const std::vector<Expr> grads = gradients(sum(v.back()), variables);
            fetches.insert(fetches.end(), grads.begin(), grads.end());
            for (std::size_t i = 0; i < variables.size(); ++i)
                steps.push_back(assign(variables[i], variables[i] - 0.01 * grads[i]));
        } catch (const Error& e) {
            expect_named(e);
        }
    }
    for (NodeId id = 0; id < g.size(); ++id) {
        const Shape& shape = g.node(id).type.shape;
        try {
            if (shape.resolve(batch_size).numel() > (1 << 16)) return 0;
        } catch (const Error& e) {
            // With the batch size known only when fed, the run must refuse it; without,
            // building must have.
            if (!shape.has_batch()) fuzz::finding("the graph accepted a node whose element count overflows", e.what());
        }
    }

    // To see what a finding built: ADJOINT_FUZZ_DUMP=1 replay_graph FILE.
    if (std::getenv("ADJOINT_FUZZ_DUMP")) dump_text(g, std::cerr);
    // On 1 and 2 threads: the same bits, or the same error.
    std::vector<std::vector<Tensor>> results;
    std::vector<std::string> errors;
    for (int threads : {1, 2}) {
        Session session(g, {.threads = threads});
        try {
            results.push_back(session.run(fetches, feeds));
            session.run({}, feeds, steps);
        } catch (const Error& e) {
            expect_node_named(e);
            errors.emplace_back(e.what());
        }
    }
    if (!errors.empty()) {
        fuzz::expect(errors.size() == 2 && errors[0] == errors[1], "1 and 2 threads must fail alike",
                     errors.size() == 2 ? errors[0] + "\n  vs: " + errors[1] : errors[0]);
        return 0;
    }
    for (std::size_t i = 0; i < fetches.size(); ++i)
        fuzz::expect(same_bits_or_nan(results[0][i], results[1][i]), "1 and 2 threads must give the same bits",
                     fetches[i].name());
    check_passes(g, fetches, steps, feeds, results[0]);
    return 0;
}

#include <adjoint/autograd/check.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include <adjoint/autograd/gradients.hpp>
#include <adjoint/ops/all.hpp>

#include "rebuild.hpp"

namespace adjoint {

namespace {

struct Tolerances {
    double eps, atol, rtol;
};

Tolerances tolerances(const GradCheckOptions& o, DType t) {
    const bool f64 = t == DType::f64;
    return {o.eps.value_or(f64 ? 1e-6 : 1e-3), o.atol.value_or(f64 ? 1e-5 : 1e-2), o.rtol.value_or(f64 ? 1e-3 : 1e-2)};
}

// Up to `max` distinct indices of [0, n), sorted; all if max is 0 or n <= max.
std::vector<std::int64_t> sample(std::int64_t n, std::int64_t max, std::mt19937_64& rng) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    if (max <= 0 || n <= max) return all;
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(static_cast<std::size_t>(max));
    std::sort(all.begin(), all.end());
    return all;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

void add_to(Tensor& t, std::int64_t i, double delta) {
    visit_floating(t.dtype(), "check_gradients", [&](auto tag) {
        using T = decltype(tag);
        t.data<T>()[static_cast<std::size_t>(i)] = static_cast<T>(t.data<T>()[static_cast<std::size_t>(i)] + delta);
    });
}

// Evaluates fetches with one wrt (a variable or a fed placeholder) replaced by `value`.
struct Evaluator {
    Session& sess;
    Feeds feeds;

    Tensor current(const Expr& x) {
        if (x.node().kind == NodeKind::variable) return sess.value(x);
        for (const Feed& f : feeds)
            if (f.node == x) return f.value.clone();
        throw Error(fmt::format("check_gradients: placeholder \"{}\" is not fed", x.name()));
    }
    void set(const Expr& x, const Tensor& value) {
        if (x.node().kind == NodeKind::variable) return sess.set_value(x, value);
        for (Feed& f : feeds)
            if (f.node == x) f.value = value;
    }
    std::vector<Tensor> run(const std::vector<Expr>& fetches) { return sess.run(fetches, feeds); }
};

void check_wrt(const char* who, const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds) {
    for (const Expr& x : wrt) {
        output.graph().check_owns(x, fmt::format("{}: wrt", who));
        const NodeKind k = x.node().kind;
        if (k == NodeKind::constant)
            throw Error(
                fmt::format("{}: wrt \"{}\" is a constant; variables, fed placeholders and op nodes can be "
                            "perturbed",
                            who, x.name()));
        if (!is_floating(x.dtype()))
            throw Error(fmt::format("{}: wrt \"{}\" has dtype {}", who, x.name(), dtype_name(x.dtype())));
        if (k == NodeKind::placeholder &&
            std::none_of(feeds.begin(), feeds.end(), [&](const Feed& f) { return f.node == x; }))
            throw Error(fmt::format("{}: placeholder \"{}\" is not fed", who, x.name()));
        if (k == NodeKind::op && x.node().op->writes_variables() > 0)
            throw Error(
                fmt::format("{}: wrt \"{}\" is an update ({}), not a value", who, x.name(), x.node().op_name()));
    }
}

// What a check runs on: a copy of the output's graph (rebuild.hpp), in f64 when it was
// f32 (GradCheckOptions::widen), with each op node of `wrt` cut out as a placeholder fed
// its value; the output, wrt and feeds mapped onto it.
struct Setup {
    Rebuilt r;
    Expr output;
    std::vector<Expr> wrt;
    Feeds feeds;
    Feeds variables;  // values to set (GradCheckOptions::values_from)
    Tolerances tol{};
    std::string dtype;  // what the check evaluated in, and why when not f64
};

Setup prepare(const char* who, const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds,
              const GradCheckOptions& options) {
    check_wrt(who, output, wrt, feeds);
    std::vector<NodeId> cut, keep;
    std::vector<Expr> cut_exprs;
    for (const Expr& x : wrt) {
        keep.push_back(x.id());
        if (x.node().kind == NodeKind::op) {
            cut.push_back(x.id());
            cut_exprs.push_back(x);
        }
    }
    // The intermediate nodes' values, with the variables at their initial values.
    std::vector<Tensor> cut_values;
    if (!cut_exprs.empty()) {
        if (options.values_from) cut_values = options.values_from->run(cut_exprs, feeds);
        else cut_values = Session(output.graph(), {.threads = options.threads}).run(cut_exprs, feeds);
    }
    Setup s;
    s.r = rebuild(output, cut, keep, options.widen);
    s.output = *s.r.copy[output.id()];
    for (const Expr& x : wrt) s.wrt.push_back(*s.r.copy[x.id()]);
    auto value = [&](const Tensor& t) { return s.r.widened ? widened(t) : t; };
    for (const Feed& f : feeds)
        if (f.node.id() < s.r.copy.size() && s.r.copy[f.node.id()])
            s.feeds.push_back({*s.r.copy[f.node.id()], value(f.value)});
    for (std::size_t i = 0; i < cut.size(); ++i) s.feeds.push_back({*s.r.copy[cut[i]], value(cut_values[i])});
    if (options.values_from)
        for (NodeId n = 0; n < s.r.copy.size(); ++n)
            if (s.r.copy[n] && output.graph().node(n).kind == NodeKind::variable)
                s.variables.push_back({*s.r.copy[n], value(options.values_from->value(output.graph().expr(n)))});
    if (!s.r.why_not_widened.empty())
        throw Error(
            fmt::format("{}: the graph cannot be checked in f64: {} (GradCheckOptions::widen = false checks it "
                        "in its own dtype, with looser tolerances)",
                        who, s.r.why_not_widened));
    s.tol = tolerances(options, s.output.dtype());
    s.dtype = dtype_name(s.output.dtype());
    if (s.r.widened && output.dtype() != s.output.dtype())
        s.dtype += fmt::format(" (the graph is {})", dtype_name(output.dtype()));
    return s;
}

// Compares one symbolic value with its numeric estimate, updating the entry.
// The worst entry is the one furthest beyond (or least within) its tolerance.
void compare(GradCheckEntry& e, std::int64_t index, std::int64_t output_index, double symbolic, double numeric,
             const Tolerances& tol) {
    const double err = std::abs(symbolic - numeric), allowed = tol.atol + tol.rtol * std::abs(numeric);
    e.max_abs_error = std::max(e.max_abs_error, err);
    e.max_rel_error = std::max(e.max_rel_error, err / std::max(std::abs(numeric), 1e-12));
    const double ratio = std::isnan(err) ? INFINITY : err == 0 ? 0 : err / allowed;  // (0 / 0: a perfect entry)
    if (e.checked == 0 || ratio > e.worst_ratio) {
        e.worst_ratio = ratio;
        e.worst_index = index;
        e.worst_output_index = output_index;
        e.worst_symbolic = symbolic;
        e.worst_numeric = numeric;
    }
    if (!(err <= allowed)) e.ok = false;  // NaN fails too
    ++e.checked;
}

// Cutting an intermediate node out also cuts what lies upstream of it from the output:
// with one among several wrt, each is checked on its own copy, and the reports merged.
template <class Check>
std::optional<GradCheckReport> one_by_one(Check check, const Expr& output, const std::vector<Expr>& wrt,
                                          const Feeds& feeds, const GradCheckOptions& options) {
    if (wrt.size() < 2 ||
        std::none_of(wrt.begin(), wrt.end(), [](const Expr& x) { return x.valid() && x.node().kind == NodeKind::op; }))
        return std::nullopt;
    GradCheckReport merged;
    for (const Expr& x : wrt) {
        const GradCheckReport one = check(output, {x}, feeds, options);
        merged.entries.push_back(one.entries.at(0));
        merged.deterministic = merged.deterministic && one.deterministic;
        if (merged.dtype.empty()) merged.dtype = one.dtype;
    }
    return merged;
}

}  // namespace

bool GradCheckReport::ok() const {
    return deterministic && std::all_of(entries.begin(), entries.end(), [](const auto& e) { return e.ok; });
}

std::string GradCheckReport::str() const {
    std::string s = fmt::format("evaluated in {}\n{:<32} {:>8} {:>12} {:>12}  {:<6}  {}\n", dtype, "wrt", "entries",
                                "max abs err", "max rel err", "", "worst entry: symbolic vs numeric");
    for (const auto& e : entries)
        s += fmt::format("{:<32} {:>8} {:>12.3e} {:>12.3e}  {:<6}  [{}] of output [{}]: {:.6g} vs {:.6g}\n", e.name,
                         e.checked, e.max_abs_error, e.max_rel_error, e.ok ? "ok" : "FAILED", e.worst_index,
                         e.worst_output_index, e.worst_symbolic, e.worst_numeric);
    if (!deterministic) s += "the gradient differed between two evaluations\n";
    return s;
}

GradCheckReport check_gradients(const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds,
                                GradCheckOptions options) {
    if (const auto merged = one_by_one(check_gradients, output, wrt, feeds, options)) return *merged;
    const Setup setup = prepare("check_gradients", output, wrt, feeds, options);
    const Expr& out = setup.output;  // the copy's (wrt, output: the user's, for the names)
    const std::vector<Expr>& xs = setup.wrt;
    const Tolerances& tol = setup.tol;
    Graph g = setup.r.g;
    // dy enters as a placeholder, so one graph serves every row of the Jacobian.
    const Expr seed = g.placeholder("check_gradients/dy", out.shape(), out.dtype());
    const std::vector<Expr> vjp = gradients(out, xs, seed);

    Session sess(g, {.threads = options.threads});
    for (const Feed& v : setup.variables) sess.set_value(v.node, v.value);
    Evaluator ev{sess, setup.feeds};
    const Tensor y0 = ev.run({out})[0];
    std::mt19937_64 rng(options.seed);
    const std::vector<std::int64_t> rows = sample(y0.numel(), options.max_samples, rng);

    // Symbolic: row j of the Jacobian is the VJP with dy = e_j.
    std::vector<std::vector<Tensor>> sym;
    GradCheckReport report;
    report.dtype = setup.dtype;
    for (std::int64_t j : rows) {
        Tensor e = Tensor::zeros(y0.shape(), y0.dtype());
        add_to(e, j, 1.0);
        ev.feeds.push_back({seed, e});
        sym.push_back(ev.run(vjp));
        if (sym.size() == 1) {  // the same gradient twice: bit for bit
            const auto again = ev.run(vjp);
            for (std::size_t k = 0; k < vjp.size(); ++k)
                report.deterministic = report.deterministic && same_bits(again[k], sym[0][k]);
        }
        ev.feeds.pop_back();
    }

    // Numeric: column i from (y(x + eps e_i) - y(x - eps e_i)) / 2 eps.
    for (std::size_t k = 0; k < xs.size(); ++k) {
        GradCheckEntry entry{wrt[k].name()};
        const Tensor x0 = ev.current(xs[k]);
        for (std::int64_t i : sample(x0.numel(), options.max_samples, rng)) {
            Tensor x = x0.clone();
            add_to(x, i, tol.eps);
            ev.set(xs[k], x);
            const Tensor plus = ev.run({out})[0];
            add_to(x, i, -2 * tol.eps);
            ev.set(xs[k], x);
            const Tensor minus = ev.run({out})[0];
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const double numeric = (plus.as_double(rows[r]) - minus.as_double(rows[r])) / (2 * tol.eps);
                compare(entry, i, rows[r], sym[r][k].as_double(i), numeric, tol);
            }
        }
        ev.set(xs[k], x0);
        report.entries.push_back(entry);
    }
    return report;
}

GradCheckReport check_hessian_vector(const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds,
                                     GradCheckOptions options) {
    if (const auto merged = one_by_one(check_hessian_vector, output, wrt, feeds, options)) return *merged;
    const Setup setup = prepare("check_hessian_vector", output, wrt, feeds, options);
    const Expr& out = setup.output;  // the copy's (wrt, output: the user's, for the names)
    const std::vector<Expr>& xs = setup.wrt;
    const Tolerances& tol = setup.tol;
    Graph g = setup.r.g;
    const std::vector<Expr> grads = gradients(out, xs);
    std::mt19937_64 rng(options.seed);
    std::uniform_real_distribution<double> unit(-1, 1);
    Session sess(g, {.threads = options.threads});
    for (const Feed& v : setup.variables) sess.set_value(v.node, v.value);
    Evaluator ev{sess, setup.feeds};

    GradCheckReport report;
    report.dtype = setup.dtype;
    for (std::size_t k = 0; k < xs.size(); ++k) {
        const Tensor x0 = ev.current(xs[k]);
        // A random direction v, and H v built as the gradient of <grad, v>.
        Tensor v = Tensor::zeros(x0.shape(), x0.dtype());
        for (std::int64_t i = 0; i < v.numel(); ++i) add_to(v, i, unit(rng));
        const Expr v_node = g.constant(v);
        const Expr hv = gradients(sum(grads[k] * v_node), {xs[k]})[0];
        const std::vector<Tensor> first = ev.run({hv});
        report.deterministic = report.deterministic && same_bits(ev.run({hv})[0], first[0]);
        // (grad(x + eps v) - grad(x - eps v)) / 2 eps
        auto moved = [&](double step) {
            Tensor x = x0.clone();
            for (std::int64_t i = 0; i < x.numel(); ++i) add_to(x, i, step * v.as_double(i));
            ev.set(xs[k], x);
            return ev.run({grads[k]})[0];
        };
        const Tensor plus = moved(tol.eps), minus = moved(-tol.eps);
        ev.set(xs[k], x0);
        GradCheckEntry entry{wrt[k].name()};
        for (std::int64_t i : sample(x0.numel(), options.max_samples, rng))
            compare(entry, i, i, first[0].as_double(i), (plus.as_double(i) - minus.as_double(i)) / (2 * tol.eps), tol);
        report.entries.push_back(entry);
    }
    return report;
}

}  // namespace adjoint

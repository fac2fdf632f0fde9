// Gradient checking as a library feature: symbolic derivatives against central finite
// differences, in the spirit of TensorFlow's compute_gradient_error and PyTorch's
// gradcheck. Both functions copy the part of the graph the output needs (in float64 by
// default), append the gradient nodes they need to the copy and evaluate it in a Session
// of their own, with the variables at their initial values (or a Session's:
// GradCheckOptions::values_from).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <adjoint/core/session.hpp>

namespace adjoint {

struct GradCheckOptions {
    // Evaluate a float32 graph in float64: the check runs on a copy of the graph whose f32
    // placeholders, variables, constants, casts and one_hots are f64 (the feeds widened
    // to match). If an op of the graph refuses that, the check throws an Error saying
    // why; with widen = false it runs in the graph's own dtype and tolerances.
    bool widen = true;
    // Step and tolerances; unset = by the dtype the check evaluates in: f64 eps 1e-6,
    // atol 1e-5, rtol 1e-3 (PyTorch gradcheck's); f32 eps 1e-3, atol 1e-2, rtol 1e-2
    // (loose: a gradient a few percent wrong can pass them where it is small).
    std::optional<double> eps, atol, rtol;
    // At most this many coordinates of each wrt, and of the output, are checked, chosen
    // at random with `seed`; 0 checks them all.
    std::int64_t max_samples = 0;
    std::uint64_t seed = 0;
    int threads = 0;
    // The variables' values, from this Session of the output's graph (trained or loaded
    // weights); unset, their initial values.
    Session* values_from = nullptr;
};

struct GradCheckEntry {
    std::string name;          // the wrt node
    std::int64_t checked = 0;  // Jacobian entries compared
    double max_abs_error = 0;  // max |symbolic - numeric|
    double max_rel_error = 0;  // max |symbolic - numeric| / max(|numeric|, 1e-12)
    bool ok = true;            // every entry within atol + rtol |numeric|
    // The entry furthest beyond its tolerance (or nearest to it): its flat index in the wrt
    // and in the output, and the two values compared.
    std::int64_t worst_index = 0, worst_output_index = 0;
    double worst_symbolic = 0, worst_numeric = 0;
    double worst_ratio = 0;  // |symbolic - numeric| / (atol + rtol |numeric|): > 1 fails
};

struct GradCheckReport {
    std::vector<GradCheckEntry> entries;  // one per wrt
    bool deterministic = true;            // two evaluations of the gradient agreed bit for bit
    std::string dtype;                    // what the check evaluated in ("f64 (the graph is f32)")
    bool ok() const;
    std::string str() const;  // a table for test logs and the console
};

// Compares the Jacobian of `output` with respect to each of `wrt`, built by gradients() as
// vector-Jacobian products, with central differences of `output`. A wrt may be a
// variable, a fed placeholder, or an intermediate op node: its output is then perturbed
// (the check cuts it out and feeds its value), which localises a wrong rule. The user's
// graph is not changed.
GradCheckReport check_gradients(const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds = {},
                                GradCheckOptions options = {});

// Second order: for a scalar `output` and a random direction v, compares the
// Hessian-vector product gradients(sum(gradients(output, x) * v), x) with central
// differences of the gradient along v, for each x of `wrt`.
GradCheckReport check_hessian_vector(const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds = {},
                                     GradCheckOptions options = {});

}  // namespace adjoint

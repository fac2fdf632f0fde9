// Gradient checking as a library feature: symbolic derivatives against central finite
// differences, in the spirit of TensorFlow's compute_gradient_error and PyTorch's
// gradcheck. Both functions append the gradient nodes they need to the output's graph
// and evaluate it in a Session of their own, with variables at their initial values.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <adjoint/core/session.hpp>

namespace adjoint {

struct GradCheckOptions {
    // Step and tolerances; unset = by the output's dtype: f64 eps 1e-6, atol 1e-5,
    // rtol 1e-3 (PyTorch gradcheck's); f32 eps 1e-3, atol 1e-2, rtol 1e-2.
    std::optional<double> eps, atol, rtol;
    // At most this many coordinates of each wrt, and of the output, are checked, chosen
    // at random with `seed`; 0 checks them all.
    std::int64_t max_samples = 0;
    std::uint64_t seed = 0;
    int threads = 0;
};

struct GradCheckEntry {
    std::string name;          // the wrt node
    std::int64_t checked = 0;  // Jacobian entries compared
    double max_abs_error = 0;  // max |symbolic - numeric|
    double max_rel_error = 0;  // max |symbolic - numeric| / max(|numeric|, 1e-12)
    bool ok = true;            // every entry within atol + rtol |numeric|
};

struct GradCheckReport {
    std::vector<GradCheckEntry> entries;  // one per wrt
    bool deterministic = true;            // two evaluations of the gradient agreed bit for bit
    bool ok() const;
    std::string str() const;  // a table for test logs and the console
};

// Compares the Jacobian of `output` with respect to each of `wrt` (variables or fed
// placeholders), built by gradients() as vector-Jacobian products, with central
// differences of `output`.
GradCheckReport check_gradients(const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds = {},
                                GradCheckOptions options = {});

// Second order: for a scalar `output` and a random direction v, compares the
// Hessian-vector product gradients(sum(gradients(output, x) * v), x) with central
// differences of the gradient along v, for each x of `wrt`.
GradCheckReport check_hessian_vector(const Expr& output, const std::vector<Expr>& wrt, const Feeds& feeds = {},
                                     GradCheckOptions options = {});

}  // namespace adjoint

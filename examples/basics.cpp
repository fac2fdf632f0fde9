// The smallest adjoint program: build a graph, run part of it, print the results.
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>
namespace ad = adjoint;
int main() {
    ad::Graph g;
    ad::Expr x = g.placeholder("x", ad::Shape{ad::batch, 3});  // batch: dynamic leading dim
    ad::Expr w = g.variable("w", ad::Tensor::from({{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}}));
    ad::Expr b = g.variable("b", ad::Tensor::from({0.5f, -0.5f}));
    ad::Expr y = ad::relu(ad::matmul(x, w) + b);  // (batch, 2)
    ad::Expr s = ad::sum(y);                      // scalar
    ad::Session sess(g, {.threads = 2});
    std::vector<ad::Tensor> out = sess.run({y, s}, {{x, ad::Tensor::from({{1.f, 0.f, -1.f}, {0.f, 1.f, 0.f}})}});
    fmt::print("{}\n{}\n", out[0], out[1]);  // [[0, 0], [3.5, 3.5]]  and  7
}

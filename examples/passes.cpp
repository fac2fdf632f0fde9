// The MNIST network written op by op, from the maths, and what the graph passes make of it:
// the same fused graph that Sequential builds from Dense layers and the Keras loss.
// Prints the graph before, the passes' logs and the graph after; with a folder argument,
// also writes the dumps and logs of every pass there.
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>
#include <iostream>

namespace ad = adjoint;

int main(int argc, char** argv) {
    ad::Graph g;
    ad::Expr x = g.placeholder("input", {ad::batch, 784});
    ad::Expr t = g.placeholder("targets", {ad::batch, 10});
    ad::Expr h, y;
    {
        auto s = g.scope("dense");
        ad::Expr w = g.variable("kernel", {784, 512}, ad::init::glorot_uniform(1));
        ad::Expr b = g.variable("bias", {512}, ad::init::zeros());
        h = ad::relu(ad::matmul(x, w) + b);
    }
    {
        auto s = g.scope("dense_1");
        ad::Expr w = g.variable("kernel", {512, 10}, ad::init::glorot_uniform(2));
        ad::Expr b = g.variable("bias", {10}, ad::init::zeros());
        y = ad::softmax(ad::matmul(h, w) + b);
    }
    ad::Expr loss;
    {
        auto s = g.scope("loss");
        loss = ad::mean(-ad::sum(t * ad::log(y), {-1}));  // categorical cross-entropy
    }
    const std::vector<ad::Expr> roots{loss, y};
    const ad::passes::Rewritten r = ad::passes::optimize(g, roots, {.dump_dir = argc > 1 ? argv[1] : ""});

    std::cout << "before:\n";
    ad::dump_text(g, std::cout);
    std::cout << "\n" << ad::passes::format_logs(r.logs) << "\nafter:\n";
    ad::dump_text(r.graph, std::cout);
}

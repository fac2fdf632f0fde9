// Text and DOT dumps.
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "../helpers.hpp"

namespace adjoint::test {

TEST_CASE("dump_text: one line per node with id, name, op, inputs, dtype and shape") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w = g.variable("w", {3, 2}, init::glorot_uniform(1));
    Expr h;
    {
        auto s = g.scope("h1");
        h = relu(matmul(x, w));
    }
    (void)sum(h, {1}, true);
    std::ostringstream out;
    dump_text(g, out);
    CHECK(out.str() ==
          "   0  x = placeholder  f32 (batch, 3)\n"
          "   1  w = variable [glorot_uniform(seed=1)]  f32 (3, 2)\n"
          "   2  h1/matmul = matmul(x, w)  f32 (batch, 2)\n"
          "   3  h1/relu = relu(h1/matmul)  f32 (batch, 2)\n"
          "   4  sum = sum[axes=[1] keepdims=true](h1/relu)  f32 (batch, 1)\n");
}

TEST_CASE("profiled runs: kernel time per node, in dump_text and dump_profile") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 64});
    const Expr w = g.variable("w", {64, 64}, init::glorot_uniform(1));
    const Expr y = sum(tanh(matmul(x, w)));
    Session plain(g), profiled(g, {.profile = true});
    const Feeds feeds{{x, Tensor::full({32, 64}, 0.5)}};
    for (int i = 0; i < 3; ++i) {
        plain.run({y}, feeds);
        profiled.run({y}, feeds);
    }
    CHECK(plain.profile().empty());
    const std::vector<NodeTiming> t = profiled.profile();
    REQUIRE(t.size() == 3);  // matmul, tanh, sum: leaves run no kernel
    for (const NodeTiming& n : t) {
        CHECK(n.calls == 3);
        CHECK(n.seconds > 0);
    }
    std::ostringstream text, table;
    dump_text(g, text, t);
    CHECK(text.str().find("ms in 3 calls]") != std::string::npos);
    dump_profile(g, t, table);
    CHECK(table.str().find("total ms  share") != std::string::npos);
    CHECK(table.str().find("kernel time over 3 nodes") != std::string::npos);
    profiled.reset_profile();
    CHECK(profiled.profile().empty());
}

TEST_CASE("dump_dot: Graphviz with distinct node kinds and shapes, optionally pruned") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr w = g.variable("w", {3, 2}, init::zeros());
    const Expr y = matmul(x, w) * 2.f;
    const Expr other = exp(x);
    std::ostringstream all, pruned;
    dump_dot(g, all);
    dump_dot(g, pruned, {y});
    const std::string a = all.str(), p = pruned.str();
    CHECK(a.rfind("digraph G {", 0) == 0);
    CHECK(a.find("shape=invhouse") != std::string::npos);  // placeholder
    CHECK(a.find("shape=cylinder") != std::string::npos);  // variable
    CHECK(a.find("shape=note") != std::string::npos);      // constant
    CHECK(a.find("matmul\\nmatmul\\nf32 (batch, 2)") != std::string::npos);
    CHECK(a.find("0->2") != std::string::npos);  // x -> matmul
    CHECK(a.find(other.name()) != std::string::npos);
    CHECK(p.find(other.name()) == std::string::npos);  // not needed by y
    CHECK(p.find("mul") != std::string::npos);
}

TEST_CASE("dump_file: text or DOT by the name, written at once, only over a regular file") {
    TempDir dir;
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr y = relu(x);
    dump_file(g, dir / "g.txt");
    dump_file(g, dir / "g.dot", {y});
    auto text_of = [](const std::string& p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    CHECK(text_of(dir / "g.txt").find("relu = relu(x)") != std::string::npos);
    CHECK(text_of(dir / "g.dot").starts_with("digraph"));
    REQUIRE(mkfifo((dir / "fifo.dot").c_str(), 0600) == 0);
    CHECK_ERROR(dump_file(g, dir / "fifo.dot"), "dump_file", "fifo.dot\" is a FIFO, not a regular file");
    CHECK_ERROR(dump_file(g, dir / "missing/g.txt"), "dump_file", "missing/g.txt");
}

}  // namespace adjoint::test

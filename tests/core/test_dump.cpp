// Text and DOT dumps, and traces.
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include <tbb/global_control.h>

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
    // Each node drawn as its kind (the legend draws each kind once more).
    auto line_of = [&](const std::string& start) {
        const std::size_t at = a.find("\n" + start);
        return at == std::string::npos ? std::string() : a.substr(at + 1, a.find('\n', at + 1) - at - 1);
    };
    CHECK(line_of("0[label=\"x\\n").find("shape=invhouse") != std::string::npos);
    CHECK(line_of("1[label=\"w\\n").find("shape=cylinder") != std::string::npos);
    CHECK(line_of("3[label=\"").find("shape=note") != std::string::npos);  // the constant 2
    CHECK(a.find("matmul\\nmatmul\\nf32 (batch, 2)") != std::string::npos);
    // Edges into an op of several inputs say which input they feed.
    CHECK(a.find("0->2 [label=\"0\", fontsize=8];") != std::string::npos);  // x is matmul's input 0
    CHECK(a.find("1->2 [label=\"1\", fontsize=8];") != std::string::npos);  // w its input 1
    CHECK(a.find("0->5 ;") != std::string::npos);                           // exp has one input: no label
    CHECK(a.find("subgraph cluster_legend {") != std::string::npos);
    CHECK(a.find("legend_update [label=\"update (writes a variable)\"") != std::string::npos);
    CHECK(a.find(other.name()) != std::string::npos);
    CHECK(p.find(other.name()) == std::string::npos);  // not needed by y
    CHECK(p.find("mul") != std::string::npos);
}

TEST_CASE("dump_dot: x * x labels both edges; a profiled run colours nodes by time") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 64});
    const Expr sq = x * x;
    const Expr big = matmul(sq, g.variable("w", {64, 256}, init::uniform(-1, 1, 1)));
    const Expr out = sum(big);
    std::ostringstream plain;
    dump_dot(g, plain);
    CHECK(plain.str().find("0->1 [label=\"0,1\", fontsize=8];") != std::string::npos);
    Session sess(g, {.profile = true});
    for (int i = 0; i < 3; ++i) (void)sess.run({out}, {{x, Tensor::full({256, 64}, 0.5)}});
    std::ostringstream heat;
    dump_dot(g, heat, {out}, sess.profile());
    const std::string h = heat.str();
    CHECK(h.find(" ms in 3 calls") != std::string::npos);
    CHECK(h.find("fillcolor=\"#ff0000\"") != std::string::npos);  // the slowest node: full red
    CHECK(h.find("legend_heat") != std::string::npos);
    CHECK(plain.str().find("legend_heat") == std::string::npos);
}

TEST_CASE("dump_file: .svg through Graphviz's dot, or an error saying how to get it") {
    TempDir dir;
    Graph g;
    const Expr y = relu(g.placeholder("x", {batch, 3}));
    const std::string svg = dir / "g.svg";
    {
        struct PathFor {  // PATH set to `to` while it lives
            std::string old = std::getenv("PATH") ? std::getenv("PATH") : "";
            explicit PathFor(const std::string& to) { setenv("PATH", to.c_str(), 1); }
            ~PathFor() { setenv("PATH", old.c_str(), 1); }
        } nowhere(dir / "nowhere");
        CHECK_ERROR(dump_file(g, svg, {y}), "g.svg", "Graphviz's dot, which is not installed",
                    "apt-get install graphviz");
    }
    CHECK(!std::filesystem::exists(svg));
    if (std::system("command -v dot >/dev/null") == 0) {  // CI installs it (scripts/test)
        dump_file(g, svg, {y});
        std::ifstream in(svg);
        const std::string text(std::istreambuf_iterator<char>(in), {});
        CHECK(text.find("<svg") != std::string::npos);
        CHECK(text.find("relu") != std::string::npos);
    } else {
        MESSAGE("Graphviz's dot is not installed: the SVG itself was not checked");
    }
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

namespace adjoint::test {

TEST_CASE("Trace: every kernel of the traced runs, in dependency order, as Chrome trace-event JSON") {
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
    Graph g;
    const Expr x = g.placeholder("x", {batch, 64});
    Expr a = x, b = x;
    for (int i = 0; i < 4; ++i) {  // two independent chains
        a = tanh(a);
        b = sigmoid(b);
    }
    const Expr out = sum(a) + sum(b);
    Session sess(g, {.threads = 4});
    const Feeds feeds{{x, Tensor::full({512, 64}, 0.5)}};
    (void)sess.run({out}, feeds);  // not traced
    sess.trace(true);
    for (int i = 0; i < 3; ++i) (void)sess.run({out}, feeds);
    sess.trace(false);
    (void)sess.run({out}, feeds);  // not traced
    const std::vector<TraceEvent> events = sess.trace_events();
    const std::size_t steps = sess.plan_info({out}, feeds).steps;
    REQUIRE(events.size() == 3 * steps);
    std::map<std::pair<std::int64_t, NodeId>, const TraceEvent*> by;
    for (const TraceEvent& e : events) {
        CHECK(e.run >= 0);
        CHECK(e.run < 3);
        CHECK(e.thread >= 0);
        CHECK(e.thread < 4);
        CHECK(e.duration_us >= 0);
        by[{e.run, e.node}] = &e;
    }
    CHECK(by.size() == events.size());  // each node once per run
    // A node starts after each of its inputs' kernels ended.
    for (const TraceEvent& e : events)
        for (NodeId in : g.node(e.node).inputs)
            if (const auto it = by.find({e.run, in}); it != by.end())
                CHECK(e.start_us >= it->second->start_us + it->second->duration_us);
    // Runs come one after the other.
    for (const TraceEvent& e : events)
        for (const TraceEvent& f : events)
            if (f.run > e.run) CHECK(f.start_us >= e.start_us);
    const std::string json = trace_json(g, events);
    CHECK(json.starts_with("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n"));
    CHECK(json.ends_with("]}\n"));
    std::size_t slices = 0;
    for (std::size_t at = json.find("\"ph\": \"X\""); at != std::string::npos; at = json.find("\"ph\": \"X\"", at + 1))
        ++slices;
    CHECK(slices == events.size());
    CHECK(json.find(R"({"name": "tanh_3", "cat": "tanh", "ph": "X", )") != std::string::npos);
    CHECK(json.find(R"j("args": {"name": "thread 0 (caller)"})j") != std::string::npos);
    // A new trace starts empty.
    sess.trace(true);
    sess.trace(false);
    CHECK(sess.trace_events().empty());
    CHECK(trace_json(g, {}) == "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n]}\n");
    CHECK(json_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST_CASE("dump_dot: a collapsed name scope is one box, with the edges in and out of it") {
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    Expr h, y;
    {
        auto s = g.scope("h1");
        h = relu(matmul(x, g.variable("w", {3, 4}, init::zeros())) * 2.f);
    }
    {
        auto s = g.scope("h2");
        y = sum(h * h);
    }
    std::ostringstream dot;
    dump_dot(g, dot, {y}, {}, {.collapse = {"h1"}});
    const std::string d = dot.str();
    // h1's five nodes (w, matmul, the constant 2, mul, relu) are one box, drawn as vertex 8
    // (after the graph's 8 nodes).
    CHECK(d.find("8[label=\"h1/\\n5 nodes\", shape=box3d];") != std::string::npos);
    CHECK(d.find("h1/matmul") == std::string::npos);
    CHECK(d.find("h2/mul") != std::string::npos);
    CHECK(d.find("0->8 ;") != std::string::npos);                             // x into the scope
    CHECK(d.find("8->6 [label=\"0,1\", fontsize=8];") != std::string::npos);  // the scope into h * h, both inputs
    CHECK(d.find("legend_scope") != std::string::npos);
    // A scope is a whole part of a name ("h" is not "h1"); one with no node draws nothing.
    std::ostringstream none;
    dump_dot(g, none, {y}, {}, {.collapse = {"nowhere", "h"}});
    CHECK(none.str().find("shape=box3d") == std::string::npos);
    CHECK(none.str().find("h1/matmul") != std::string::npos);
}

}  // namespace adjoint::test

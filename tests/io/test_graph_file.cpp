// Graph files read back into the same graph, which trains to the same bits; every op's
// attributes read back; bad files are refused naming the line; diff_graphs matches by
// structure.
#include <set>

#include "../helpers.hpp"

using namespace adjoint;
using adjoint::test::bitwise_equal;
using adjoint::test::TempDir;

namespace {

Sequential small_model(std::int64_t hidden = 16) {
    Sequential model({.seed = 3, .threads = 2});
    model.add(Dense(hidden, "relu", 6));
    model.add(Dense(4, "softmax"));
    model.compile(RMSprop(), "categorical_crossentropy", {"accuracy"});
    return model;
}

std::string dump(const Graph& g) {
    std::ostringstream out;
    dump_text(g, out);
    return out.str();
}

}  // namespace

TEST_CASE("a training graph round-trips through a file: the same dump, names, lines and provenance") {
    Sequential model = small_model();
    TempDir dir;
    save_graph(model.graph(), dir / "model.graph");
    const Graph loaded = load_graph(dir / "model.graph");
    CHECK(dump(loaded) == dump(model.graph()));
    CHECK(graph_to_text(loaded) == graph_to_text(model.graph()));
    CHECK(diff_graphs(model.graph(), loaded).same());
    for (NodeId id = 0; id < loaded.size(); ++id) {
        const Node &a = model.graph().node(id), &b = loaded.node(id);
        CHECK(std::string(a.built_at.file_name()) == b.built_at.file_name());
        CHECK(a.built_at.line() == b.built_at.line());
        CHECK(a.gradient_of.has_value() == b.gradient_of.has_value());
        if (a.gradient_of) CHECK(a.gradient_of->forward == b.gradient_of->forward);
        if (a.kind == NodeKind::variable || a.kind == NodeKind::constant) CHECK(bitwise_equal(a.value, b.value));
    }
}

TEST_CASE("a graph loaded from a file trains with the same bits") {
    Sequential model = small_model();
    const Graph loaded = graph_from_text(graph_to_text(model.graph()));
    auto same = [&](const Expr& e) { return *loaded.find(e.name()); };
    std::vector<Expr> updates, fetches;
    for (const Expr& u : model.train_updates()) updates.push_back(same(u));
    for (const Expr& f : model.train_fetches()) fetches.push_back(same(f));
    Session sess(loaded, {.threads = 2});
    const Tensor xs = adjoint::test::random_tensor({8, 6}, DType::f32, -1, 1, 5);
    Tensor ts = Tensor::zeros({8, 4});
    for (int i = 0; i < 8; ++i) ts.data<float>()[i * 4 + i % 4] = 1;
    for (int step = 0; step < 3; ++step) {
        const auto a = model.session().run(model.train_fetches(), {{model.input(), xs}, {model.targets(), ts}},
                                           model.train_updates());
        const auto b = sess.run(fetches, {{same(model.input()), xs}, {same(model.targets()), ts}}, updates);
        for (std::size_t i = 0; i < a.size(); ++i) CHECK(bitwise_equal(a[i], b[i]));
    }
    for (const Expr& w : model.trainable_weights()) CHECK(bitwise_equal(model.session().value(w), sess.value(same(w))));
}

TEST_CASE("every op's attributes read back (make_op)") {
    // One sample of attributes per op that has any; the others take none. A new op with
    // attributes and no sample here fails below.
    const std::vector<std::pair<std::string, std::string>> samples = {
        {"pow", "p=0.3"},
        {"matmul", "transpose_a transpose_b"},
        {"matmul_bias", "transpose_b relu"},
        {"reshape", "shape=(batch, 2, 3)"},
        {"broadcast_to", "shape=(4,)"},
        {"sum", "axes=[0, -1] keepdims=true"},
        {"max", "axes=all keepdims=false"},
        {"min", "axes=[1] keepdims=false"},
        {"prod", "axes=[0] keepdims=true"},
        {"argmax", "axis=-1"},
        {"element_count", "axes=[1]"},
        {"one_hot", "depth=10 dtype=f64"},
        {"cast", "to=u8"},
        {"sgd_apply", "lr=0.01"},
        {"momentum_apply", "lr=0.01 momentum=0.9 nesterov"},
        {"rmsprop_apply", "lr=0.001 rho=0.9 eps=1e-07"},
        {"adam_apply", "beta_1=0.9 beta_2=0.999 eps=1e-07"},
        {"conv2d", "strides=[2, 2] dilation=[2, 1] same relu"},
        {"conv2d_backprop_input", "input=(28, 28, 1) strides=[2, 2] same"},
        {"conv2d_backprop_filter", "size=[3, 3] dilation=[2, 2]"},
        {"max_pool2d", "size=[2, 2]"},
        {"max_pool2d_grad", "size=[3, 3] strides=[2, 2] same"},
        {"max_pool2d_select", "size=[2, 2]"},
        {"avg_pool2d", "size=[2, 2] strides=[1, 2]"},
        {"avg_pool2d_grad", "input=(5, 7, 3) size=[2, 3] strides=[1, 2] same"},
        {"conv2d_max_pool", "pool=[2, 2] strides=[2, 1] same relu"},
        {"conv2d_max_pool_backprop", "pool=[3, 2] dilation=[2, 2]"},
        {"permute", "perm=[2, 0, 1]"},
        {"slice", "begin=[0, 2] size=[-1, 3] step=[1, 2]"},
        {"slice_grad", "input=(batch, 7) begin=[0, 2] size=[-1, 3] step=[1, 2]"},
        {"pad", "before=[0, 1] after=[0, 2] value=-1.5"},
        {"concat", "axis=1"},
        {"gather_grad", "rows=1000"},
        {"dropout", "rate=0.25 seed=7"},
        {"allreduce", "mean ranks=1"},
    };
    std::set<std::string> sampled;
    for (const auto& sample : samples) {
        const std::string& name = sample.first;
        const std::string& attrs = sample.second;
        CAPTURE(name);
        CHECK(make_op(name, attrs)->attrs() == attrs);
        sampled.insert(name);
    }
    for (std::string_view name : op_names()) {
        CAPTURE(name);
        if (sampled.contains(std::string(name))) continue;
        std::shared_ptr<const OpBase> op;
        CHECK_NOTHROW(op = make_op(name, ""));
        if (op) CHECK(op->attrs().empty());
    }
    CHECK_ERROR(make_op("matmul", "transpose_c"), "op matmul", "unknown attribute \"transpose_c\"");
    CHECK_ERROR(make_op("sum", "axes=[0, x] keepdims=true"), "op sum", "axes=[0, x] is not a list of axes");
    CHECK_ERROR(make_op("sum", "axes=all"), "keepdims is missing");
    CHECK_ERROR(make_op("relu", "x=1"), "op relu", "takes no attributes");
    CHECK_ERROR(make_op("convolve", ""), "no op named \"convolve\"");
    CHECK_ERROR(make_op("conv2d_max_pool", "relu"), "pool is missing");
    CHECK_ERROR(make_op("conv2d_max_pool", "pool=[2, 2, 2]"), "pool must be two positive sizes, not [2, 2, 2]");
}

TEST_CASE("values keep their bits: constants and variables without an initializer") {
    Graph g;
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const Tensor f = Tensor::from({-0.f, 1e-45f, 3.4e38f, -inf, inf, 0.1f});
    const Tensor d = Tensor::from({1.0 / 3, -2e-310});
    const Tensor i = Tensor::from<std::int32_t>({-2147483647 - 1, 2147483647, 0});
    const Tensor u = Tensor::from<std::uint8_t>({0, 255});
    g.constant("f", f);
    g.variable("d", d);
    g.constant("i", i);
    g.variable("u", u);
    g.constant("n", Tensor::from({nan}));
    const Graph back = graph_from_text(graph_to_text(g));
    CHECK(bitwise_equal(back.find("f")->node().value, f));
    CHECK(bitwise_equal(back.find("d")->node().value, d));
    CHECK(bitwise_equal(back.find("i")->node().value, i));
    CHECK(bitwise_equal(back.find("u")->node().value, u));
    CHECK(std::isnan(back.find("n")->node().value.data<float>()[0]));
}

TEST_CASE("bad graph files are refused naming the line, and nothing else happens") {
    const std::string good = graph_to_text([] {
        Graph g;
        const Expr x = g.placeholder("x", {batch, 3});
        const Expr w = g.variable("w", {3, 2}, init::glorot_uniform(1));
        (void)relu(matmul(x, w));
        return g;
    }());
    auto with_line = [&](int n, const std::string& replacement) {  // line n (from 1) replaced
        std::istringstream in(good);
        std::string out, l;
        for (int i = 1; std::getline(in, l); ++i) out += (i == n ? replacement : l) + "\n";
        return out;
    };
    CHECK(graph_to_text(graph_from_text(good)) == good);
    CHECK_ERROR(graph_from_text("adjoint graph 2\n"), "line 1 is not \"adjoint graph 1\"");
    CHECK_ERROR(graph_from_text(with_line(2, "1 placeholder \"x\" f32 \"(batch, 3)\"")), "line 2", "node id is not 0");
    CHECK_ERROR(graph_from_text(with_line(2, "0 tensor \"x\" f32 \"(batch, 3)\"")), "\"tensor\" is not a kind");
    CHECK_ERROR(graph_from_text(with_line(2, "0 placeholder \"x\" f17 \"(batch, 3)\"")), "\"f17\" is not a dtype");
    CHECK_ERROR(graph_from_text(with_line(2, "0 placeholder \"x\" f32 \"(3, batch)\"")), "leading dim");
    CHECK_ERROR(graph_from_text(with_line(2, "0 placeholder \"x\" f32 \"(3, -1)\"")), "\"-1\" is not a dim");
    CHECK_ERROR(graph_from_text(with_line(2, "0 placeholder \"x\\q\" f32 \"(3,)\"")), "the escape \\q");
    CHECK_ERROR(graph_from_text(with_line(2, "0 placeholder \"x f32 \"(3,)\"")), "line 2");
    CHECK_ERROR(graph_from_text(with_line(3, "1 placeholder \"x\" f32 \"(3,)\"")), "line 3", "\"x\" is used twice");
    CHECK_ERROR(graph_from_text(with_line(4, "2 op \"m\" f32 \"(batch, 2)\" matmul \"\" in 0,7")), "line 4",
                "input \"7\" is not the id of an earlier node");
    CHECK_ERROR(graph_from_text(with_line(4, "2 op \"m\" f32 \"(batch, 5)\" matmul \"\" in 0,1")),
                "the line says f32 (batch, 5), but the op makes f32 (batch, 2)");
    CHECK_ERROR(graph_from_text(with_line(4, "2 op \"m\" f32 \"(batch, 2)\" matmul \"\" in 1,0")), "line 4",
                "inner dimensions");
    CHECK_ERROR(graph_from_text(with_line(4, "2 op \"m\" f32 \"(batch, 2)\" conv \"\" in 0,1")),
                "no op named \"conv\"");
    CHECK_ERROR(graph_from_text(with_line(4, "2 op \"m\" f32 \"(batch, 2)\" matmul \"\" in 0,1 grad 5 \"x\"")),
                "grad: the forward node is not an earlier node");
    CHECK_ERROR(graph_from_text(with_line(3, "1 variable \"w\" f32 \"(3, 2)\" init \"value\" values 0x1p+0")),
                "values: 1 given, the shape (3, 2) holds 6");
    CHECK_ERROR(graph_from_text(with_line(3, "1 variable \"w\" f32 \"(3, 2)\" init \"value\" fill 12")),
                "\"12\" is not a hexadecimal float");
    CHECK_ERROR(graph_from_text(with_line(3, "1 constant \"w\" i32 \"(2,)\" values 1 99999999999")),
                "\"99999999999\" is not a i32 value");
    // A few bytes may not ask for terabytes.
    CHECK_ERROR(graph_from_text(with_line(3, "1 variable \"w\" f32 \"(1048576, 1048576)\" init \"zeros\"")),
                "more than the 4294967296 left of GraphFileOptions::max_value_bytes");
    CHECK_ERROR(graph_from_text(with_line(3, "1 constant \"w\" f32 \"(1048576, 1048576)\" fill 0x0p+0")),
                "GraphFileOptions::max_value_bytes");
    // Every prefix of a good file is refused cleanly or reads (it may end between lines).
    for (std::size_t n = 0; n < good.size(); ++n) {
        try {
            (void)graph_from_text(good.substr(0, n));
        } catch (const Error&) {}
    }
    TempDir dir;
    CHECK_ERROR(load_graph(dir / "missing.graph"), "load_graph", "missing.graph");
    CHECK_ERROR(load_graph(dir.path.string()), "load_graph", "not a regular file");
}

TEST_CASE("diff_graphs: two builds of one model match; a changed layer shows, node by node") {
    Sequential a = small_model(16), b = small_model(16), c = small_model(12);
    CHECK(diff_graphs(a.graph(), b.graph()).same());
    CHECK(diff_graphs(a.graph(), b.graph()).str().empty());
    const GraphDiff d = diff_graphs(a.graph(), c.graph());
    CHECK_FALSE(d.same());
    CHECK(d.str().find("- ") != std::string::npos);
    CHECK(d.str().find("dense/kernel = variable [glorot_uniform(seed=3001)]  f32 (6, 16)") != std::string::npos);
    CHECK(d.str().find("dense/kernel = variable [glorot_uniform(seed=3001)]  f32 (6, 12)") != std::string::npos);
    // The same graph built in another order, with other generated names, matches.
    Graph g1, g2;
    {
        const Expr x = g1.placeholder("x", {batch, 3});
        (void)exp(x);
        (void)(relu(x) + tanh(x));
    }
    {
        const Expr x = g2.placeholder("x", {batch, 3});
        (void)tanh(x);
        (void)relu(x);
        (void)exp(x);
        (void)g2.placeholder("add", {1});  // takes the name "add": the sum below is add_1
        (void)(g2.expr(2) + g2.expr(1));
    }
    const GraphDiff order = diff_graphs(g1, g2);
    CHECK(order.only_in_a.empty());
    REQUIRE(order.only_in_b.size() == 1);  // the extra placeholder
    CHECK(order.only_in_b[0].find("add = placeholder") != std::string::npos);
    CHECK(order.renamed.empty());  // add_1 is add, without its suffix
    CHECK(without_suffixes("dense_1/bias_2") == "dense/bias");
    CHECK(without_suffixes("grad/x_/y_1a") == "grad/x_/y_1a");
}

namespace {

// An op of a user's own: not in the library's op list, so a file cannot name it.
struct Twice : ops::NoAttrs {
    static constexpr std::string_view name = "twice";
    TypedShape infer(std::span<const TypedShape> in, std::int64_t) const { return in[0]; }
    void forward(const Inputs& x, Tensor& y) const {
        for (std::int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = 2 * x[0].data<float>()[i];
    }
    void reference(const Inputs& x, Tensor& y) const { forward(x, y); }
    Grads gradient(const GradContext& c) const { return {c.dy * 2.f}; }
};

}  // namespace

TEST_CASE("graph files: what a review found") {
    const std::string head = "adjoint graph 1\n";
    // Errors of the library's own checks still name the line.
    CHECK_ERROR(graph_from_text(head + "0 variable \"v\" i32 \"(2, 2)\" init \"glorot_uniform(seed=1)\"\n"), "line 2",
                "i32");
    CHECK_ERROR(graph_from_text(head + "0 variable \"v\" u8 \"(2,)\" init \"constant(300)\"\n"), "line 2", "300");
    CHECK_ERROR(graph_from_text(head + "0 constant \"v\" f32 \"(4611686018427387904, 4)\" fill 0x1p+0\n"), "line 2",
                "overflow");
    // What an op overwrites must be a variable.
    CHECK_ERROR(graph_from_text(head + "0 constant \"c\" f32 \"(2,)\" fill 0x1p+0\n" +
                                "1 op \"a\" f32 \"(2,)\" assign \"\" in 0,0\n"),
                "line 3", "assign overwrites its input 0, \"c\", which is not a variable");
    CHECK_ERROR(graph_from_text(head + "0 placeholder \"x\" f32 \"(2,)\" at \"a\\u0000b\" 3\n"), "line 2", "NUL");
    // A variable whose value no initializer makes again is written with its values, even
    // under an initializer's name; a description nobody knows needs values.
    Graph g;
    const Expr v = g.variable("v", Tensor::from({1.f, 2.f}));
    const_cast<Node&>(v.node()).init = "zeros";  // a custom initializer that calls itself zeros
    const Graph back = graph_from_text(graph_to_text(g));
    CHECK(bitwise_equal(back.find("v")->node().value, v.node().value));
    CHECK_ERROR(graph_from_text(head + "0 variable \"v\" f32 \"(2,)\" init \"he_normal(seed=1)\"\n"),
                "\"he_normal(seed=1)\" is not an initializer of the library");
    // A user's op cannot be written.
    Graph mine;
    (void)ops::make(Twice{}, {mine.placeholder("x", {3})}, SourceLocation::current());
    CHECK_ERROR(graph_to_text(mine), "node 1 \"twice\" cannot be read back", "no op named \"twice\"");
}

TEST_CASE("graph files: a graph made from a loaded one outlives it (its file names are its own)") {
    Sequential model = small_model();
    const Graph copy = [&] {
        const Graph loaded = graph_from_text(graph_to_text(model.graph()));
        std::vector<Expr> roots;
        for (const Expr& u : model.train_updates()) roots.push_back(*loaded.find(u.name()));
        return passes::optimize(loaded, roots).graph;
    }();
    for (NodeId id = 0; id < copy.size(); ++id) {
        const Node& n = copy.node(id);
        const Node& was = model.graph().find(n.name)->node();
        CHECK(std::string(n.built_at.file_name()) == was.built_at.file_name());
    }
}

TEST_CASE("diff_graphs: values count where no initializer makes them; fields cannot run together") {
    Graph a, b, c, d;
    (void)a.variable("v", Tensor::from({1.f}));
    (void)b.variable("v", Tensor::from({2.f}));
    CHECK_FALSE(diff_graphs(a, b).same());
    Expr x = c.variable("a|x", {1}, init::zeros());
    Expr y = d.variable("a", {1}, init::zeros());
    const_cast<Node&>(x.node()).init = "y";
    const_cast<Node&>(y.node()).init = "x|y";
    CHECK_FALSE(diff_graphs(c, d).same());
}

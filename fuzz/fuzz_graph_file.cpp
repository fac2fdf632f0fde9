// Fuzz target: the graph file reader (load_graph), on any bytes.
//
// Holds when: load_graph returns a graph, or throws an adjoint::Error that names the file;
// it never asks for more than GraphFileOptions::max_value_bytes of values (here 1 MiB);
// and a graph it returns writes back to a file that reads back to the same text.
#include <adjoint/adjoint.hpp>

#include "fuzz.hpp"

namespace adjoint::fuzz {

std::vector<std::string> seeds() {
    // A small training graph: every kind of node, attributes, gradients with provenance,
    // a constant and a variable written out element by element.
    Graph g;
    const Expr x = g.placeholder("x", {batch, 3});
    const Expr labels = g.placeholder("labels", {batch}, DType::i32);
    const Expr w = g.variable("w", {3, 4}, init::glorot_uniform(1));
    const Expr b = g.variable("b", Tensor::from({0.5f, -0.f, 1e-40f, 2.f}));
    const Expr c = g.constant("c", Tensor::from({{1.f, 2.f, 3.f, 4.f}}));
    const Expr z = matmul_bias(x, w, b, true) * c;
    const Expr loss = mean(sparse_softmax_cross_entropy(reshape(z, {batch, 4}), labels));
    const std::vector<Expr> vars{w, b};
    (void)RMSprop().apply(g, vars, gradients(loss, vars));
    // The image and movement ops, their attributes and their backward ops.
    Graph h;
    const Expr img = h.placeholder("img", {batch, 6, 6, 2});
    const Expr k = h.variable("k", {3, 3, 2, 4}, init::glorot_uniform(2));
    const Expr kb = h.variable("kb", {4}, init::zeros());
    const Expr ids = h.placeholder("ids", {batch, 2}, DType::i32);
    const Expr table = h.variable("table", {5, 3}, init::uniform(-0.05, 0.05, 3));
    const Expr training = h.variable("training", Tensor::zeros({}, DType::u8));
    const Expr step = h.variable("step", Tensor::zeros({}, DType::f64));
    const Expr conv = conv2d_bias(img, k, kb, true, {.strides = {1, 2}, .padding = ops::Padding::same});
    const Expr pooled = avg_pool2d(max_pool2d(conv, {2, 2}, {.strides = {1, 1}}), {2, 1});
    const Expr moved = transpose(pad(slice(pooled, {0, 1}, {INT64_MAX, 3}, {1, 2}), {{0, 0}, {1, 0}}), {0, 3, 1, 2});
    const Expr flat = concat({reshape(moved, {batch, 16}), reshape(gather(table, ids), {batch, 6})}, 1);
    const Expr out = sum(dropout(flat, 0.25, 9, training, step)) + prod(kb, {0});
    const std::vector<Expr> weights{k, kb, table};
    (void)gradients(out, weights);
    return {graph_to_text(g), graph_to_text(Graph()), graph_to_text(h)};
}

}  // namespace adjoint::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace adjoint;
    const fuzz::MemFile file({data, size});
    try {
        const Graph g = load_graph(file.path(), {.max_value_bytes = std::size_t{1} << 20});
        const std::string text = graph_to_text(g);
        const Graph again = graph_from_text(text);
        fuzz::expect(graph_to_text(again) == text, "a graph read from a file must write and read back the same");
    } catch (const Error& e) {
        fuzz::expect(std::string_view(e.what()).find(file.path()) != std::string_view::npos,
                     "a graph file error must name the file", e.what());
    }
    return 0;
}

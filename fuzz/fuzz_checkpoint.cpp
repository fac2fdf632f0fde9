// Fuzz target: the checkpoint loader, on any bytes, through Sequential::load_weights.
//
// Holds when: a load that fails throws an adjoint::Error naming the file and leaves every
// weight of the model bitwise as it was; a load that succeeds leaves the model holding
// exactly the tensors load_checkpoint reads from the same file. The bare reader is also
// run with non-finite values allowed (it must refuse or read, never crash).
#include <cstring>
#include <map>

#include <adjoint/adjoint.hpp>

#include "fuzz.hpp"
#include "seeds.hpp"

namespace {

// A small model with two dense layers: weights named dense/kernel, dense/bias,
// dense_1/kernel and dense_1/bias.
adjoint::Sequential& model() {
    static adjoint::Sequential m = [] {
        adjoint::Sequential s({.seed = 1, .threads = 1});
        s.add(adjoint::Dense(3, "relu", 4));
        s.add(adjoint::Dense(2, "softmax"));
        s.compile(adjoint::SGD(), "categorical_crossentropy");
        return s;
    }();
    return m;
}

std::vector<adjoint::Tensor> weights() {
    std::vector<adjoint::Tensor> w;
    for (const adjoint::Expr& e : model().trainable_weights()) w.push_back(model().session().value(e));
    return w;
}

bool same_bits(const adjoint::Tensor& a, const adjoint::Tensor& b) {
    return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
           (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

}  // namespace

namespace adjoint::fuzz {

std::vector<std::string> seeds() {
    std::vector<std::string> out;
    out.push_back(written_by([](const std::string& p) { model().save_weights(p); }));
    // Other names, dtypes and ranks, for the reader.
    out.push_back(written_by([](const std::string& p) {
        save_checkpoint(p, {{"a", Tensor::from<std::int32_t>({1, 2, 3})},
                            {"b/c", Tensor::from({{1.0, -2.0}, {0.5, 8.0}})},
                            {"scalar", Tensor::full({}, 3.0, DType::f64)}});
    }));
    out.push_back(written_by([](const std::string& p) { save_checkpoint(p, {}); }));
    return out;
}

}  // namespace adjoint::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace adjoint;
    const fuzz::MemFile file({data, size});
    const std::vector<Tensor> before = weights();
    try {
        model().load_weights(file.path());
        // It loaded: the model holds what the file says.
        std::map<std::string, Tensor> in_file;
        for (NamedTensor& t : load_checkpoint(file.path())) in_file[t.name] = t.value;
        const std::vector<Expr> w = model().trainable_weights();
        const std::vector<Tensor> after = weights();
        for (std::size_t i = 0; i < w.size(); ++i)
            fuzz::expect(in_file.contains(w[i].name()) && same_bits(after[i], in_file[w[i].name()]),
                         "a successful load must leave the model holding the file's tensors", w[i].name());
        // Back to the weights it was built with: each input is judged on its own.
        for (std::size_t i = 0; i < w.size(); ++i) model().session().set_value(w[i], before[i]);
    } catch (const Error& e) {
        fuzz::expect(std::string_view(e.what()).find(file.path()) != std::string_view::npos,
                     "a checkpoint error must name the file", e.what());
        const std::vector<Tensor> after = weights();
        for (std::size_t i = 0; i < before.size(); ++i)
            fuzz::expect(same_bits(before[i], after[i]), "a failed load must leave every weight as it was", e.what());
    }
    try {
        (void)load_checkpoint(file.path(), {.allow_non_finite = true});
    } catch (const Error& e) {
        fuzz::expect(std::string_view(e.what()).find(file.path()) != std::string_view::npos,
                     "a checkpoint error must name the file", e.what());
    }
    return 0;
}

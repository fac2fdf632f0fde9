// The passes side by side with Sequential on MNIST: the 784-512-10 MLP written op by op
// (matmul, +, relu, softmax, -sum(t * log p)), as written and after passes::optimize(),
// against the same network from Dense layers. All three start from the same weights and
// see the same batches in the same order; each round trains each of them one epoch, in
// turn, starting with another one each round. Prints the training step's plan steps and
// intermediate bytes, the median seconds per epoch, the last loss, and whether the
// optimized graph's weights equal Sequential's bit for bit.
#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstring>
#include <fmt/core.h>
#include <iostream>

namespace ad = adjoint;
namespace po = boost::program_options;

namespace {

// One contestant: a graph, its training step, its session.
struct Trainer {
    std::string name;
    ad::Expr x, t, loss;
    std::vector<ad::Expr> weights, updates;
    ad::Session* session = nullptr;
    std::vector<double> seconds;
    float last_loss = 0;
};

struct HandWritten {
    ad::Graph g;
    ad::Expr x, t, loss;
    std::vector<ad::Expr> weights;
};

HandWritten hand_written(const ad::Graph& model) {
    HandWritten h;
    ad::Graph& g = h.g;
    auto start = [&](const char* name) { return g.variable(name, model.find(name)->node().value); };
    h.x = g.placeholder("input", {ad::batch, 784});
    h.t = g.placeholder("targets", {ad::batch, 10});
    const ad::Expr w1 = start("dense/kernel"), b1 = start("dense/bias");
    const ad::Expr w2 = start("dense_1/kernel"), b2 = start("dense_1/bias");
    const ad::Expr y = ad::softmax(ad::matmul(ad::relu(ad::matmul(h.x, w1) + b1), w2) + b2);
    h.loss = ad::mean(-ad::sum(h.t * ad::log(y), {-1}));
    h.weights = {w1, b1, w2, b2};
    return h;
}

void epoch(Trainer& tr, ad::Batches& batches) {
    std::vector<ad::Tensor> out;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t b = 0; b < batches.batch_count(); ++b) {
        const auto [xb, tb] = batches.get(b);
        tr.session->run({tr.loss}, {{tr.x, xb}, {tr.t, tb}}, tr.updates, out);
    }
    tr.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    tr.last_loss = out[0].item<float>();
}

}  // namespace

int run(int argc, char** argv) {
    std::string data = "data/mnist";
    int threads = 2, rounds = 3;
    std::int64_t hidden = 512, batch_size = 128;
    po::options_description opts("bench_passes: a hand-written MLP through the passes against Sequential");
    opts.add_options()("help", "show this help")("data", po::value(&data)->default_value(data), "MNIST folder")(
        "threads", po::value(&threads)->default_value(threads), "threads")(
        "rounds", po::value(&rounds)->default_value(rounds), "epochs of each contestant");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
        if (threads < 1 || rounds < 1) throw po::error("--threads and --rounds must be at least 1");
    } catch (const po::error& e) {
        std::cerr << "bench_passes: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    const ad::Mnist mnist = ad::load_mnist(data);
    const std::int64_t n = mnist.train_images.shape()[0];
    ad::Tensor images({n, 784}, ad::DType::f32);  // scaled once, as every contestant sees them
    const auto u8 = mnist.train_images.data<std::uint8_t>();
    auto f32 = images.data<float>();
    for (std::size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<float>(u8[i]) / 255.f;
    ad::Batches batches(images, ad::to_categorical(mnist.train_labels, 10), batch_size);

    ad::Sequential model({.seed = 0, .threads = threads});
    model.add(ad::Dense(hidden, "relu", 784));
    model.add(ad::Dense(10, "softmax"));
    model.compile(ad::RMSprop(), "categorical_crossentropy");

    HandWritten raw = hand_written(model.graph());
    const ad::passes::Rewritten r = ad::passes::optimize(raw.g, std::vector{raw.loss});
    ad::Graph optimized = r.graph;
    std::vector<ad::Expr> opt_weights;
    for (const ad::Expr& w : raw.weights) opt_weights.push_back(r[w]);
    const ad::Expr opt_loss = r.roots[0];
    const std::vector<ad::Expr> opt_updates =
        ad::RMSprop().apply(optimized, opt_weights, ad::gradients(opt_loss, opt_weights));
    const std::vector<ad::Expr> raw_updates =
        ad::RMSprop().apply(raw.g, raw.weights, ad::gradients(raw.loss, raw.weights));
    ad::Session raw_session(raw.g, {.threads = threads}), opt_session(optimized, {.threads = threads});

    std::vector<Trainer> trainers = {
        {"Sequential (Dense layers)",
         model.input(),
         model.targets(),
         model.loss(),
         model.trainable_weights(),
         model.train_updates(),
         &model.session(),
         {},
         0},
        {"hand-written, as written", raw.x, raw.t, raw.loss, raw.weights, raw_updates, &raw_session, {}, 0},
        {"hand-written, after the passes", r[raw.x], r[raw.t], opt_loss, opt_weights, opt_updates, &opt_session, {}, 0},
    };
    // Each round starts with another contestant, so none is always first.
    for (int round = 0; round < rounds; ++round)
        for (std::size_t i = 0; i < trainers.size(); ++i) epoch(trainers[(i + round) % trainers.size()], batches);

    const auto [x0, t0] = batches.get(0);
    fmt::print(
        "| graph | nodes | plan steps | intermediate MiB | s/epoch (median of {}) | last loss |\n"
        "|---|---|---|---|---|---|\n",
        rounds);
    for (Trainer& tr : trainers) {
        std::sort(tr.seconds.begin(), tr.seconds.end());
        const ad::PlanInfo plan = tr.session->plan_info({tr.loss}, {{tr.x, x0}, {tr.t, t0}}, tr.updates);
        fmt::print("| {} | {} | {} | {:.2f} | {:.3f} | {:.9g} |\n", tr.name, tr.x.graph().size(), plan.steps,
                   static_cast<double>(plan.peak_bytes) / (1 << 20), tr.seconds[tr.seconds.size() / 2], tr.last_loss);
    }
    bool same = true;
    for (std::size_t i = 0; i < opt_weights.size(); ++i) {
        const ad::Tensor a = opt_session.value(opt_weights[i]), b = model.session().value(model.trainable_weights()[i]);
        same = same && a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
    }
    fmt::print("weights after the passes {} Sequential's, bit for bit ({} threads, {} rounds)\n",
               same ? "equal" : "DIFFER from", threads, rounds);
    return same ? 0 : 1;
}

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "bench_passes: " << e.what() << "\n";
        return 1;
    }
}

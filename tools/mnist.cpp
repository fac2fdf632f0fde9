// tools/mnist: the Keras "first look at a neural network" example, in adjoint.
//   --model mlp (the default): 784 -> Dense(512, relu) -> Dense(10, softmax), RMSprop,
//   categorical cross-entropy, 5 epochs of batch 128, then the test accuracy.
//   --model convnet: the book's convnet (Deep Learning with Python, 5.1), batch 64:
//   Conv2D(32, 3x3, relu) -> MaxPooling2D -> Conv2D(64, 3x3, relu) -> MaxPooling2D ->
//   Conv2D(64, 3x3, relu) -> Flatten -> Dense(64, relu) -> Dense(10, softmax).
#include "mnist_flags.hpp"

#include <adjoint/adjoint.hpp>

#include <chrono>
#include <cmath>
#include <fmt/core.h>
#include <iostream>
#include <optional>

namespace ad = adjoint;
using mnist::Flags;
using mnist::LateFlagError;
using mnist::split;

namespace {

constexpr std::int64_t pixels = std::int64_t{28} * 28;  // an MNIST image, flattened

// --trace: records steps [2, 1 + steps] (step 1 first touches every buffer) and writes them
// once done, or when training ends first.
class TraceSteps : public ad::Callback {
public:
    TraceSteps(ad::Sequential& model, std::string path, std::int64_t steps)
        : model_(model), path_(std::move(path)), steps_(steps) {}
    std::optional<std::string> on_batch_end(const ad::BatchLogs& logs) override {
        if (logs.step == 1) model_.session().trace(true);
        if (logs.step == 1 + steps_) finish();
        return std::nullopt;
    }
    void finish() {
        if (written_) return;
        model_.session().trace(false);
        written_ = true;
        // A trace that cannot be written does not stop training: a warning.
        try {
            const std::vector<ad::TraceEvent> events = model_.session().trace_events();
            if (events.empty())
                fmt::print(stderr, "mnist: warning: --trace: training ended before step 2; the trace is empty\n");
            ad::write_trace(model_.graph(), events, path_);
        } catch (const ad::Error& e) {
            fmt::print(stderr, "mnist: warning: --trace: {}\n", e.what());
        }
    }

private:
    ad::Sequential& model_;
    std::string path_;
    std::int64_t steps_;
    bool written_ = false;
};

// What --dump-graph draws: the nodes of a training step (its fetches and the updates).
std::vector<ad::Expr> training_step(const ad::Sequential& network) {
    std::vector<ad::Expr> step = network.train_fetches();
    step.insert(step.end(), network.train_updates().begin(), network.train_updates().end());
    return step;
}

// --dump-passes: the passes over what training and evaluation run. Sequential already
// builds the fused graph the passes would make, so they should find nothing to change:
// the summary line says whether they did.
void dump_passes(const ad::Sequential& network, const Flags& f) {
    std::vector<ad::Expr> roots = training_step(network);
    roots.push_back(network.output());
    ad::passes::Rewritten r;
    try {
        r = ad::passes::optimize(network.graph(), roots,
                                 {.passes = ad::passes::default_passes, .dump_dir = f.dump_passes});
    } catch (const ad::Error& e) {
        throw ad::Error(fmt::format("--dump-passes: {}", e.what()));
    }
    std::size_t changes = 0;
    for (const auto& log : r.logs) changes += log.lines.size();
    if (!f.quiet && !f.json)
        fmt::print("passes ({}): {} -> {} nodes, {} change{}; dumps and logs in {}\n",
                   fmt::join(ad::passes::default_passes, ", "), network.graph().size(), r.graph.size(), changes,
                   changes == 1 ? "" : "s", f.dump_passes);
}

// The layers of --model, as the book's listings add them.
void add_layers(ad::Sequential& network, const Flags& f) {
    if (f.model == "mlp") {
        network.add(ad::Dense(f.hidden, "relu", pixels));
        network.add(ad::Dense(10, "softmax"));
        return;
    }
    network.add(ad::Conv2D(32, {3, 3}, "relu", ad::Shape{28, 28, 1}));
    network.add(ad::MaxPooling2D({2, 2}));
    network.add(ad::Conv2D(64, {3, 3}, "relu"));
    network.add(ad::MaxPooling2D({2, 2}));
    network.add(ad::Conv2D(64, {3, 3}, "relu"));
    network.add(ad::Flatten());
    network.add(ad::Dense(64, "relu"));
    network.add(ad::Dense(10, "softmax"));
}

// --gradcheck: the symbolic gradient of the loss on the first 8 training samples against
// central differences, for every weight (40 entries each), in f64; exit 1 if one fails.
int gradcheck(ad::Sequential& network, const ad::Mnist& data, const ad::Tensor& train_labels) {
    ad::Shape shape{data.train_images.shape()[0]};
    const ad::Shape input = network.input().shape();  // (batch, one sample...)
    for (const std::int64_t* d = input.begin() + 1; d != input.end(); ++d) shape.push_back(*d);
    const ad::Tensor images = data.train_images.view(shape, ad::DType::u8);
    ad::Batches first(images, train_labels, 8);
    const auto [x, y] = first.get(0);
    ad::GradCheckOptions options;
    options.max_samples = 40;
    options.seed = 1;
    options.values_from = &network.session();
    const ad::GradCheckReport report = ad::check_gradients(network.loss(), network.trainable_weights(),
                                                           {{network.input(), x}, {network.targets(), y}}, options);
    fmt::print("gradient check of \"{}\" on 8 training samples, up to 40 entries per variable:\n{}",
               network.loss().name(), report.str());
    fmt::print("{}\n", report.ok() ? "gradcheck: ok" : "gradcheck: FAILED");
    return report.ok() ? 0 : 1;
}

int run(const Flags& lead_flags, const std::shared_ptr<ad::Communicator>& comm) {
    const Flags f = comm->rank() == 0 ? lead_flags : follower_flags(lead_flags);
    if (comm->size() > 1 && f.gradcheck)
        throw ad::Error(
            fmt::format("--gradcheck runs in one process, not in the {} that mpirun started", comm->size()));
    const auto t0 = std::chrono::steady_clock::now();
    const std::string kernel = ad::matmul_kernel_name();  // a bad ADJOINT_MAX_ISA fails here, first
    const ad::Mnist data = ad::load_mnist(f.data_dir);
    const ad::Tensor train_labels = ad::to_categorical(data.train_labels, 10);
    const ad::Tensor test_labels = ad::to_categorical(data.test_labels, 10);

    ad::Sequential network({.seed = f.seed,
                            .threads = f.threads,
                            .profile = f.profile,
                            .check_numerics = f.check_numerics,
                            .distributed = comm->size() > 1 ? comm : nullptr,
                            .bucket_bytes = f.bucket_bytes,
                            .fuse_conv_pool = !f.unfused});
    try {
        add_layers(network, f);
        network.compile(*ad::make_optimizer(f.optimizer, f.lr), "categorical_crossentropy", {"accuracy"});
    } catch (const std::exception& e) {
        throw ad::Error(f.model == "mlp" ? fmt::format("building the model with --hidden {}: {}", f.hidden, e.what())
                                         : fmt::format("building the {} model: {}", f.model, e.what()));
    }
    if (!f.load.empty()) network.load_weights(f.load);
    // Written once the run cannot fail for its flags (a bad --load leaves the old dump).
    if (!f.dump_graph.empty()) {
        try {
            ad::dump_file(network.graph(), f.dump_graph, training_step(network), {},
                          {.collapse = split(f.dump_collapse, ',')});
        } catch (const ad::Error& e) {
            throw ad::Error(fmt::format("--dump-graph: {}", e.what()));
        }
    }
    if (!f.save_graph.empty()) {
        try {
            ad::save_graph(network.graph(), f.save_graph);
        } catch (const ad::Error& e) {
            throw ad::Error(fmt::format("--save-graph: {}", e.what()));
        }
    }
    if (!f.dump_passes.empty()) dump_passes(network, f);
    std::optional<ad::Watch> watch;
    if (!f.watch.empty()) {
        const std::vector<std::string> names = split(f.watch, ',');
        for (const std::string& name : names)
            if (!network.graph().find(name))
                throw LateFlagError(fmt::format(
                    "--watch: the training graph has no node named \"{}\" (--dump-graph FILE.txt lists them)", name));
        watch.emplace(network.graph(), names, f.watch_every, std::cout, f.json);
    }
    const double startup = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!f.quiet && !f.json) {
        std::cout << network.summary();
        fmt::print("data loaded and model built in {:.3f}s; matrix kernel {}\n", startup, kernel);
    }

    if (f.gradcheck) return gradcheck(network, data, train_labels);

    double train_accuracy = NAN;
    if (!f.evaluate_only) {
        const auto mode = f.json    ? ad::ProgressLogger::Mode::json
                          : f.quiet ? ad::ProgressLogger::Mode::quiet
                                    : ad::ProgressLogger::mode_for(STDOUT_FILENO);
        ad::ProgressLogger progress(std::cout, mode);
        ad::StopOnNaN stop_on_nan;
        std::vector<ad::Callback*> callbacks{&progress, &stop_on_nan};
        if (watch) callbacks.push_back(&*watch);
        std::optional<TraceSteps> trace;
        if (!f.trace.empty()) callbacks.push_back(&trace.emplace(network, f.trace, f.trace_steps));
        const ad::History h = network.fit(
            data.train_images, train_labels,
            {.epochs = f.epochs, .initial_epoch = f.initial_epoch, .batch_size = f.batch_size, .callbacks = callbacks});
        if (trace) trace->finish();
        // Stopped (the loss is NaN or infinite): no evaluation pretends to be a result, and
        // no weights are saved.
        if (!h.stopped_because.empty())
            throw ad::Error("training stopped: " + h.stopped_because + "; nothing was saved");
        if (!h.epochs.empty()) train_accuracy = h.epochs.back().accuracy.value_or(NAN);
    }
    if (f.profile) ad::dump_profile(network.graph(), network.session().profile(), std::cerr, 25);

    const auto e0 = std::chrono::steady_clock::now();
    const ad::Evaluation test = network.evaluate(data.test_images, test_labels, f.batch_size);
    const double eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    if (!f.save.empty()) network.save_weights(f.save);
    // The dump again, with the times: after the save, and a failure only warns (the
    // weights are saved; the dump of the start-up is still there).
    if (f.profile && !f.dump_graph.empty() && !f.evaluate_only) {
        try {
            ad::dump_file(network.graph(), f.dump_graph, training_step(network), network.session().profile(),
                          {.collapse = split(f.dump_collapse, ',')});
        } catch (const ad::Error& e) {
            fmt::print(stderr, "mnist: warning: --dump-graph with the times: {}\n", e.what());
        }
    }
    // JSON has no NaN or infinity: what is not a finite number is null.
    auto json = [](double v) { return ad::json_number(v); };
    if (f.silent) return 0;
    if (f.json)
        fmt::print(
            R"({{"test_loss": {}, "test_accuracy": {}, "train_accuracy": {}, "eval_seconds": {:.4f}, "startup_seconds": {:.4f}, "matrix_kernel": {}}})"
            "\n",
            json(test.loss), json(test.accuracy), json(train_accuracy), eval_seconds, startup, ad::json_string(kernel));
    else fmt::print("test_loss: {:.4f}\ntest_acc: {:.4f}\n", test.loss, test.accuracy);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Flags flags;
    try {
        if (!parse(argc, argv, flags)) return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "mnist: {}\nTry 'mnist --help'.\n", e.what());
        return 2;
    }
    // Started by mpirun: one rank of data-parallel training (README, "Training on several
    // machines"). A rank that fails ends the whole job, naming itself, so that no other
    // rank waits for it forever.
    std::optional<ad::Mpi> mpi;
    try {
        if (ad::launched_by_mpirun()) mpi.emplace(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "mnist: {}\n", e.what());
        return 1;
    }
    const std::shared_ptr<ad::Communicator> comm = mpi ? mpi->world() : ad::single_process();
    auto fail = [&](const std::exception& e, int code, bool late_flag) {
        if (flags.json && comm->rank() == 0) fmt::print("{{\"error\": {}}}\n", ad::json_string(e.what()));
        std::cout.flush();
        const std::string message = late_flag ? fmt::format("{}\nTry 'mnist --help'.", e.what()) : e.what();
        if (comm->size() > 1) mpi->abort("mnist", message, code);
        fmt::print(stderr, "mnist: {}\n", message);
        return code;
    };
    try {
        return run(flags, comm);
    } catch (const LateFlagError& e) {
        return fail(e, 2, true);
    } catch (const std::exception& e) {
        return fail(e, 1, false);
    }
}

// tools/mnist's flags, read with Boost.Program_options and checked one by one: a wrong
// value, a file that cannot be read or written, or a combination that makes no sense is
// refused by name before any work starts.
#include "mnist_flags.hpp"

#include <adjoint/adjoint.hpp>
#include <boost/program_options.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fmt/core.h>
#include <iostream>

namespace ad = adjoint;
namespace po = boost::program_options;

namespace mnist {

namespace {

// Upper bounds of the numeric flags: far above any use, far below what would overflow.
constexpr int max_epochs = 1000000, max_threads = 1 << 16;
constexpr std::int64_t max_batch_size = 1 << 24, max_hidden = 1 << 20, max_watch_every = 1LL << 40,
                       max_trace_steps = 10000;

// Whether an executable `name` is in a folder of $PATH.
bool on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    return std::ranges::any_of(split(path ? path : "", ':'), [&](const std::string& dir) {
        return access((std::filesystem::path(dir) / name).c_str(), X_OK) == 0;
    });
}

// Whether a file can be created in `dir` (tried for real: permissions, read-only or
// pseudo file systems). An empty string if so, else the reason. The probe is an unnamed
// file (O_TMPFILE), which nobody sees; where the file system lacks those, a named one.
std::string cannot_create_in(const std::filesystem::path& dir) {
    const std::filesystem::path folder = dir.empty() ? std::filesystem::path(".") : dir;
    int fd = open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return {};
    }
    if (errno != EOPNOTSUPP && errno != EISDIR) return std::strerror(errno);
    std::string probe = folder / ".mnist-write-test-XXXXXX";
    fd = mkstemp(probe.data());
    if (fd < 0) return std::strerror(errno);
    close(fd);
    unlink(probe.c_str());
    return {};
}

// What is at `path` (following links), as a phrase for messages: "" for a regular file,
// "missing" for nothing, else "a folder", "a FIFO", ... or the reason it cannot be told
// (a symbolic link loop, a folder on the way that cannot be read).
std::string kind_of(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return ec.message();
    switch (st.type()) {
        case fs::file_type::regular: return "";
        case fs::file_type::not_found: return "missing";
        case fs::file_type::directory: return "a folder";
        case fs::file_type::fifo: return "a FIFO";
        case fs::file_type::character:
        case fs::file_type::block: return "a device";
        case fs::file_type::socket: return "a socket";
        default: return "not a regular file";
    }
}

}  // namespace

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> out;
    std::size_t from = 0;
    while (from <= text.size()) {
        const std::size_t to = std::min(text.find(separator, from), text.size());
        if (to > from) out.push_back(text.substr(from, to - from));
        from = to + 1;
    }
    return out;
}

// Parses and checks every flag before any work starts. Returns false after --help.
bool parse(int argc, char** argv, Flags& f) {
    po::options_description opts(
        "Usage: mnist [flags]\nTrains 784-512-10 (or the book's convnet) on MNIST and prints the test "
        "accuracy.\nFlags");
    std::string seed = "0";
    auto add = opts.add_options();
    add("help", "show this help");
    add("model", po::value(&f.model)->default_value(f.model),
        "mlp (784-512-10) or convnet (the book's: three Conv2D, two MaxPooling2D, two Dense)");
    add("epochs", po::value(&f.epochs)->default_value(f.epochs), "training epochs");
    add("initial-epoch", po::value(&f.initial_epoch)->default_value(f.initial_epoch),
        "epochs already done: with --load of weights saved after epoch N, --initial-epoch N continues that run "
        "to the same bits");
    add("batch-size", po::value(&f.batch_size), "samples per step (default: mlp 128, convnet 64)");
    add("optimizer", po::value(&f.optimizer)->default_value(f.optimizer), "sgd, momentum, rmsprop or adam");
    add("lr", po::value(&f.lr), "learning rate (default: rmsprop and adam 0.001, sgd and momentum 0.01)");
    add("hidden", po::value(&f.hidden)->default_value(f.hidden), "units of the hidden layer (--model mlp)");
    add("bucket-bytes", po::value(&f.bucket_bytes)->default_value(f.bucket_bytes),
        "under mpirun: gradient bytes per all-reduce message (0: one message for all)");
    add("threads", po::value(&f.threads)->default_value(f.threads), "threads (0 = all cores)");
    add("seed", po::value(&seed)->default_value(seed), "seed of the initial weights and the shuffles (0 to 2^64 - 1)");
    add("data-dir", po::value(&f.data_dir)->default_value(f.data_dir),
        "folder with the four MNIST IDX files (raw or .gz)");
    add("save", po::value(&f.save), "write the trained weights to FILE");
    add("load", po::value(&f.load), "start from the weights in FILE");
    add("evaluate-only", po::bool_switch(&f.evaluate_only), "skip training: evaluate the --load weights");
    add("dump-graph", po::value(&f.dump_graph),
        "write the training graph to FILE (.txt, .dot, or .svg through Graphviz); with --profile, again after "
        "training, with each node's time");
    add("dump-collapse", po::value(&f.dump_collapse),
        "with --dump-graph FILE.dot or .svg: draw each of these name scopes (SCOPE[,SCOPE...], e.g. "
        "dense,grad/dense) as one box");
    add("save-graph", po::value(&f.save_graph),
        "write the training graph to FILE as a graph file (adjoint-graph dump or diff reads it)");
    add("dump-passes", po::value(&f.dump_passes),
        "run the graph passes over the training graph and write, into folder DIR, its dump before and after each "
        "pass and their logs");
    add("json", po::bool_switch(&f.json), "one JSON object per epoch and one for the evaluation");
    add("quiet", po::bool_switch(&f.quiet), "print only the final result");
    add("profile", po::bool_switch(&f.profile), "time every kernel and print where the time went");
    add("watch", po::value(&f.watch),
        "print min, max, mean, L2 norm and NaN/inf counts of these nodes (NAME[,NAME...], forward or grad/...)");
    add("watch-every", po::value(&f.watch_every)->default_value(f.watch_every), "steps between two --watch prints");
    add("gradcheck", po::bool_switch(&f.gradcheck),
        "instead of training: check the model's gradients (in f64) on 8 training samples, worst error per variable");
    add("trace", po::value(&f.trace),
        "write a Chrome trace (JSON, for Perfetto) of --trace-steps training steps, from step 2, to FILE");
    add("trace-steps", po::value(&f.trace_steps)->default_value(f.trace_steps), "steps --trace records");
    add("check-numerics", po::bool_switch(&f.check_numerics),
        "stop at the first node that makes NaN or infinity, name it, and change no weight");
    add("no-fuse", po::bool_switch(&f.unfused),
        "--model convnet: build the first Conv2D and its MaxPooling2D as two ops, not one conv2d_max_pool node");
    // No positional arguments: a stray word is collected, to be refused by name.
    po::options_description all;
    all.add(opts).add_options()("stray", po::value<std::vector<std::string>>());
    po::positional_options_description stray;
    stray.add("stray", -1);
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(stray).run(), vm);
    if (vm.count("help")) {
        std::cout << opts << "\n";
        return false;
    }
    po::notify(vm);
    auto bad = [](const std::string& flag, const std::string& why) {
        throw ad::Error(fmt::format("--{}: {}", flag, why));
    };
    if (vm.count("stray"))
        throw ad::Error(fmt::format("unexpected argument \"{}\" (every flag starts with --; see --help)",
                                    vm["stray"].as<std::vector<std::string>>().front()));
    if (f.model != "mlp" && f.model != "convnet") bad("model", fmt::format("\"{}\" is not mlp or convnet", f.model));
    if (!vm.count("batch-size")) f.batch_size = f.model == "convnet" ? 64 : 128;
    if (f.model != "mlp" && !vm["hidden"].defaulted())
        bad("hidden", "sets the MLP's hidden layer; it needs --model mlp");
    if (f.epochs < 1 && !f.evaluate_only) bad("epochs", fmt::format("{} is not a positive number of epochs", f.epochs));
    if (f.epochs > max_epochs) bad("epochs", fmt::format("{} is more than {}", f.epochs, max_epochs));
    if (f.initial_epoch < 0 || (f.initial_epoch >= f.epochs && !f.evaluate_only))
        bad("initial-epoch", fmt::format("{} is not from 0 to --epochs - 1 ({})", f.initial_epoch, f.epochs - 1));
    if (f.initial_epoch > 0 && f.load.empty()) bad("initial-epoch", "continues a run: it needs --load FILE");
    if (f.batch_size < 1 || f.batch_size > max_batch_size)
        bad("batch-size", fmt::format("{} is not a batch size from 1 to {}", f.batch_size, max_batch_size));
    if (vm.count("lr") && (!std::isfinite(f.lr) || f.lr <= 0))
        bad("lr", fmt::format("{} is not a positive, finite learning rate", f.lr));
    if (f.optimizer != "sgd" && f.optimizer != "momentum" && f.optimizer != "rmsprop" && f.optimizer != "adam")
        bad("optimizer", fmt::format("\"{}\" is not one of sgd, momentum, rmsprop, adam", f.optimizer));
    if (f.bucket_bytes < 0 || f.bucket_bytes > (std::int64_t{1} << 40))
        bad("bucket-bytes", fmt::format("{} is not a byte count from 0 to 2^40", f.bucket_bytes));
    if (f.hidden < 1 || f.hidden > max_hidden)
        bad("hidden", fmt::format("{} is not a number of units from 1 to {}", f.hidden, max_hidden));
    if (f.threads < 0 || f.threads > max_threads)
        bad("threads", fmt::format("{} is not a thread count from 0 (all cores) to {}", f.threads, max_threads));
    const auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), f.seed);
    if (ec != std::errc() || end != seed.data() + seed.size())
        bad("seed", fmt::format("\"{}\" is not a whole number from 0 to 18446744073709551615", seed));
    if (vm.count("watch") && split(f.watch, ',').empty()) bad("watch", fmt::format("\"{}\" names no node", f.watch));
    if (f.watch_every < 1 || f.watch_every > max_watch_every)
        bad("watch-every", fmt::format("{} is not a step count from 1 to {}", f.watch_every, max_watch_every));
    if (f.trace_steps < 1 || f.trace_steps > max_trace_steps)
        bad("trace-steps", fmt::format("{} is not a step count from 1 to {}", f.trace_steps, max_trace_steps));
    for (const char* flag : {"save", "load", "dump-graph", "dump-passes", "save-graph", "data-dir", "watch", "trace"})
        if (vm.count(flag) && vm[flag].as<std::string>().empty()) bad(flag, "the file name is empty");
    if (const std::string kind = kind_of(f.data_dir); kind != "a folder")
        bad("data-dir", fmt::format("\"{}\" is not a directory ({}; scripts/fetch-mnist fetches MNIST into data/mnist)",
                                    f.data_dir, kind.empty() ? "a file" : kind));
    if (f.evaluate_only && f.load.empty()) bad("evaluate-only", "needs --load FILE (the weights to evaluate)");
    if (const std::string kind = f.load.empty() ? "" : kind_of(f.load); !kind.empty())
        bad("load", fmt::format("\"{}\" is not a file ({})", f.load, kind));
    // Checked now, not after training: a save that cannot happen would lose the weights.
    // Only a regular file is replaced (nor is a FIFO written to, which would block).
    for (const auto& [flag, file] : {std::pair{"save", f.save}, std::pair{"dump-graph", f.dump_graph},
                                     std::pair{"trace", f.trace}, std::pair{"save-graph", f.save_graph}}) {
        if (file.empty()) continue;
        const std::filesystem::path dir = std::filesystem::path(file).parent_path();
        if (const std::string kind = dir.empty() ? "a folder" : kind_of(dir.string()); kind == "missing")
            bad(flag, fmt::format("the folder \"{}\" does not exist", dir.string()));
        else if (kind != "a folder")
            bad(flag, fmt::format("\"{}\" is not a folder ({})", dir.string(), kind.empty() ? "a file" : kind));
        if (const std::string kind = kind_of(file); !kind.empty() && kind != "missing")
            bad(flag, fmt::format("\"{}\" is {}, not a regular file", file, kind));
        if (const std::string why = cannot_create_in(dir); !why.empty())
            bad(flag, fmt::format("cannot create a file in \"{}\": {}", dir.empty() ? "." : dir.string(), why));
    }
    if (!f.dump_graph.empty() && !f.dump_graph.ends_with(".txt") && !f.dump_graph.ends_with(".dot") &&
        !f.dump_graph.ends_with(".svg"))
        bad("dump-graph", fmt::format("\"{}\" must end in .txt, .dot or .svg", f.dump_graph));
    if (f.dump_graph.ends_with(".svg") && !on_path("dot"))
        bad("dump-graph", fmt::format("\"{}\": an SVG is drawn by Graphviz's dot, which is not installed (apt-get "
                                      "install graphviz); a .dot file needs nothing",
                                      f.dump_graph));
    if (!f.dump_passes.empty()) {
        const std::filesystem::path dir(f.dump_passes);
        const std::string parent = dir.parent_path().empty() ? "." : dir.parent_path().string();
        if (const std::string kind = kind_of(f.dump_passes); kind != "a folder" && kind != "missing")
            bad("dump-passes",
                fmt::format("\"{}\" is not a folder ({})", f.dump_passes, kind.empty() ? "a file" : kind));
        else if (kind == "missing" && kind_of(parent) != "a folder")
            bad("dump-passes", fmt::format("the folder \"{}\" does not exist", parent));
        else if (const std::string why = cannot_create_in(kind == "missing" ? parent : f.dump_passes); !why.empty())
            bad("dump-passes",
                fmt::format("cannot create a file in \"{}\": {}", kind == "missing" ? parent : f.dump_passes, why));
    }
    if (vm.count("dump-collapse")) {
        if (!f.dump_graph.ends_with(".dot") && !f.dump_graph.ends_with(".svg"))
            bad("dump-collapse", "draws boxes in a drawing: it needs --dump-graph FILE.dot or FILE.svg");
        if (split(f.dump_collapse, ',').empty())
            bad("dump-collapse", fmt::format("\"{}\" names no scope", f.dump_collapse));
    }
    if (f.json && f.quiet) bad("quiet", "cannot be combined with --json");
    if (f.gradcheck)
        for (const char* other : {"evaluate-only", "save", "watch", "trace", "json"})
            if (vm.count(other) && !vm[other].defaulted())
                bad("gradcheck", fmt::format("checks instead of training: it cannot be combined with --{}", other));
    if (f.evaluate_only)
        for (const char* other : {"watch", "trace"})
            if (vm.count(other)) bad(other, "watches training: it cannot be combined with --evaluate-only");
    return true;
}

Flags follower_flags(Flags f) {
    f.json = f.profile = false;
    f.quiet = f.silent = true;
    f.save.clear();
    f.dump_graph.clear();
    f.dump_passes.clear();
    f.save_graph.clear();
    f.trace.clear();
    f.watch.clear();
    return f;
}

}  // namespace mnist

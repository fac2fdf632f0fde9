// Executor overhead: a chain of --nodes tiny ops (each adds 1 to a single number), so the
// kernels cost next to nothing and the time per node is the executor's own.
#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <fmt/core.h>
#include <iostream>

namespace ad = adjoint;
namespace po = boost::program_options;

namespace {

// Times `repeat` runs of a chain of `nodes` adds on 1 and 2 threads.
int measure(int nodes, int repeat) {
    ad::Graph g;
    const ad::Expr x = g.placeholder("x", {1});
    const ad::Expr one = g.constant(ad::Tensor::from({1.f}));
    ad::Expr h = x;
    for (int i = 0; i < nodes; ++i) h = h + one;
    const ad::Feeds feeds{{x, ad::Tensor::from({0.f})}};
    for (int threads : {1, 2}) {
        ad::Session sess(g, {.threads = threads});
        const float check = sess.run({h}, feeds)[0].item<float>();  // compiles the plan
        if (check != static_cast<float>(nodes)) {
            std::cerr << "bench_executor: the chain computed " << check << ", not " << nodes << "\n";
            return 1;
        }
        std::vector<double> us;
        for (int r = 0; r < repeat; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            sess.run({h}, feeds);
            us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(us.begin(), us.end());
        fmt::print("{} thread{}: {:.3f} us per node (median of {} runs of a {}-node chain)\n", threads,
                   threads > 1 ? "s" : "", us[us.size() / 2] / nodes, repeat, nodes);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int nodes = 10000, repeat = 20;
    po::options_description opts("bench_executor: microseconds per node on a chain of tiny ops");
    opts.add_options()("help", "show this help")("nodes", po::value(&nodes)->default_value(nodes), "chain length")(
        "repeat", po::value(&repeat)->default_value(repeat), "runs per thread count");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
        if (nodes < 1 || repeat < 1) throw po::error("--nodes and --repeat must be at least 1");
    } catch (const po::error& e) {
        std::cerr << "bench_executor: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    try {
        return measure(nodes, repeat);
    } catch (const std::exception& e) {
        std::cerr << "bench_executor: " << e.what() << "\n";
        return 1;
    }
}

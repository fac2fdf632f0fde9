// GEMM throughput at the MNIST network's shapes (as the training step runs them, with
// transposed operands where the gradients read them so) and at 2048^3. Median of --repeat
// runs of each, through a Session, on --threads threads.
#include "ops/gemm.hpp"
#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <fmt/core.h>
#include <iostream>

namespace ad = adjoint;
namespace po = boost::program_options;

namespace ad_ops = adjoint::ops;

int main(int argc, char** argv) {
    int repeat = 30, threads = 0;
    po::options_description opts("bench_gemm: matmul GFLOP/s at the network's shapes");
    opts.add_options()("help", "show this help")("repeat", po::value(&repeat)->default_value(30), "runs per shape")(
        "threads", po::value(&threads)->default_value(0), "threads (0 = all cores)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
        if (repeat < 1) throw po::error("--repeat must be at least 1");
        if (threads < 0) throw po::error("--threads must not be negative");
    } catch (const po::error& e) {
        std::cerr << "bench_gemm: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    struct Case {
        const char* what;
        std::int64_t m, k, n;
        bool ta, tb;
    };
    // clang-format off: one product per line
    const Case cases[] = {
        {"x W1 (forward)", 128, 784, 512, false, false}, {"x^T dh = dW1", 784, 128, 512, true, false},
        {"h W2 (forward)", 128, 512, 10, false, false},  {"h^T dz = dW2", 512, 128, 10, true, false},
        {"dz W2^T = dh", 128, 10, 512, false, true},     {"2048^3", 2048, 2048, 2048, false, false},
    };
    // clang-format on
    // The kernel alone, on this thread, its data in L1: what no product can beat.
    fmt::print("micro-kernel: {}, alone on data in L1 (1 thread): {:.1f} GFLOP/s\n", ad_ops::gemm_kernel_name(),
               ad_ops::gemm_kernel_gflops_in_l1(0.5));
    fmt::print("{:<16} {:>16} {:>10} {:>10}\n", "product", "M x K x N", "ms", "GFLOP/s");
    for (const Case& c : cases) {
        ad::Graph g;
        const auto a = g.placeholder("a", c.ta ? ad::Shape{c.k, c.m} : ad::Shape{c.m, c.k});
        const auto b = g.placeholder("b", c.tb ? ad::Shape{c.n, c.k} : ad::Shape{c.k, c.n});
        const auto y = ad::matmul(a, b, {.a = c.ta, .b = c.tb});
        ad::Session sess(g, {.threads = threads});
        const ad::Feeds feeds{{a, ad::Tensor::full(a.shape(), 0.5)}, {b, ad::Tensor::full(b.shape(), 0.25)}};
        sess.run({}, feeds, {y});  // compile and warm up
        std::vector<double> seconds;
        const int runs = c.m >= 2048 ? std::max(3, repeat / 10) : repeat;
        for (int r = 0; r < runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            sess.run({}, feeds, {y});
            seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(seconds.begin(), seconds.end());
        const double s = seconds[seconds.size() / 2];
        fmt::print("{:<16} {:>16} {:>10.3f} {:>10.1f}\n", c.what, fmt::format("{}x{}x{}", c.m, c.k, c.n), 1e3 * s,
                   2.0 * static_cast<double>(c.m * c.k * c.n) / s / 1e9);
    }
}

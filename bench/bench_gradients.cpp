// Times building the gradients of the 784-512-10 MLP's loss (graph building only: no run).
// Prints the median and best of --repeat fresh graphs.
#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <fmt/core.h>
#include <iostream>

namespace ad = adjoint;
namespace po = boost::program_options;

int main(int argc, char** argv) {
    int repeat = 200;
    po::options_description opts("bench_gradients: time gradients() on the MLP graph");
    opts.add_options()("help", "show this help")("repeat", po::value(&repeat)->default_value(200), "graphs to time");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "bench_gradients: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    if (repeat < 1) {
        std::cerr << "bench_gradients: --repeat must be at least 1, got " << repeat << "\n";
        return 2;
    }
    std::vector<double> micros;
    std::size_t forward = 0, backward = 0;
    for (int r = 0; r < repeat; ++r) {
        ad::Graph g;
        const auto x = g.placeholder("x", {ad::batch, 784});
        const auto y = g.placeholder("y", {ad::batch, 10});
        const auto w1 = g.variable("w1", {784, 512}, ad::init::zeros());
        const auto b1 = g.variable("b1", {512}, ad::init::zeros());
        const auto w2 = g.variable("w2", {512, 10}, ad::init::zeros());
        const auto b2 = g.variable("b2", {10}, ad::init::zeros());
        const auto h = ad::relu(ad::matmul(x, w1) + b1);
        const auto loss = ad::mean(ad::softmax_cross_entropy(ad::matmul(h, w2) + b2, y));
        forward = g.size();
        const auto t0 = std::chrono::steady_clock::now();
        const auto gs = ad::gradients(loss, {w1, b1, w2, b2});
        const auto t1 = std::chrono::steady_clock::now();
        backward = g.size() - forward;
        micros.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(micros.begin(), micros.end());
    fmt::print(
        "gradients() of the MLP loss: {} forward nodes -> {} gradient nodes; median {:.1f} us, best {:.1f} us "
        "over {} graphs\n",
        forward, backward, micros[micros.size() / 2], micros.front(), repeat);
}

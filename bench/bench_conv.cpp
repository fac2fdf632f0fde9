// The convnet's convolution ops alone, at its shapes (batch 64): conv2d with its bias and
// relu epilogue, conv2d_backprop_input, conv2d_backprop_filter, and the pooling ops,
// through a Session on --threads threads; median of --repeat runs, with GFLOP/s for the
// products and GB/s (bytes read and written once) for the rest.
#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <fmt/core.h>
#include <functional>
#include <iostream>

namespace ad = adjoint;
namespace po = boost::program_options;

namespace {

// Median seconds of `repeat` runs of y after ten warm-up runs (the plan, the threads and
// the clock speed settle).
double time_of(ad::Session& sess, const ad::Feeds& feeds, const std::vector<ad::Expr>& y, int repeat) {
    std::vector<ad::Tensor> out;
    for (int r = 0; r < 10; ++r) sess.run(y, feeds, {}, out);
    std::vector<double> seconds;
    for (int r = 0; r < repeat; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        sess.run(y, feeds, {}, out);
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(seconds.begin(), seconds.begin() + repeat / 2, seconds.end());
    return seconds[static_cast<std::size_t>(repeat / 2)];
}

}  // namespace

int main(int argc, char** argv) {
    int repeat = 50, threads = 0;
    po::options_description opts("bench_conv: the convnet's convolution and pooling ops at batch 64");
    opts.add_options()("help", "show this help")("repeat", po::value(&repeat)->default_value(50), "runs per op")(
        "threads", po::value(&threads)->default_value(0), "threads (0 = all cores)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
        if (repeat < 1) throw po::error("--repeat must be at least 1");
        if (threads < 0) throw po::error("--threads must not be negative");
    } catch (const po::error& e) {
        std::cerr << "bench_conv: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    try {
        struct Layer {
            const char* name;
            std::int64_t h, c, f;  // a square h x h image of c channels, f 3x3 filters
        };
        const Layer layers[] = {{"conv2d", 28, 1, 32}, {"conv2d_1", 13, 32, 64}, {"conv2d_2", 5, 64, 64}};
        const std::int64_t n = 64;
        fmt::print("{:<10} {:<24} {:>9} {:>9}\n", "layer", "op", "ms", "GFLOP/s");
        for (const Layer& l : layers) {
            const std::int64_t o = l.h - 2;
            const auto flops = static_cast<double>(2 * n * o * o * l.f * 9 * l.c);
            ad::Graph g;
            const auto x = g.placeholder("x", {n, l.h, l.h, l.c});
            const auto w = g.placeholder("w", {3, 3, l.c, l.f});
            const auto b = g.placeholder("b", {l.f});
            const auto dy = g.placeholder("dy", {n, o, o, l.f});
            const ad::Feeds feeds{{x, ad::Tensor::full(x.shape(), 0.5)},
                                  {w, ad::Tensor::full(w.shape(), 0.25)},
                                  {b, ad::Tensor::full(b.shape(), 0.1)},
                                  {dy, ad::Tensor::full(dy.shape(), 0.125)}};
            const std::pair<const char*, ad::Expr> ops[] = {
                {"conv2d_bias (relu)", ad::conv2d_bias(x, w, b, true)},
                {"conv2d_backprop_input", ad::conv2d_backprop_input(dy, w, {l.h, l.h, l.c})},
                {"conv2d_backprop_filter", ad::conv2d_backprop_filter(x, dy, {3, 3})},
            };
            ad::Session sess(g, {.threads = threads});
            for (const auto& [what, y] : ops) {
                const double s = time_of(sess, feeds, {y}, repeat);
                fmt::print("{:<10} {:<24} {:>9.3f} {:>9.1f}\n", l.name, what, 1e3 * s, flops / s / 1e9);
            }
        }
        // The first pooling layer: (64, 26, 26, 32) -> (64, 13, 13, 32).
        ad::Graph g;
        const auto x = g.placeholder("x", {n, 26, 26, 32});
        const auto dy = g.placeholder("dy", {n, 13, 13, 32});
        const ad::Feeds feeds{{x, ad::Tensor::full(x.shape(), 0.5)}, {dy, ad::Tensor::full(dy.shape(), 0.25)}};
        ad::Session sess(g, {.threads = threads});
        const auto big = static_cast<double>(4 * n * 26 * 26 * 32), small = static_cast<double>(4 * n * 13 * 13 * 32);
        fmt::print("\n{:<10} {:<24} {:>9} {:>9}\n", "layer", "op", "ms", "GB/s");
        const std::pair<const char*, std::pair<ad::Expr, double>> pools[] = {
            {"max_pool2d", {ad::max_pool2d(x), big + small}},
            {"max_pool2d_grad", {ad::max_pool2d_grad(x, dy), 2 * big + small}},
        };
        for (const auto& [what, op] : pools) {
            const double s = time_of(sess, feeds, {op.first}, repeat);
            fmt::print("{:<10} {:<24} {:>9.3f} {:>9.1f}\n", "pool", what, 1e3 * s, op.second / s / 1e9);
        }
        // The first layer and its pooling as one node each way (what Sequential builds),
        // against the ops they replace, on random images (ties would favour one path).
        ad::Graph f;
        const auto img = f.placeholder("x", {n, 28, 28, 1});
        const auto w1 = f.placeholder("w", {3, 3, 1, 32});
        const auto b1 = f.placeholder("b", {32});
        const auto dp = f.placeholder("dp", {n, 13, 13, 32});
        auto scattered = [](const ad::Shape& shape, double lo, double hi) {  // a fixed pseudo-random fill
            ad::Tensor t = ad::Tensor::zeros(shape);
            auto v = t.data<float>();
            for (std::size_t i = 0; i < v.size(); ++i)
                v[i] = static_cast<float>(lo + (hi - lo) * static_cast<double>(i * 7919 % 1000) / 1000);
            return t;
        };
        const ad::Feeds ffeeds{{img, scattered(img.shape(), 0, 1)},
                               {w1, scattered(w1.shape(), -0.5, 0.5)},
                               {b1, ad::Tensor::full(b1.shape(), 0.1)},
                               {dp, ad::Tensor::full(dp.shape(), 0.125)}};
        const ad::Expr y1 = ad::conv2d_bias(img, w1, b1, true);
        const ad::Expr dz = ad::mask(ad::max_pool2d_grad(y1, dp), y1);
        const std::pair<const char*, std::vector<ad::Expr>> fused[] = {
            {"conv2d_bias + max_pool2d", {ad::max_pool2d(y1)}},
            {"conv2d_max_pool", {ad::conv2d_max_pool(img, w1, b1, true, {2, 2})}},
            {"pool grad, mask, dw, db", {ad::conv2d_backprop_filter(img, dz, {3, 3}), ad::sum(dz, {0, 1, 2})}},
            {"conv2d_max_pool_backprop", {ad::conv2d_max_pool_backprop(img, w1, b1, dp, true, {2, 2})}},
        };
        ad::Session fs(f, {.threads = threads});
        fmt::print("\n{:<10} {:<26} {:>9}\n", "layer", "ops", "ms");
        for (const auto& [what, ys] : fused)
            fmt::print("{:<10} {:<26} {:>9.3f}\n", "conv2d", what, 1e3 * time_of(fs, ffeeds, ys, repeat));
    } catch (const std::exception& e) {
        std::cerr << "bench_conv: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

// The machine's FP32 FMA peak, the denominator of "% of peak" in scripts/bench: every
// thread runs the same loop of independent FMAs on the widest vectors the CPU has (512-bit
// AVX-512 or 256-bit AVX2; 2 FLOPs per lane) and the aggregate rate is reported, best of
// --repeat (noise only ever slows it down). 12 accumulators cover an FMA latency of 4-5
// cycles on two FMA pipes, so the loop is bound by FMA throughput alone. Where AVX-512
// runs, the AVX2 peak is printed too (avx2_fma_peak_gflops). On a CPU without AVX2+FMA it
// says so and exits 1.
#include <immintrin.h>

#include "core/isa.hpp"

#include <adjoint/adjoint.hpp>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <fmt/core.h>
#include <iostream>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace po = boost::program_options;

namespace {

constexpr long iterations = 50'000'000;  // per thread, of 12 FMAs on 8 lanes (25'000'000 on 16)
constexpr int chains = 12;

// Returns a value that depends on every FMA, so nothing is optimised away.
__attribute__((target("avx2,fma"))) float fma_loop(long n) {
    __m256 acc[chains];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < chains; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
    for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < chains; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
    }
    __m256 s = acc[0];
    for (int k = 1; k < chains; ++k) s = _mm256_add_ps(s, acc[k]);
    alignas(32) float out[8];
    _mm256_store_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) float fma_loop_512(long n) {
    __m512 acc[chains];
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < chains; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
    for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < chains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
    }
    __m512 s = acc[0];
    for (int k = 1; k < chains; ++k) s = _mm512_add_ps(s, acc[k]);
    alignas(64) float out[16];
    _mm512_store_ps(out, s);
    return out[0];
}

// GFLOP/s of `threads` threads running the loop of `lanes` lanes at once.
double measure(int threads, int lanes) {
    tbb::task_arena arena(threads);
    std::vector<float> sink(static_cast<std::size_t>(threads));
    const long n = iterations * 8 / lanes;
    const auto t0 = std::chrono::steady_clock::now();
    arena.execute([&] {
        tbb::parallel_for(
            0, threads, [&](int t) { sink[static_cast<std::size_t>(t)] = lanes == 16 ? fma_loop_512(n) : fma_loop(n); },
            tbb::static_partitioner());
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink[0] == 12345.f) std::cout << "";  // keeps the results alive
    return static_cast<double>(threads) * static_cast<double>(n) * chains * lanes * 2 / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    int repeat = 20;  // about 0.1 s each: the best of 2 s rides out a noisy neighbour
    po::options_description opts("bench_peak: FP32 FMA peak (the widest vectors), GFLOP/s on 1 and 2 threads");
    opts.add_options()("help", "show this help")("repeat", po::value(&repeat)->default_value(repeat),
                                                 "best of how many runs");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
        if (repeat < 1) throw po::error("--repeat must be at least 1");
    } catch (const po::error& e) {
        std::cerr << "bench_peak: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    if (adjoint::best_isa() < adjoint::Isa::avx2) {
        std::cerr << "bench_peak: this CPU has no AVX2+FMA; there is no vector FMA peak to measure\n";
        return 1;
    }
    const int cores = tbb::info::default_concurrency();
    const bool avx512 = adjoint::best_isa() == adjoint::Isa::avx512;  // the CPU's, whatever ADJOINT_MAX_ISA says
    for (int threads : {1, std::min(2, cores)}) {
        double widest = 0, avx2 = 0;
        for (int r = 0; r < repeat; ++r) {
            avx2 = std::max(avx2, measure(threads, 8));
            if (avx512) widest = std::max(widest, measure(threads, 16));
        }
        fmt::print("threads {}  fma_peak_gflops {:.1f}  isa {}\n", threads, avx512 ? widest : avx2,
                   avx512 ? "avx512" : "avx2");
        if (avx512) fmt::print("threads {}  avx2_fma_peak_gflops {:.1f}\n", threads, avx2);
        if (cores < 2) break;
    }
}

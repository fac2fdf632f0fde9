// The instruction sets, picked at run time (core/isa.hpp): every GEMM micro-kernel this CPU
// runs agrees with the triple loop, the AVX2 and AVX-512 kernels give the same bits, and
// the loops compiled once per instruction set (parallel_chunks) give the same bits on all.
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>

#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include "../helpers.hpp"
#include "core/isa.hpp"
#include "ops/gemm.hpp"

namespace adjoint::test {

namespace {

// Restores the kernel in use when the test is done.
struct KeepIsa {
    Isa saved = isa();
    ~KeepIsa() { set_isa(saved); }
};

struct Product {
    bool ta, tb;
    std::int64_t M, N, K;
    bool bias, relu;
};

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed) {
    const Tensor t = random_tensor({n}, DType::f32, -1, 1, seed);
    return {t.data<float>().begin(), t.data<float>().end()};
}

// C for product p with the kernel `isa`, in the default arena or, given `threads`, in an
// arena of that many. C is followed by 32 floats that no kernel may write (the AVX-512
// kernels' masked stores are not checked by AddressSanitizer).
std::vector<float> run(Isa isa, const Product& p, const std::vector<float>& a, const std::vector<float>& b,
                       const std::vector<float>& bias, int threads = 0) {
    set_isa(isa);
    constexpr std::size_t tail = 32;
    const auto size = static_cast<std::size_t>(p.M * p.N);
    std::vector<float> c(size + tail, -7.f);
    const auto product = [&] {
        ops::gemm<float>(p.ta, p.tb, p.M, p.N, p.K, a.data(), b.data(), c.data(), {},
                         {.bias = p.bias ? bias.data() : nullptr, .relu = p.relu});
    };
    if (threads > 0) tbb::task_arena(threads).execute(product);
    else product();
    for (std::size_t i = size; i < size + tail; ++i) CHECK(c[i] == -7.f);
    c.resize(size);
    return c;
}

}  // namespace

TEST_CASE("gemm: every kernel this CPU runs agrees with the triple loop, and AVX2 and AVX-512 bit for bit") {
    const KeepIsa keep;
    const Isa best = best_isa();
    MESSAGE("widest kernel here: " << std::string(isa_name(best)));
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 64);
    // Whole tiles, partial ones in both directions, K over one block (256), either operand
    // transposed, N at most 16 (the AVX-512 path then runs the 16-wide kernel), a large A
    // that is packed, and the epilogue. The last panel of columns of the 32-wide kernel:
    // 13, 6, 1 and 8 columns (its second register masked off), 16 (exactly), 18.
    const std::vector<Product> products = {
        {false, false, 6, 32, 8, false, false},       {false, false, 13, 45, 300, true, true},
        {false, false, 16, 50, 300, true, true},      {false, false, 8, 48, 20, true, false},
        {true, false, 37, 70, 129, true, true},       {false, true, 128, 512, 784, true, false},
        {true, true, 50, 33, 513, false, true},       {false, false, 7, 10, 1, true, true},
        {false, false, 1051, 40, 1024, false, false}, {false, false, 5, 16, 40, true, true},
        {false, false, 12, 16, 300, true, true},      {true, false, 512, 10, 128, false, false},
    };
    for (const Product& p : products) {
        CAPTURE(p.M);
        CAPTURE(p.N);
        CAPTURE(p.K);
        CAPTURE(p.ta);
        CAPTURE(p.tb);
        const auto a = random_floats(p.M * p.K, 1), b = random_floats(p.K * p.N, 2), bias = random_floats(p.N, 3);
        std::vector<float> want(static_cast<std::size_t>(p.M * p.N));
        ops::gemm_reference<float>(p.ta, p.tb, p.M, p.N, p.K, a.data(), b.data(), want.data());
        for (std::int64_t i = 0; i < p.M; ++i)
            for (std::int64_t j = 0; j < p.N; ++j) {
                float& v = want[static_cast<std::size_t>(i * p.N + j)];
                if (p.bias) v += bias[static_cast<std::size_t>(j)];
                if (p.relu) v = std::max(v, 0.f);
            }
        std::vector<std::vector<float>> got;
        for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
            if (isa > best) continue;
            CAPTURE(isa_name(isa));
            // One thread: tasks of whole columns where A is short (each packs its own B
            // panels); 64: too few B panels, so B is packed before the tasks. Both paths,
            // partial panels and transposed B on any host, and the same bits.
            got.push_back(run(isa, p, a, b, bias, 1));
            const std::vector<float> wide = run(isa, p, a, b, bias, 64);
            CHECK(std::memcmp(wide.data(), got.back().data(), wide.size() * sizeof(float)) == 0);
            double worst = 0;  // |error| <= K eps sum |a||b| <= K eps K (|a|, |b| <= 1)
            for (std::size_t i = 0; i < want.size(); ++i)
                worst = std::max(worst, std::abs(static_cast<double>(got.back()[i]) - want[i]));
            CHECK(worst <= 1e-6 * static_cast<double>(p.K));
        }
        if (got.size() == 3) CHECK(std::memcmp(got[1].data(), got[2].data(), got[1].size() * sizeof(float)) == 0);
    }
}

// A stored matrix handed to gemm_blocks block by block, as the convolutions hand their
// patches; it counts the elements asked for.
template <class T = float> struct Stored {
    const T* a;
    std::int64_t cols;
    mutable std::atomic<std::int64_t> asked{0};
    static void fill(const void* context, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1, T* dst,
                     std::int64_t ld) {
        const auto* s = static_cast<const Stored*>(context);
        for (std::int64_t r = r0; r < r1; ++r)
            for (std::int64_t c = c0; c < c1; ++c) dst[(r - r0) * ld + (c - c0)] = s->a[r * s->cols + c];
        s->asked += (r1 - r0) * (c1 - c0);
    }
};

TEST_CASE("gemm_blocks: A filled block by block gives gemm's bits on the stored A, and is asked for once") {
    const KeepIsa keep;
    // Partial panels (M not a multiple of 6 or 8), several blocks of k, the epilogue, ta or
    // not, the convolutions' shapes (7,744 x 288 by 64; 288 x 7,744 by 64), and a K too
    // large for a task's buffer without ta (refused) but not with it.
    const std::vector<Product> products = {
        {false, false, 13, 45, 300, true, true},   {true, false, 37, 70, 600, false, false},
        {false, false, 7744, 64, 288, true, true}, {true, false, 288, 64, 7744, false, false},
        {false, false, 5, 16, 3072, false, true},  {true, false, 50, 33, 3000, true, false},
    };
    for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
        if (isa > best_isa()) continue;
        for (const Product& p : products) {
            CAPTURE(std::string(isa_name(isa)));
            CAPTURE(p.M);
            CAPTURE(p.K);
            CAPTURE(p.ta);
            const auto a = random_floats(p.M * p.K, 4), b = random_floats(p.K * p.N, 5), bias = random_floats(p.N, 6);
            const std::vector<float> want = run(isa, p, a, b, bias);
            std::vector<float> got(want.size(), -7.f);
            const Stored<> stored{a.data(), p.ta ? p.M : p.K};
            ops::gemm_blocks<float>(p.ta, {Stored<>::fill, &stored}, p.M, p.N, p.K, b.data(), got.data(), {},
                                    {.bias = p.bias ? bias.data() : nullptr, .relu = p.relu});
            CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
            // Each task asks for its rows once (per block of k with ta), and tasks are cut
            // in rows alone, whatever the thread count: A once over.
            CHECK(stored.asked == p.M * p.K);
        }
    }
    // f64, either layout; K = 0: C is the epilogue of zeros, and nothing is asked for.
    for (bool ta : {false, true}) {
        const std::int64_t M = 20, N = 24, K = 300;
        const Tensor a = random_tensor({M * K}, DType::f64, -1, 1, 7), b = random_tensor({K * N}, DType::f64, -1, 1, 8);
        std::vector<double> want(M * N), got(M * N, -7.0);
        ops::gemm<double>(ta, false, M, N, K, a.data<double>().data(), b.data<double>().data(), want.data());
        const Stored<double> stored{a.data<double>().data(), ta ? M : K};
        ops::gemm_blocks<double>(ta, {Stored<double>::fill, &stored}, M, N, K, b.data<double>().data(), got.data());
        CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(double)) == 0);
    }
    std::vector<float> bias{1.f, -2.f, 3.f}, c(12, -7.f);
    const Stored<> empty{nullptr, 0};
    ops::gemm_blocks<float>(false, {Stored<>::fill, &empty}, 4, 3, 0, nullptr, c.data(), {},
                            {.bias = bias.data(), .relu = true});
    CHECK(c == std::vector<float>{1, 0, 3, 1, 0, 3, 1, 0, 3, 1, 0, 3});
    CHECK(empty.asked == 0);
    // A K of one more than the buffer holds for a panel of 8 rows (3,072 f32) is refused.
    static_assert(ops::gemm_blocks_max_k<float> == 3072 && ops::gemm_blocks_max_k<double> == 1536);
    std::vector<float> b(std::size_t{3073} * 8);
    c.assign(48, 0.f);
    const Stored<> none{nullptr, 3073};
    CHECK_THROWS_WITH_AS(ops::gemm_blocks<float>(false, {Stored<>::fill, &none}, 6, 8, 3073, b.data(), c.data()),
                         doctest::Contains("K = 3073 is over 3072"), std::logic_error);
}

TEST_CASE("gemm: the epilogue in every kernel's registers is bias then Relu::f, bit for bit, with NaN and -0.0") {
    const KeepIsa keep;
    // 24 x N by 3: C has NaN (from inf - inf), infinities, zeros and ordinary values of
    // both signs in whole tiles (24 rows: whole panels of 6 and of 8); the bias has -0.0
    // and NaN too. N = 64 runs the widest kernel, N = 16 the 16-column one; N = 45, 10 and
    // 50 end in a partial panel of columns (AVX-512: masked loads and stores, no buffer).
    for (const std::int64_t N : {64, 16, 45, 10, 50}) {
        CAPTURE(N);
        constexpr std::int64_t M = 24, K = 3;
        std::vector<float> a(M * K), b(K * N), bias(N);
        for (std::int64_t i = 0; i < M * K; ++i) a[static_cast<std::size_t>(i)] = static_cast<float>(i % 7) - 3.f;
        for (std::int64_t i = 0; i < K * N; ++i)
            b[static_cast<std::size_t>(i)] = static_cast<float>(i % 5) * 0.5f - 1.f;
        a[0] = INFINITY, a[1] = -INFINITY, b[0] = 1.f, b[N] = 1.f;  // C[0][0] = inf - inf = NaN
        for (std::int64_t j = 0; j < N; ++j) bias[static_cast<std::size_t>(j)] = static_cast<float>(j % 3) - 1.f;
        bias[1] = -0.f, bias[5] = NAN;
        for (Isa i : {Isa::portable, Isa::avx2, Isa::avx512}) {
            if (i > best_isa()) continue;
            CAPTURE(isa_name(i));
            for (bool relu : {false, true}) {
                set_isa(i);
                std::vector<float> fused(M * N), plain(M * N);
                ops::gemm<float>(false, false, M, N, K, a.data(), b.data(), fused.data(), {},
                                 {.bias = bias.data(), .relu = relu});
                ops::gemm<float>(false, false, M, N, K, a.data(), b.data(), plain.data());
                for (std::int64_t r = 0; r < M; ++r)
                    for (std::int64_t j = 0; j < N; ++j) {
                        float& v = plain[static_cast<std::size_t>(r * N + j)];
                        v = v + bias[static_cast<std::size_t>(j)];
                        if (relu) v = ops::Relu::f(v);
                    }
                CHECK(std::isnan(plain[0]));
                // Bit for bit, but for a NaN's sign and payload where both operands of the
                // bias's add are NaN (C's inf - inf and a NaN bias): IEEE 754 leaves which
                // one the sum carries open, and the compiler may swap an add's operands.
                for (std::size_t q = 0; q < fused.size(); ++q) {
                    CAPTURE(q);
                    const bool nan_plus_nan = std::isnan(bias[q % static_cast<std::size_t>(N)]) &&
                                              std::isnan(fused[q]) && std::isnan(plain[q]);
                    CHECK((nan_plus_nan ||
                           std::bit_cast<std::uint32_t>(fused[q]) == std::bit_cast<std::uint32_t>(plain[q])));
                }
            }
        }
    }
}

TEST_CASE("isa: element-wise, reduction, softmax and optimizer kernels give the same bits on every instruction set") {
    const KeepIsa keep;
    Graph g;
    const Expr x = g.placeholder("x", {batch, 300});
    const Expr w = g.variable("w", {300}, init::uniform(-1, 1, 5));
    const Expr y = exp(x) * 0.3f + sqrt(abs(x)) / (x * x + 1.f) - tanh(x * w) + sigmoid(x) * gelu(x);
    const Expr p = softmax(y * 3.f, -1);
    const Expr loss = mean(square(p - 0.1f)) + sum(max(x, {0})) * 1e-3f;
    const std::vector<Expr> vars{w};
    const auto update = RMSprop().apply(g, vars, gradients(loss, vars));
    const Tensor fed = random_tensor({128, 300}, DType::f32, -3, 3, 9);
    std::vector<std::vector<Tensor>> runs;
    std::vector<Tensor> weights;
    for (Isa i : {Isa::portable, Isa::avx2, Isa::avx512}) {
        if (i > best_isa()) continue;
        set_isa(i);
        Session sess(g, {.threads = 2});
        runs.push_back(sess.run({y, p, loss}, {{x, fed}}, update));
        weights.push_back(sess.value(w));
    }
    for (std::size_t r = 1; r < runs.size(); ++r) {
        for (std::size_t k = 0; k < runs[0].size(); ++k) CHECK(bitwise_equal(runs[r][k], runs[0][k]));
        CHECK(bitwise_equal(weights[r], weights[0]));
    }
}

TEST_CASE("gemm: skinny products are cut into enough tasks for 16 threads, with the same bits on any count") {
    // The MLP's products (M x N) on 16 threads, with the AVX-512 kernels' panels (8 rows by
    // 32 columns, or 16 when N <= 16) and the AVX2 kernel's (6 by 16): at least 4 tasks per
    // thread where C has that many tiles (the largest blocks, 8 panels by 128 columns, give
    // 8 or fewer at M = 128: 2 row blocks by 4 column blocks).
    struct Case {
        std::int64_t M, N, mr, nr, tiles;  // tiles: A panels (of mr rows) x B panels (of nr columns)
    };
    for (const Case& c : {Case{128, 512, 8, 32, 256}, Case{784, 512, 8, 32, 1568}, Case{512, 10, 8, 16, 64},
                          Case{128, 10, 8, 16, 16}, Case{64, 64, 8, 32, 16}, Case{128, 512, 6, 16, 704}}) {
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.mr);
        CHECK(ops::gemm_tasks(c.M, c.N, c.mr, c.nr, 16).count >= std::min<std::int64_t>(64, c.tiles));
    }
    CHECK(ops::gemm_tasks(128, 512, 8, 32, 1).count == 8);  // one thread: the largest blocks
    CHECK(ops::gemm_tasks(128, 512, 8, 32, 2).count == 8);  // 2 threads: 8 is already 4 per thread
    const ops::GemmTasks sixteen = ops::gemm_tasks(128, 512, 8, 32, 16);
    CHECK(sixteen.count == 64);  // 16 panels x 4 column blocks: rows first
    CHECK(sixteen.panels == 1);
    CHECK(sixteen.cols == 128);
    CHECK(ops::gemm_tasks(128, 512, 6, 16, 2).count == 12);  // AVX2: 22 panels, 3 row blocks x 4
    CHECK(ops::gemm_tasks(12, 512, 6, 32, 16).count == 32);  // 2 panels, then columns down to 32
    CHECK(ops::gemm_tasks(1, 1, 6, 16, 64).count == 1);      // one tile: nothing to cut
    // Tasks of whole columns (a short A: each task packs its own B panels): all 16 panels of
    // rows, columns halved to 4 tasks per thread, down to one B panel a task.
    const ops::GemmTasks columns2 = ops::gemm_tasks(128, 512, 8, 32, 2, ops::GemmCut::whole_columns);
    CHECK(columns2.panels == 16);
    CHECK(columns2.cols == 64);
    CHECK(columns2.count == 8);
    const ops::GemmTasks columns16 = ops::gemm_tasks(128, 512, 8, 32, 16, ops::GemmCut::whole_columns);
    CHECK(columns16.cols == 32);
    CHECK(columns16.count == 16);
    // Tasks of whole rows (gemm_blocks): all N, at most most_panels panels of rows.
    const ops::GemmTasks rows16 = ops::gemm_tasks(784, 64, 8, 32, 16, ops::GemmCut::whole_rows, 4);
    CHECK(rows16.cols == 64);
    CHECK(rows16.panels == 1);
    CHECK(rows16.count == 98);

    // The cut changes no bit: the MLP's forward product on arenas of 1, 2 and 16 threads
    // (tasks of whole columns, which pack their own B panels) and of 64 (16 B panels, or
    // 32 with AVX2, are too few: the usual blocks, B packed before them).
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 64);
    const auto a = random_floats(std::int64_t{128} * 784, 4), b = random_floats(std::int64_t{784} * 512, 5);
    std::vector<std::vector<float>> got;
    for (int threads : {1, 2, 16, 64}) {
        std::vector<float> c(std::size_t{128} * 512);
        tbb::task_arena(threads).execute(
            [&] { ops::gemm<float>(false, false, 128, 512, 784, a.data(), b.data(), c.data()); });
        got.push_back(std::move(c));
    }
    CHECK(std::memcmp(got[0].data(), got[1].data(), got[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(got[0].data(), got[2].data(), got[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(got[0].data(), got[3].data(), got[0].size() * sizeof(float)) == 0);
}

TEST_CASE("gemm: the kernel names, and a kernel the CPU lacks is refused") {
    const KeepIsa keep;
    CHECK(parse_isa("avx512") == Isa::avx512);
    CHECK(parse_isa("avx2") == Isa::avx2);
    CHECK(parse_isa("portable") == Isa::portable);
    CHECK(!parse_isa("AVX2").has_value());
    CHECK(!parse_isa("").has_value());
    set_isa(Isa::portable);
    CHECK(matmul_kernel_name() == "portable (6x16)");
    if (best_isa() >= Isa::avx2) {
        set_isa(Isa::avx2);
        CHECK(matmul_kernel_name() == "avx2+fma (6x16)");
    }
    if (best_isa() < Isa::avx512) CHECK_ERROR(set_isa(Isa::avx512), "the avx512 kernels need a CPU with avx512");
    else {
        CHECK_NOTHROW(set_isa(Isa::avx512));
        CHECK(matmul_kernel_name() == "avx512f (8x32)");
    }
    // bench_gemm's ceiling: the kernel in use alone, a rate (not a timing to assert on).
    const double gflops = ops::gemm_kernel_gflops_in_l1(0.01);
    CHECK(std::isfinite(gflops));
    CHECK(gflops > 0);
}

}  // namespace adjoint::test

// M = rows of x, K = inner dim, N = columns of w.  y[i, j] = sum_k x[i, k] * w[k, j]
#include "matmul.hpp"

#include "../core/parallel.hpp"
#include "shape_ops.hpp"

namespace adjoint::ops {

TypedShape MatMul::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_floating(in[0], "x");
    expect_same_dtype(in[0], in[1]);
    const Shape &a = in[0].shape, &b = in[1].shape;
    if (a.rank() != 2 || b.rank() != 2)
        throw std::invalid_argument(fmt::format("{} x {}: both operands must be 2-D", a, b));
    if (a[1] != b[0])
        throw std::invalid_argument(fmt::format("{} x {}: inner dimensions {} and {} differ", a, b,
                                                a[1] == batch ? "batch" : std::to_string(a[1]),
                                                b[0] == batch ? "batch" : std::to_string(b[0])));
    return {Shape{a[0], b[1]}, in[0].dtype};
}

namespace {

// Tiles of y are independent tasks. Within a tile, each row of y (up to NB wide, so it
// stays in L1) accumulates a[i, k] * w[k, j0:j1] for k in blocks of KB (a KB x NB block of
// w stays in L2), and the inner loop over j vectorises. Every y[i, j] sums its k terms
// in ascending order whatever the tiling or thread count: the result is deterministic.
template <class T> void matmul_tiled(const T* __restrict x, const T* __restrict w, T* __restrict y, std::int64_t M,
                                     std::int64_t K, std::int64_t N) {
    constexpr std::int64_t MB = 16, NB = 256, KB = 256;
    const std::int64_t tiles_m = (M + MB - 1) / MB, tiles_n = (N + NB - 1) / NB;
    parallel_chunks(tiles_m * tiles_n, 1, [&](std::int64_t t0, std::int64_t t1) {
        for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t i0 = (t / tiles_n) * MB, i1 = std::min(M, i0 + MB);
            const std::int64_t j0 = (t % tiles_n) * NB, j1 = std::min(N, j0 + NB);
            for (std::int64_t i = i0; i < i1; ++i)
                for (std::int64_t j = j0; j < j1; ++j) y[i * N + j] = T(0);
            for (std::int64_t k0 = 0; k0 < K; k0 += KB) {
                const std::int64_t k1 = std::min(K, k0 + KB);
                for (std::int64_t i = i0; i < i1; ++i) {
                    T* __restrict yr = y + i * N;
                    for (std::int64_t k = k0; k < k1; ++k) {
                        const T a = x[i * K + k];
                        const T* __restrict wr = w + k * N;
                        for (std::int64_t j = j0; j < j1; ++j) yr[j] += a * wr[j];
                    }
                }
            }
        }
    });
}

}  // namespace

void MatMul::forward(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        matmul_tiled(x[0].data<T>().data(), x[1].data<T>().data(), y.data<T>().data(), x[0].shape()[0],
                     x[0].shape()[1], x[1].shape()[1]);
    });
}

void MatMul::reference(const Inputs& x, Tensor& y) const {
    visit_floating(x[0].dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        auto a = x[0].data<T>();
        auto b = x[1].data<T>();
        auto c = y.data<T>();
        const std::int64_t M = x[0].shape()[0], K = x[0].shape()[1], N = x[1].shape()[1];
        for (std::int64_t i = 0; i < M; ++i)
            for (std::int64_t j = 0; j < N; ++j) {
                T s = 0;
                for (std::int64_t k = 0; k < K; ++k) s += a[i * K + k] * b[k * N + j];
                c[i * N + j] = s;
            }
    });
}

// y = x w, with x: (M, K), w: (K, N), dy: (M, N)
//   dx = dy w^T   (M, N) x (N, K) -> (M, K)
//   dw = x^T dy   (K, M) x (M, N) -> (K, N)
Grads MatMul::gradient(const GradContext& c) const {
    return grads(c, [&] { return matmul(c.dy, transpose(c.x[1])); }, [&] { return matmul(transpose(c.x[0]), c.dy); });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr matmul(Expr x, Expr w, std::source_location loc) { return ops::make(ops::MatMul{}, {x, w}, loc); }

}  // namespace adjoint

// M, N = rows and columns of C; K = the inner dim. A is (M, K) or, transposed, (K, M);
// B is (K, N) or (N, K).
#include "gemm.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <vector>

#include <adjoint/core/error.hpp>
#include <fmt/format.h>

#include "../core/isa.hpp"
#include "../core/parallel.hpp"
#include "scratch.hpp"

#include <adjoint/ops/elementwise.hpp>
#include <tbb/task_arena.h>

namespace adjoint::ops {

namespace {

// The register block of C is MR x NR: 6 x 16 for the AVX2 and portable kernels, 8 x 32
// for the AVX-512 one (8 x 16 where C has at most 16 columns); the functions below take
// MR and NR as template parameters. MR = 8 divides the batch sizes people use (a power of
// two): 128 rows were 21 panels of 6 and a 22nd computed whole for 2 rows.
constexpr std::int64_t KC = 256;       // k per block: a B panel (KC x NR) is 16 or 32 KiB
constexpr std::int64_t NC = 128;       // columns per task: the B block (KC x NC) is 128 KiB
constexpr std::int64_t MC_PANELS = 8;  // A panels per task (48 or 64 rows): the A block (KC x 64) is 64 KiB
// Tasks of whole columns (gemm_with) own whole B panels: NC halved stays a multiple of NR.
static_assert(NC % 32 == 0 && (NC & (NC - 1)) == 0);

// Element (i, k) of op(A) and (k, j) of op(B).
template <class T> T a_at(const T* A, bool t, std::int64_t M, std::int64_t K, std::int64_t i, std::int64_t k) {
    return t ? A[k * M + i] : A[i * K + k];
}
template <class T> T b_at(const T* B, bool t, std::int64_t K, std::int64_t N, std::int64_t k, std::int64_t j) {
    return t ? B[j * K + k] : B[k * N + j];
}

// A is read in place by the micro-kernel: element (r, k) of a panel is a[r * rs + k * ks],
// rows of A when it is (M, K), runs of MR values in its rows when it is (K, M). At the
// network's shapes packing A cost a pass over it and a fork-join and saved nothing in the
// kernels (BENCHMARKS.md, "GEMM design"); for the convolutions' patch matrices (7,744 x
// 288 at batch 64) packing cost 40 % of the product. A large A (over in_place_a_max
// elements) whose rows or columns lie a multiple of 4 KiB apart is packed: the MR rows
// of a panel would fall into one L1 set.
constexpr std::int64_t in_place_a_max = 1 << 20;
// C of at most this many rows is cut into tasks of whole columns, which pack their own
// B panels (gemm_with): A's block of k (rows x 256) stays in L2 while a task walks it.
constexpr std::int64_t column_task_rows = 256;
template <class T> bool read_a_in_place(std::int64_t M, std::int64_t K) {
    const auto set_aliasing = [](std::int64_t stride) { return stride * std::int64_t{sizeof(T)} % 4096 == 0; };
    return M * K <= in_place_a_max || !(set_aliasing(K) || set_aliasing(M));  // M * K fits: A's element count
}

// Packs op(A) into panels of MR rows: panel p holds, for each k, rows p*MR .. p*MR+MR-1
// (zeros past M). Layout: [panel][k][MR]. With `last_only`, just the last panel, when
// it is partial (in-place reading needs MR real rows).
template <class T, std::int64_t MR>
void pack_a(const T* A, bool t, std::int64_t M, std::int64_t K, T* out, bool last_only) {
    const std::int64_t panels = (M + MR - 1) / MR, first = last_only ? M / MR : 0;
    parallel_chunks(panels - first, 4, [&](std::int64_t q0, std::int64_t q1) {
        for (std::int64_t p = first + q0; p < first + q1; ++p) {
            T* dst = out + (p - first) * K * MR;
            const std::int64_t i0 = p * MR, rows = std::min(MR, M - i0);
            if (rows < MR) std::fill(dst, dst + K * MR, T(0));
            if (t)  // A is (K, M): row k of A holds the panel's MR values for k
                for (std::int64_t k = 0; k < K; ++k)
                    for (std::int64_t r = 0; r < rows; ++r) dst[k * MR + r] = A[k * M + i0 + r];
            else if (rows == MR)  // A is (M, K): the MR rows side by side, written in order
                for (std::int64_t k = 0; k < K; ++k)
                    for (std::int64_t r = 0; r < MR; ++r) dst[k * MR + r] = A[(i0 + r) * K + k];
            else
                for (std::int64_t r = 0; r < rows; ++r) {
                    const T* src = A + (i0 + r) * K;
                    for (std::int64_t k = 0; k < K; ++k) dst[k * MR + r] = src[k];
                }
        }
    });
}

// Packs rows [k0, k1) of panels [p0, p1) of op(B), panels of NR columns, into their
// places in `out` (layout: [panel][k][NR], zeros past N). B (K, N): each row's runs of
// NR values, row after row, read in order; B (N, K): each column of a panel is a row of B.
template <class T, std::int64_t NR>
void pack_b_panels(const T* B, bool t, std::int64_t K, std::int64_t N, T* out, std::int64_t p0, std::int64_t p1,
                   std::int64_t k0, std::int64_t k1) {
    // The columns past N of a partial (last) panel are zeros.
    for (std::int64_t p = p0; p < p1; ++p)
        if (N - p * NR < NR) std::fill(out + (p * K + k0) * NR, out + (p * K + k1) * NR, T(0));
    if (t) {  // B (N, K): column c of panel p is row j0 + c of B
        for (std::int64_t p = p0; p < p1; ++p) {
            const std::int64_t j0 = p * NR, cols = std::min(NR, N - j0);
            T* dst = out + p * K * NR;
            for (std::int64_t c = 0; c < cols; ++c) {
                const T* src = B + (j0 + c) * K;
                for (std::int64_t k = k0; k < k1; ++k) dst[k * NR + c] = src[k];
            }
        }
    } else {  // B (K, N): row k of B, cut into its panels' runs of NR values
        for (std::int64_t k = k0; k < k1; ++k)
            for (std::int64_t p = p0; p < p1; ++p) {
                const std::int64_t j0 = p * NR, cols = std::min(NR, N - j0);
                T* dst = out + (p * K + k) * NR;
                const T* src = B + k * N + j0;
                if (cols == NR) std::memcpy(dst, src, NR * sizeof(T));  // a constant size: a few vector moves
                else std::memcpy(dst, src, static_cast<std::size_t>(cols) * sizeof(T));
            }
    }
}

// Packs all of op(B), in parallel. B (K, N) of whole panels: by rows, each row read once
// in order and cut into its panels (faster than panel by panel, which walks B's rows with
// a stride of N: BENCHMARKS.md, "GEMM design"); otherwise by panels.
template <class T, std::int64_t NR> void pack_b(const T* B, bool t, std::int64_t K, std::int64_t N, T* out) {
    const std::int64_t panels = (N + NR - 1) / NR;
    if (!t && N % NR == 0) {
        parallel_chunks(K, 32, [&](std::int64_t k0, std::int64_t k1) {
            pack_b_panels<T, NR>(B, false, K, N, out, 0, panels, k0, k1);
        });
        return;
    }
    parallel_chunks(panels, 2,
                    [&](std::int64_t p0, std::int64_t p1) { pack_b_panels<T, NR>(B, t, K, N, out, p0, p1, 0, K); });
}

// Every micro-kernel: c (MR x NR, row stride ldc; the first `cols` columns, below) =
// (accumulate ? c : 0) + a b over kc; then, on the last block of k, the epilogue in
// registers: + bias[q] (if `bias`), then relu (if `relu`), the same operations in the same
// order as the separate add and relu ops (relu as Relu::f: v < 0 ? 0 : v, which keeps NaN
// and -0.0; AVX2's max(0, v), with v second, returns v when unordered or equal, the same
// thing).
// The AVX-512 kernels read and write only the first `cols` columns of c and of bias
// (masked loads and stores: the lanes past them are computed and dropped), so a tile of
// C's last, partial panel of columns needs no buffer. The others take cols = NR
// (Kernel::masks_columns).

// The portable micro-kernel, written for the compiler to vectorise.
template <class T, std::int64_t MR, std::int64_t NR>
void kernel_portable(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t ks, const T* b, T* c, std::int64_t ldc,
                     bool accumulate, const T* bias, bool relu, std::int64_t /*cols: NR*/) {
    T acc[MR][NR];
    for (std::int64_t r = 0; r < MR; ++r)
        for (std::int64_t j = 0; j < NR; ++j) acc[r][j] = accumulate ? c[r * ldc + j] : T(0);
    for (std::int64_t k = 0; k < kc; ++k)
        for (std::int64_t r = 0; r < MR; ++r) {
            const T ar = a[r * rs + k * ks];
            for (std::int64_t j = 0; j < NR; ++j) acc[r][j] += ar * b[k * NR + j];
        }
    for (std::int64_t r = 0; r < MR; ++r)
        for (std::int64_t j = 0; j < NR; ++j) {
            T v = acc[r][j];
            if (bias) v = v + bias[j];
            if (relu) v = Relu::f(v);
            c[r * ldc + j] = v;
        }
}

// The AVX2 micro-kernel: 12 accumulators, 2 loads of B and 6 broadcasts of A per k.
__attribute__((target("avx2,fma"))) void kernel_avx2(std::int64_t kc, const float* a, std::int64_t rs, std::int64_t ks,
                                                     const float* b, float* c, std::int64_t ldc, bool accumulate,
                                                     const float* bias, bool relu, std::int64_t /*cols: NR*/) {
    constexpr std::int64_t NR = 16;  // MR = 6
    const float *a0 = a, *a1 = a + rs, *a2 = a + 2 * rs, *a3 = a + 3 * rs, *a4 = a + 4 * rs, *a5 = a + 5 * rs;
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (accumulate) {
        c00 = _mm256_loadu_ps(c + 0 * ldc), c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc), c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc), c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc), c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc), c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc), c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
    for (std::int64_t k = 0, i = 0; k < kc; ++k, i += ks, b += NR) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 ar = _mm256_broadcast_ss(a0 + i);
        c00 = _mm256_fmadd_ps(ar, b0, c00), c01 = _mm256_fmadd_ps(ar, b1, c01);
        ar = _mm256_broadcast_ss(a1 + i);
        c10 = _mm256_fmadd_ps(ar, b0, c10), c11 = _mm256_fmadd_ps(ar, b1, c11);
        ar = _mm256_broadcast_ss(a2 + i);
        c20 = _mm256_fmadd_ps(ar, b0, c20), c21 = _mm256_fmadd_ps(ar, b1, c21);
        ar = _mm256_broadcast_ss(a3 + i);
        c30 = _mm256_fmadd_ps(ar, b0, c30), c31 = _mm256_fmadd_ps(ar, b1, c31);
        ar = _mm256_broadcast_ss(a4 + i);
        c40 = _mm256_fmadd_ps(ar, b0, c40), c41 = _mm256_fmadd_ps(ar, b1, c41);
        ar = _mm256_broadcast_ss(a5 + i);
        c50 = _mm256_fmadd_ps(ar, b0, c50), c51 = _mm256_fmadd_ps(ar, b1, c51);
    }
    if (bias) {
        const __m256 d0 = _mm256_loadu_ps(bias), d1 = _mm256_loadu_ps(bias + 8);
        c00 = _mm256_add_ps(c00, d0), c01 = _mm256_add_ps(c01, d1), c10 = _mm256_add_ps(c10, d0);
        c11 = _mm256_add_ps(c11, d1), c20 = _mm256_add_ps(c20, d0), c21 = _mm256_add_ps(c21, d1);
        c30 = _mm256_add_ps(c30, d0), c31 = _mm256_add_ps(c31, d1), c40 = _mm256_add_ps(c40, d0);
        c41 = _mm256_add_ps(c41, d1), c50 = _mm256_add_ps(c50, d0), c51 = _mm256_add_ps(c51, d1);
    }
    if (relu) {  // max(0, v): v when unordered (NaN) or equal (-0.0), as Relu::f
        const __m256 z = _mm256_setzero_ps();
        c00 = _mm256_max_ps(z, c00), c01 = _mm256_max_ps(z, c01), c10 = _mm256_max_ps(z, c10);
        c11 = _mm256_max_ps(z, c11), c20 = _mm256_max_ps(z, c20), c21 = _mm256_max_ps(z, c21);
        c30 = _mm256_max_ps(z, c30), c31 = _mm256_max_ps(z, c31), c40 = _mm256_max_ps(z, c40);
        c41 = _mm256_max_ps(z, c41), c50 = _mm256_max_ps(z, c50), c51 = _mm256_max_ps(z, c51);
    }
    _mm256_storeu_ps(c + 0 * ldc, c00), _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10), _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20), _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30), _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40), _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50), _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

// Relu::f itself on 16 lanes: v < 0 (ordered: not NaN, not -0.0) ? 0 : v.
__attribute__((target("avx512f"))) inline __m512 relu512(__m512 v) {
    const __m512 z = _mm512_setzero_ps();
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, z, _CMP_LT_OQ), z);
}

// The AVX-512 micro-kernels: 8 rows by NV 16-float registers, NV = 2 (32 columns: 16
// accumulators, 2 loads of B and 8 broadcasts of A per k) or, for C of at most 16 columns
// (the MNIST network's 10 classes), NV = 1. The loops over rows and registers are unrolled
// whole (the accumulators stay in registers). Each element of C is the same chain of FMAs
// in ascending k as in the AVX2 kernel, so both give the same bits.
template <std::int64_t NV>
__attribute__((target("avx512f"))) void kernel_avx512(std::int64_t kc, const float* a, std::int64_t rs, std::int64_t ks,
                                                      const float* b, float* c, std::int64_t ldc, bool accumulate,
                                                      const float* bias, bool relu, std::int64_t cols) {
    constexpr std::int64_t MR = 8;
    constexpr std::int64_t NR = 16 * NV;
    // Register v holds columns 16 v .. 16 v + 15 of the tile; its lanes below `cols`. A
    // register with no lane (cols <= 16 in the 32-wide kernel) never touches memory.
    assert(cols >= 1 && cols <= NR);
    __mmask16 lanes[NV];
#pragma GCC unroll 2
    for (std::int64_t v = 0; v < NV; ++v) {
        const std::int64_t n = std::clamp<std::int64_t>(cols - 16 * v, 0, 16);
        lanes[v] = static_cast<__mmask16>((1u << n) - 1u);
    }
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (std::int64_t r = 0; r < MR; ++r)
#pragma GCC unroll 2
        for (std::int64_t v = 0; v < NV; ++v)
            acc[r][v] =
                accumulate && lanes[v] ? _mm512_maskz_loadu_ps(lanes[v], c + r * ldc + 16 * v) : _mm512_setzero_ps();
    for (std::int64_t k = 0, i = 0; k < kc; ++k, i += ks, b += NR) {
        __m512 bk[NV];
#pragma GCC unroll 2
        for (std::int64_t v = 0; v < NV; ++v) bk[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 8
        for (std::int64_t r = 0; r < MR; ++r) {
            const __m512 ar = _mm512_set1_ps(a[r * rs + i]);
#pragma GCC unroll 2
            for (std::int64_t v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bk[v], acc[r][v]);
        }
    }
#pragma GCC unroll 2
    for (std::int64_t v = 0; v < NV; ++v) {
        if (!lanes[v]) continue;
        const __m512 d = bias ? _mm512_maskz_loadu_ps(lanes[v], bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (std::int64_t r = 0; r < MR; ++r) {
            if (bias) acc[r][v] = _mm512_add_ps(acc[r][v], d);
            if (relu) acc[r][v] = relu512(acc[r][v]);
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, lanes[v], acc[r][v]);
        }
    }
}

// The packed operands' bytes, each rounded up to whole cache lines: A's (when it is not read
// in place, or for its partial last panel) and B's. Checked: an adjoint::Error if a count
// overflows.
struct Packing {
    std::size_t a_bytes = 0, b_bytes = 0;
};
template <class T, std::int64_t MR, std::int64_t NR>
Packing packing(bool tb, std::int64_t M, std::int64_t N, std::int64_t K) {
    auto bytes = [&](std::int64_t rows, std::int64_t k) {  // rows x k elements of T, in cache lines
        std::size_t n = 0;
        if (__builtin_mul_overflow(static_cast<std::size_t>(rows), static_cast<std::size_t>(k), &n) ||
            __builtin_mul_overflow(n, sizeof(T), &n) || n > SIZE_MAX - 63)
            throw Error(
                fmt::format("matmul: packing a {} x {} by {} x {} product overflows a 64-bit byte count", M, K, K, N));
        return aligned(n);
    };
    const bool a_in_place = read_a_in_place<T>(M, K);
    const std::int64_t a_panels = (M + MR - 1) / MR, b_panels = (N + NR - 1) / NR;
    const bool b_in_place = !tb && N == NR;  // B is already one packed panel (gemm_with)
    return {!a_in_place ? bytes(a_panels * MR, K)
            : M % MR    ? bytes(MR, K)
                        : 0,
            b_in_place ? 0 : bytes(b_panels * NR, K)};
}

template <class T>
using Micro = void (*)(std::int64_t kc, const T* a, std::int64_t rs, std::int64_t ks, const T* b, T* c,
                       std::int64_t ldc, bool accumulate, const T* bias, bool relu, std::int64_t cols);
// A micro-kernel, and whether it takes cols < NR (else a partial tile goes through a buffer).
template <class T> struct Kernel {
    Micro<T> run;
    bool masks_columns;
};

// Calls f.template operator()<MR, NR>(Kernel<T>) with the kernel for T, this product and
// the ISA in use: AVX-512 (8 x 32) where the CPU has it, or its 8 x 16 kernel where C has
// at most 16 columns (a 32-wide panel would be half zeros); else AVX2 (6 x 16); else the
// portable one (6 x 16). f64 always runs the portable kernel.
template <class T, class F> decltype(auto) with_kernel(std::int64_t N, F&& f) {
    if constexpr (std::is_same_v<T, float>) {
        const Isa in_use = isa();
        if (in_use == Isa::avx512)
            return N > 16 ? f.template operator()<8, 32>(Kernel<float>{kernel_avx512<2>, true})
                          : f.template operator()<8, 16>(Kernel<float>{kernel_avx512<1>, true});
        if (in_use == Isa::avx2) return f.template operator()<6, 16>(Kernel<float>{kernel_avx2, false});
    }
    return f.template operator()<6, 16>(Kernel<T>{kernel_portable<T, 6, 16>, false});
}

}  // namespace

// The tasks of a product (GemmCut says which shape):
// - blocks: blocks of C of at most MC_PANELS (or most_panels, if fewer) A panels by NC
//   columns. Where those give fewer than 4 tasks per thread (the network's products,
//   M = 128, have 8 or fewer in panels of 8 rows: too few for 16 threads), the blocks are made smaller, rows
//   first (halving the A panels per block), then columns (down to one B panel).
// - whole_rows (gemm_blocks): all N columns, rows halved as above.
// - whole_columns: all M rows, columns halved down to one B panel.
// Blocks never change a sum's order (each element still adds its k products in ascending order, block of k after block
// of k), so the results are the same bits on any number of threads.
GemmTasks gemm_tasks(std::int64_t M, std::int64_t N, std::int64_t mr, std::int64_t nr, int threads, GemmCut cut,
                     std::int64_t most_panels) {
    const std::int64_t a_panels = (M + mr - 1) / mr;
    const bool cut_rows = cut != GemmCut::whole_columns, cut_columns = cut != GemmCut::whole_rows;
    GemmTasks t{cut_rows ? std::clamp<std::int64_t>(most_panels, 1, MC_PANELS) : std::max<std::int64_t>(a_panels, 1),
                cut_columns ? NC : std::max<std::int64_t>(N, 1), 0};
    const auto count = [&] { return ((a_panels + t.panels - 1) / t.panels) * ((N + t.cols - 1) / t.cols); };
    const std::int64_t want = 4 * std::int64_t{std::max(threads, 1)};
    while (count() < want) {
        if (cut_rows && t.panels > 1 && (a_panels + t.panels - 1) / t.panels < a_panels) t.panels /= 2;
        else if (cut_columns && t.cols > nr) t.cols /= 2;
        else break;
    }
    t.count = count();
    return t;
}

namespace {

// A by blocks (gemm_blocks): each task fills what it multiplies into a buffer of this many
// bytes on its stack: MR rows of op(A) a panel (8 at most), `k` values each (all of K
// without ta, a block of k with it). The panels per task are capped so that they fit.
constexpr auto block_bytes = static_cast<std::size_t>(gemm_blocks_buffer_bytes);
static_assert(KC * gemm_most_mr * 8 <= block_bytes);  // with ta: a block of k of a panel
template <class T, std::int64_t MR> std::int64_t block_panels(std::int64_t k) {
    return static_cast<std::int64_t>(block_bytes / sizeof(T)) / (MR * std::max<std::int64_t>(k, 1));
}

// C = op(A) op(B), or, when `source` is given, op(A) by blocks (gemm_blocks; A unused).
template <class T, std::int64_t MR, std::int64_t NR>
void gemm_with(Kernel<T> kernel, bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A,
               const T* B, T* C, std::span<std::byte> workspace, Epilogue<T> epilogue,
               const BlockSource<T>* source = nullptr) {
    static_assert(MR <= gemm_most_mr);  // gemm_blocks' buffer holds a panel of K <= gemm_blocks_max_k
    // The epilogue on rows x cols of C at column j, each tile once its sum is complete:
    // c = c + bias[j], then relu; the same operations, in the same order, as the separate
    // add and relu ops, and relu is relu's own scalar function (NaN stays NaN).
    auto finish = [&](T* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, std::int64_t j) {
        if (!epilogue.bias && !epilogue.relu) return;
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t q = 0; q < cols; ++q) {
                T v = c[r * ldc + q];
                if (epilogue.bias) v = v + epilogue.bias[j + q];
                if (epilogue.relu) v = Relu::f(v);
                c[r * ldc + q] = v;
            }
    };
    if (K == 0) {
        std::fill(C, C + M * N, T(0));
        finish(C, N, M, N, 0);
        return;
    }
    const std::int64_t a_panels = (M + MR - 1) / MR;
    // Packing buffers: the plan's workspace for this step, or (called outside a plan, or
    // with a smaller workspace than this kernel's) an allocation of our own.
    const bool by_blocks = source != nullptr, a_in_place = by_blocks || read_a_in_place<T>(M, K);
    const Packing packed = packing<T, MR, NR>(tb, by_blocks ? 0 : M, N, K);
    const std::size_t a_bytes = packed.a_bytes, need = packed.a_bytes + packed.b_bytes;
    OwnScratch own;
    std::byte* const base = scratch(workspace, need, own).data();
    T* const pa = reinterpret_cast<T*>(base);
    T* const pb = reinterpret_cast<T*>(base + a_bytes);
    if (!by_blocks && (!a_in_place || M % MR)) pack_a<T, MR>(A, ta, M, K, pa, a_in_place);
    // B of exactly one panel's width, not transposed, is already the packed layout
    // ([k][NR]): read in place (the first convolution's filter gradient, whose B is dy,
    // 43,264 x 32 at batch 64, saves a copy of it each step). B may then be unaligned:
    // the kernels load it with unaligned loads.
    const bool b_in_place = !tb && N == NR;
    // A short A (at most column_task_rows rows; the MLP's forward, 128 x 784): tasks of all
    // of C's rows, each packing its own B panels just before it uses them, while they are
    // in its core's cache, rather than one parallel pass that packs B for every core
    // (BENCHMARKS.md, "Tasks of whole columns for a short A"). Where B has too few panels
    // for the threads, the usual blocks. A task's columns are whole panels (NC and its
    // halves are multiples of every NR), so no two tasks pack the same panel.
    const int threads = tbb::this_task_arena::max_concurrency();
    const bool b_by_tasks = !by_blocks && !b_in_place && M <= column_task_rows && (N + NR - 1) / NR >= threads;
    if (!b_in_place && !b_by_tasks) pack_b<T, NR>(B, tb, K, N, pb);
    const T* const b_panels = b_in_place ? B : pb;
    // Tasks: blocks of C (gemm_tasks), independent. Each runs all of K, block
    // by block of kc k's (in order: that fixes every sum's order). Within a block it
    // keeps one B micro-panel (kc x NR, in L1) while it walks the block's A panels (in
    // L2), so each k streams MR floats of A from L2 and NR of B from L1.
    const std::int64_t k_blocks = (K + KC - 1) / KC, kc_max = (K + k_blocks - 1) / k_blocks;  // equal blocks
    // A by blocks: tasks of whole rows of C (a block of columns would fill its A again).
    const GemmTasks tasks = gemm_tasks(M, N, MR, NR, threads,
                                       by_blocks    ? GemmCut::whole_rows
                                       : b_by_tasks ? GemmCut::whole_columns
                                                    : GemmCut::blocks,
                                       by_blocks ? block_panels<T, MR>(ta ? kc_max : K) : MC_PANELS);
    const std::int64_t row_blocks = (a_panels + tasks.panels - 1) / tasks.panels;
    // The tasks, compiled twice: only those taking A by blocks have its buffer on their
    // stack.
    const auto run = [&]<bool ByBlocks>() {
        parallel_chunks(tasks.count, 1, [&](std::int64_t t0, std::int64_t t1) {
            alignas(64) T edge[MR * NR];
            alignas(64) std::byte block[ByBlocks ? block_bytes : 64];
            T* const a_block = reinterpret_cast<T*>(block);
            for (std::int64_t t = t0; t < t1; ++t) {
                const std::int64_t p0 = (t % row_blocks) * tasks.panels, p1 = std::min(a_panels, p0 + tasks.panels);
                const std::int64_t j0 = (t / row_blocks) * tasks.cols, j1 = std::min(N, j0 + tasks.cols);
                if (b_by_tasks) pack_b_panels<T, NR>(B, tb, K, N, pb, j0 / NR, (j1 + NR - 1) / NR, 0, K);
                // A by blocks: the task's rows of op(A), [i0, i1), in whole panels of `width`
                // rows (those past M zeros, their results dropped as any partial tile's).
                // Without ta, all of K, row after row, once; with ta, kc k's of each block,
                // k after k (width values each).
                const std::int64_t i0 = p0 * MR, i1 = std::min(M, p1 * MR), width = (p1 - p0) * MR;
                if (ByBlocks && !ta) {
                    source->fill(source->context, i0, i1, 0, K, a_block, K);
                    std::fill(a_block + (i1 - i0) * K, a_block + width * K, T(0));
                }
                for (std::int64_t k0 = 0; k0 < K; k0 += kc_max) {
                    const std::int64_t kc = std::min(kc_max, K - k0);
                    if (ByBlocks && ta) {
                        source->fill(source->context, k0, k0 + kc, i0, i1, a_block, width);
                        for (std::int64_t k = 0; i1 - i0 < width && k < kc; ++k)
                            std::fill(a_block + k * width + (i1 - i0), a_block + (k + 1) * width, T(0));
                    }
                    for (std::int64_t j = j0; j < j1; j += NR) {
                        const T* b = b_panels + (j / NR) * K * NR + k0 * NR;
                        const std::int64_t cols = std::min(NR, N - j);
                        for (std::int64_t p = p0; p < p1; ++p) {
                            const std::int64_t row = p * MR, rows = std::min(MR, M - row);
                            const T* a = nullptr;  // element (r, k) of the panel at a[r rs + k ks]
                            std::int64_t rs = 1, ks = 1;
                            if constexpr (ByBlocks) {
                                a = ta ? a_block + (p - p0) * MR : a_block + (p - p0) * MR * K + k0;
                                rs = ta ? 1 : K;
                                ks = ta ? width : 1;
                            } else {
                                const bool in_place = a_in_place && rows == MR;
                                a = in_place ? (ta ? A + k0 * M + row : A + row * K + k0)
                                             : pa + (a_in_place ? 0 : p * K * MR) + k0 * MR;
                                rs = in_place && !ta ? K : 1;
                                ks = !in_place ? MR : ta ? M : 1;
                            }
                            T* c = C + row * N + j;
                            const bool last = k0 + kc == K;
                            if (rows == MR && (cols == NR || kernel.masks_columns)) {  // the epilogue in registers
                                kernel.run(kc, a, rs, ks, b, c, N, k0 > 0,
                                           last && epilogue.bias ? epilogue.bias + j : nullptr, last && epilogue.relu,
                                           cols);
                                continue;
                            }
                            // A tile of partial rows (or of partial columns, for a kernel
                            // without masks) goes through a full-size buffer.
                            for (std::int64_t r = 0; r < MR; ++r)
                                for (std::int64_t q = 0; q < NR; ++q)
                                    edge[r * NR + q] = k0 > 0 && r < rows && q < cols ? c[r * N + q] : T(0);
                            kernel.run(kc, a, rs, ks, b, edge, NR, true, nullptr, false, NR);
                            if (last) finish(edge, NR, rows, cols, j);
                            for (std::int64_t r = 0; r < rows; ++r)
                                for (std::int64_t q = 0; q < cols; ++q) c[r * N + q] = edge[r * NR + q];
                        }
                    }
                }
            }
        });
    };
    if (by_blocks) run.template operator()<true>();
    else run.template operator()<false>();
}

}  // namespace

std::string gemm_kernel_name() {
    const Isa in_use = isa();
    const char* set = in_use == Isa::avx512 ? "avx512f" : in_use == Isa::avx2 ? "avx2+fma" : "portable";
    // The block's shape is with_kernel's own (for C of more than 16 columns), so the name
    // cannot drift from the kernel.
    return with_kernel<float>(
        32, [&]<std::int64_t MR, std::int64_t NR>(Kernel<float>) { return fmt::format("{} ({}x{})", set, MR, NR); });
}

template <class T> std::size_t gemm_workspace_bytes(bool tb, std::int64_t M, std::int64_t N, std::int64_t K) {
    if (M == 0 || N == 0 || K == 0) return 0;
    const Packing p =
        with_kernel<T>(N, [&]<std::int64_t MR, std::int64_t NR>(Kernel<T>) { return packing<T, MR, NR>(tb, M, N, K); });
    std::size_t sum = 0;
    if (__builtin_add_overflow(p.a_bytes, p.b_bytes, &sum))
        throw Error(
            fmt::format("matmul: packing a {} x {} by {} x {} product overflows a 64-bit byte count", M, K, K, N));
    return sum;
}

template <class T>
void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A, const T* B, T* C,
          std::span<std::byte> workspace, Epilogue<T> epilogue) {
    if (M == 0 || N == 0) return;
    with_kernel<T>(N, [&]<std::int64_t MR, std::int64_t NR>(Kernel<T> kernel) {
        gemm_with<T, MR, NR>(kernel, ta, tb, M, N, K, A, B, C, workspace, epilogue);
    });
}

template <class T>
void gemm_blocks(bool ta, BlockSource<T> a, std::int64_t M, std::int64_t N, std::int64_t K, const T* B, T* C,
                 std::span<std::byte> workspace, Epilogue<T> epilogue) {
    if (!ta && K > gemm_blocks_max_k<T>)
        throw std::logic_error(
            fmt::format("gemm_blocks: K = {} is over {}, the most a task's buffer holds", K, gemm_blocks_max_k<T>));
    if (M == 0 || N == 0) return;
    with_kernel<T>(N, [&]<std::int64_t MR, std::int64_t NR>(Kernel<T> kernel) {
        gemm_with<T, MR, NR>(kernel, ta, false, M, N, K, nullptr, B, C, workspace, epilogue, &a);
    });
}

template <class T> std::size_t gemm_blocks_workspace_bytes(std::int64_t N, std::int64_t K) {
    if (N == 0 || K == 0) return 0;
    return with_kernel<T>(
        N, [&]<std::int64_t MR, std::int64_t NR>(Kernel<T>) { return packing<T, MR, NR>(false, 0, N, K).b_bytes; });
}

double gemm_kernel_gflops_in_l1(double seconds) {
    return with_kernel<float>(32, [&]<std::int64_t MR, std::int64_t NR>(Kernel<float> kernel) {
        // One panel of A (MR x KC, read in place) and one of B (KC x NR): 8 and 32 KiB at
        // most, in L1 after the first call where L1 holds 48 KiB (on a CPU of 32 KiB, B
        // comes from L2). C is accumulated, as in a product's later blocks.
        std::vector<float> a(MR * KC, 0.5f), b(KC * NR, 0.25f), c(MR * NR, 0.f);
        std::int64_t calls = 0;
        const auto start = std::chrono::steady_clock::now();
        double elapsed = 0;
        while (elapsed < seconds) {
            for (int i = 0; i < 1000; ++i)
                kernel.run(KC, a.data(), KC, 1, b.data(), c.data(), NR, true, nullptr, false, NR);
            calls += 1000;
            elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        return 2.0 * static_cast<double>(calls * MR * NR * KC) / elapsed / 1e9;
    });
}

template <class T>
void gemm_reference(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A, const T* B, T* C) {
    for (std::int64_t i = 0; i < M; ++i)
        for (std::int64_t j = 0; j < N; ++j) {
            T s = 0;
            for (std::int64_t k = 0; k < K; ++k) s += a_at(A, ta, M, K, i, k) * b_at(B, tb, K, N, k, j);
            C[i * N + j] = s;
        }
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const float*, const float*, float*,
                          std::span<std::byte>, Epilogue<float>);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const double*, const double*, double*,
                           std::span<std::byte>, Epilogue<double>);
template void gemm_blocks<float>(bool, BlockSource<float>, std::int64_t, std::int64_t, std::int64_t, const float*,
                                 float*, std::span<std::byte>, Epilogue<float>);
template void gemm_blocks<double>(bool, BlockSource<double>, std::int64_t, std::int64_t, std::int64_t, const double*,
                                  double*, std::span<std::byte>, Epilogue<double>);
template std::size_t gemm_blocks_workspace_bytes<float>(std::int64_t, std::int64_t);
template std::size_t gemm_blocks_workspace_bytes<double>(std::int64_t, std::int64_t);
template std::size_t gemm_workspace_bytes<float>(bool, std::int64_t, std::int64_t, std::int64_t);
template std::size_t gemm_workspace_bytes<double>(bool, std::int64_t, std::int64_t, std::int64_t);
template void gemm_reference<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const float*, const float*,
                                    float*);
template void gemm_reference<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, const double*, const double*,
                                     double*);

}  // namespace adjoint::ops

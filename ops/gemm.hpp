// GEMM for the matmul op: C = op(A) op(B), row-major, op = transpose or not. Internal to
// ops/.
//
// Why it is fast: B is packed into panels of NR columns (k running fastest) so that the
// micro-kernel streams it with unit stride; A is read in place when it is small (as at
// the network's shapes, where packing it cost more than it saved) and packed into
// panels of MR rows otherwise. The micro-kernel keeps an MR x NR block of C in registers
// (6 x 16 floats = 12 AVX2 registers; 8 x 32 = 16 AVX-512 registers, where C has more
// than 16 columns) and does one broadcast and two FMAs per row per k
// (95-98 % of the FMA peak on data in L1, and no better for other block shapes:
// BENCHMARKS.md, "The micro-kernel's ceiling"). K is cut into equal blocks of at most
// KC, so that a B micro-panel stays in L1 while the task walks its A panels. Blocks of
// C (8 panels of rows by 128 columns, smaller when that gives too few per thread: gemm_tasks) are
// independent TBB tasks that run all of K, so a product has
// no barrier but its end. Where A is short (at most 256 rows: the MLP's forward, 128 x
// 784) and B has a panel per thread, the tasks are of whole columns instead, and each
// packs its own B panels: no pass over all of B before them, and no core reads panels
// another packed (16 cores each read all of B when every block of rows needed it).
// The packed operands live in the plan's workspace for the step (no allocation per call,
// no per-thread state; a set_isa() to another kernel after the plan was built
// makes the product allocate its own, each call). A B of exactly one panel's width, not
// transposed, is already packed and is read in place.
//
// Why it is deterministic: every C element sums its K products in ascending k, block
// after block, whoever computes its tile; the thread count changes nothing. The AVX2 and
// AVX-512 kernels compute each element by the same chain of FMAs, so they agree bit for
// bit too; the portable kernel rounds each product separately and may differ in the last
// bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace adjoint::ops {

// What is applied to each tile of C once its sum is complete: + bias[j] (N values, if
// given), then relu (if asked: relu's own scalar function). Whole tiles get it in the
// micro-kernel's registers before they are stored; partial tiles right after.
template <class T> struct Epilogue {
    const T* bias = nullptr;
    bool relu = false;
};

// ta, tb: whether A and B are read transposed. `workspace` holds the packed operands:
// gemm_workspace_bytes(tb, M, N, K), 64-byte aligned. When it is smaller (empty, say), gemm allocates its own for the
// call.
template <class T>
void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A, const T* B, T* C,
          std::span<std::byte> workspace = {}, Epilogue<T> epilogue = {});
template <class T> std::size_t gemm_workspace_bytes(bool tb, std::int64_t M, std::int64_t N, std::int64_t K);

// A product whose A is never stored whole: fill(context, r0, r1, c0, c1, dst, ld) writes
// the block [r0, r1) x [c0, c1) of the stored A, (M, K) or, with ta, (K, M), into dst,
// row-major, rows ld apart. Each task of the product fills what it multiplies into a
// 96 KiB buffer on its stack (the rows per task are capped so that it fits) and multiplies
// it while it is in L1/L2: without ta, the rows of its block of C, all of K, once; with
// ta, those rows for each block of at most 256 k's (as gemm() cuts K). The convolutions'
// patch matrix (im2col), 8.9 MB at the convnet's middle layer, is so made tens of KB at a
// time and never passes through memory. The same bits as gemm() on the stored A (the same
// sums in the same order). Without ta, K is at most gemm_blocks_max_k<T> (the buffer, 96
// KiB, holds a panel of 8 rows at least: 3,072 f32, 1,536 f64).
template <class T> struct BlockSource {
    void (*fill)(const void* context, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1, T* dst,
                 std::int64_t ld) = nullptr;
    const void* context = nullptr;
};
// The task's buffer (96 KiB: TBB's workers have 4 MiB stacks), and the tallest panel of
// any kernel (the AVX-512 ones' 8 rows).
constexpr std::int64_t gemm_blocks_buffer_bytes = 98304, gemm_most_mr = 8;
template <class T>
constexpr std::int64_t gemm_blocks_max_k = gemm_blocks_buffer_bytes / (gemm_most_mr * std::int64_t{sizeof(T)});
template <class T>
void gemm_blocks(bool ta, BlockSource<T> a, std::int64_t M, std::int64_t N, std::int64_t K, const T* B, T* C,
                 std::span<std::byte> workspace = {}, Epilogue<T> epilogue = {});
// The workspace of gemm_blocks: B's panels.
template <class T> std::size_t gemm_blocks_workspace_bytes(std::int64_t N, std::int64_t K);

// The f32 micro-kernel in use alone, on one panel of A and one of B that stay in L1, run
// for about `seconds` on the calling thread: GFLOP/s, the ceiling of any product on this
// CPU (bench_gemm prints it; BENCHMARKS.md compares it with the FMA peak).
double gemm_kernel_gflops_in_l1(double seconds);

// The triple loop, for tests.
template <class T>
void gemm_reference(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, const T* A, const T* B, T* C);

// How a product cuts C into tasks for `threads` threads, with B panels of `nr` columns:
// `count` blocks of `panels` A panels (of `mr` rows: 8 for the AVX-512 kernels, else 6) by
// `cols` columns. `cut`:
// - blocks (gemm()'s usual): at most 8 panels (or most_panels, if fewer) by 128 columns,
//   smaller where the largest give fewer than 4 tasks per thread, rows first;
// - whole_rows (gemm_blocks: a block of columns would fill its A again): all N, the
//   panels capped at what its buffer holds (most_panels);
// - whole_columns (a short A, read whole by every task, while each task packs its own
//   B panels): all M, columns cut down to one panel.
// The same bits whatever the cut.
struct GemmTasks {
    std::int64_t panels, cols, count;
};
enum class GemmCut { blocks, whole_rows, whole_columns };
GemmTasks gemm_tasks(std::int64_t M, std::int64_t N, std::int64_t mr, std::int64_t nr, int threads,
                     GemmCut cut = GemmCut::blocks, std::int64_t most_panels = 8);

// The f32 micro-kernel follows the process's instruction set (core/isa.hpp): AVX-512,
// AVX2 or portable.
// "avx512f (8x32)", "avx2+fma (6x16)" or "portable (6x16)": the f32 micro-kernel in use
// (with AVX-512, products of at most 16 columns run an 8x16 AVX-512 kernel).
std::string gemm_kernel_name();

}  // namespace adjoint::ops

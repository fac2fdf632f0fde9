// Matrix product of two 2-D tensors, either of them transposed on the fly:
// op(x) op(w) with op(x): (M, K) and op(w): (K, N) -> (M, N).
#pragma once

#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

struct MatMul {
    static constexpr std::string_view name = "matmul";
    bool transpose_a = false, transpose_b = false;
    std::string attrs() const;
    static MatMul from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    // The packed operands (gemm_workspace_bytes), from the plan's buffer pool.
    std::size_t workspace_bytes(std::span<const TypedShape> in) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

// matmul(x, w) + bias, then relu if asked, as one node: the bias (N values) and the relu
// are the GEMM's epilogue, applied to each tile of the product while it is in cache, so
// neither the product nor the biased product is written out. The same bits as matmul,
// add and relu (the epilogue calls relu's own scalar function), NaN and infinities
// included. Rule: dz = relu ? mask(dy, y) : dy (y > 0 exactly where x w + b > 0);
// dx and dw as matmul's rule with dz; dbias = sum(dz, rows).
struct MatMulBias {
    static constexpr std::string_view name = "matmul_bias";
    bool transpose_a = false, transpose_b = false, relu = false;
    std::string attrs() const;
    static MatMulBias from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    std::size_t workspace_bytes(std::span<const TypedShape> in) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// Which operands of matmul to read transposed (no transposed copy is made).
struct Transposed {
    bool a = false, b = false;
};

Expr matmul(const Expr& x, const Expr& w, SourceLocation loc = SourceLocation::current());
// The f32 matrix kernel this process runs, for logs: "avx512f (8x32)", "avx2+fma (6x16)"
// or "portable (6x16)": the widest the CPU has, capped by the environment variable
// ADJOINT_MAX_ISA (avx512, avx2 or portable). Throws adjoint::Error naming the variable
// if it holds another word. The AVX-512 and AVX2 kernels give the same bits.
std::string matmul_kernel_name();
Expr matmul(const Expr& x, const Expr& w, Transposed t, SourceLocation loc = SourceLocation::current());
// relu?(op(x) op(w) + bias), bias of shape (N,): what Dense builds.
Expr matmul_bias(const Expr& x, const Expr& w, const Expr& bias, bool relu = false, Transposed t = {},
                 SourceLocation loc = SourceLocation::current());

}  // namespace adjoint

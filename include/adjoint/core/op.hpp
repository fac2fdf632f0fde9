// OpBase: what the graph and the executor need of an op, and nothing more. The ops
// themselves (ops/) are plain structs with typed attributes; ops/op.hpp adapts each to
// this interface (OpAdapter), and the library's op list (ops/op_list.hpp) names them all once.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <adjoint/core/expr.hpp>
#include <adjoint/core/tensor.hpp>

namespace adjoint {

// A value's type as the graph sees it: dtype and shape (which may hold `batch`).
struct TypedShape {
    Shape shape;
    DType dtype = DType::f32;
};

// The tensors a kernel reads, by position, and the scratch memory a plan set aside for
// this step (OpBase::workspace_bytes; empty when the kernel is called outside a plan).
class Inputs {
public:
    explicit Inputs(std::span<const Tensor* const> p, std::span<std::byte> workspace = {})
        : p_(p), workspace_(workspace) {}
    const Tensor& operator[](std::size_t i) const { return *p_[i]; }
    std::size_t size() const { return p_.size(); }
    // Input i, which this op overwrites: only for the variables an op declares it writes
    // (OpBase::writes_variables), which no other kernel of the run touches meanwhile.
    Tensor& overwritten(std::size_t i) const { return const_cast<Tensor&>(*p_[i]); }
    // 64-byte aligned, uninitialised, the step's alone while it runs.
    std::span<std::byte> workspace() const { return workspace_; }

private:
    std::span<const Tensor* const> p_;
    std::span<std::byte> workspace_;
};

// What a gradient rule gets: the forward node's inputs and output as Exprs, the gradient
// dy flowing into the output (same shape), and which inputs need a gradient.
struct GradContext {
    std::span<const Expr> x;
    Expr y;
    Expr dy;
    std::span<const std::uint8_t> wanted;  // 1 where input i's gradient is wanted
};

// One entry per input: its gradient, or nullopt where none flows (not wanted, or not
// differentiable: integer inputs, stop_gradient, comparisons). The autograd pass sums a
// gradient back to its input's shape when the op broadcast it.
using Grads = std::vector<std::optional<Expr>>;

class OpBase {
public:
    virtual ~OpBase() = default;

    // Short lowercase name shown in dumps and errors: "matmul".
    virtual std::string_view name() const = 0;
    // Attributes for dumps ("axes=[1] keepdims=true"); empty when there are none.
    virtual std::string attrs() const = 0;
    // Output dtype and shape from the inputs'. `batch_size` is the run's batch size when a
    // plan resolves shapes, or adjoint::batch while the graph is being built. Throws
    // std::invalid_argument with the reason when the inputs do not fit.
    virtual TypedShape infer(std::span<const TypedShape> inputs, std::int64_t batch_size) const = 0;
    // Computes y (already allocated with the inferred shape) from the inputs. May throw
    // std::exception with the reason (a label out of range, say), except in ops that
    // write variables or are element-wise: those run where a failure could leave a
    // variable half written, so whatever could go wrong must be refused by infer.
    virtual void forward(const Inputs& x, Tensor& y) const = 0;
    // The naive version of forward (plain loops, one thread) that tests compare against.
    virtual void reference(const Inputs& x, Tensor& y) const = 0;
    // Builds the gradient nodes of the inputs from dy with ordinary ops, so that they can
    // be differentiated again.
    virtual Grads gradient(const GradContext& c) const = 0;
    // How many leading inputs are variables this op overwrites: 0 for most ops, 1 for
    // assign, 2 or 3 for an optimizer's fused update (a variable and its state). y is the
    // storage of input 0; the kernel writes the others through Inputs::overwritten. A plan
    // runs such an op after every other reader of those variables, and only once every
    // other kernel of the run has succeeded (kernels downstream of it run after it: if
    // one of those fails, the plan puts the variables back; see Plan::snapshots).
    virtual std::size_t writes_variables() const { return 0; }
    // Scratch bytes forward() would like for these (concrete) input types, such as a
    // matrix product's packed operands. A plan provides it from its buffer pool, so a
    // run allocates nothing; a kernel must still work without it.
    virtual std::size_t workspace_bytes(std::span<const TypedShape>) const { return 0; }
    // True for assign(var, value) alone: y is a copy of input 1, so a plan may compute
    // input 1 straight into the variable.
    virtual bool is_assign() const { return false; }
    // True if y[i] reads only element i of every input that has y's shape (others are
    // broadcast), so y may share storage with such an input: the plan then lets an
    // assign's value be computed straight into its variable.
    virtual bool elementwise() const { return false; }
    // True if y is input 0's bytes under another shape (reshape, and so expand_dims and
    // squeeze): a plan then makes y a view of input 0's buffer, keeps that buffer alive for
    // y's readers too, and runs no kernel (a zero-copy reshape). It does so where input 0
    // is a value of the run's pool; a fed, variable or constant input is still copied, so
    // that a view never outlives its storage or sees a variable change under it.
    virtual bool is_view() const { return false; }
    // True for an op that talks to other processes (allreduce): every process must run it
    // where the others do. Plans run such steps one after another in their order (which
    // every process computes alike); passes never fold, merge or move one.
    virtual bool is_collective() const { return false; }
    // False if no gradient ever flows from y to an input (element_count, stop_gradient):
    // gradients() then builds no gradient of y at all.
    virtual bool differentiable() const { return true; }
};

}  // namespace adjoint

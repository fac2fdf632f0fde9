// allreduce: the sum (or mean) of a tensor over the ranks of a Communicator, as a graph
// node. Data-parallel training puts one between the gradients and the optimizer's
// updates, so that a training step is still one run of the graph; dumps show it like any
// other node.
//
// Every rank must run the same allreduce nodes in the same order: a collective waits for
// all ranks. A plan runs a run's allreduce steps one after another in its order, which
// every rank computes alike from the same graph (OpBase::is_collective). Inputs after x
// are ordering inputs only (their values are not read): an allreduce given another's
// output runs after it in any plan.
#pragma once

#include <memory>

#include <adjoint/core/communicator.hpp>
#include <adjoint/ops/op.hpp>

namespace adjoint::ops {

enum class ReduceOver : std::uint8_t { sum, mean };

// Inputs (x floating, then any ordering inputs); y like x: on every rank,
// sum: y = x_0 + x_1 + ... + x_{p-1} (in rank order); mean: that sum / p.
struct AllReduce {
    static constexpr std::string_view name = "allreduce";
    static constexpr bool collective = true;  // plans chain allreduce steps in order; passes leave them
    ReduceOver op = ReduceOver::sum;
    std::shared_ptr<Communicator> comm = single_process();
    std::string attrs() const;  // "op=sum ranks=4"
    // A graph file cannot carry a communicator: it loads as a single process's
    // allreduce, and one over several ranks is refused, naming the rank count.
    static AllReduce from_attrs(const Attrs& a);
    TypedShape infer(std::span<const TypedShape> in, std::int64_t batch_size) const;
    void forward(const Inputs& x, Tensor& y) const;
    void reference(const Inputs& x, Tensor& y) const;
    Grads gradient(const GradContext& c) const;
};

}  // namespace adjoint::ops

namespace adjoint {

// The sum or mean of x over comm's ranks; `after`: allreduce nodes (or any nodes) this
// one must run after (ordering only).
Expr allreduce(const Expr& x, std::shared_ptr<Communicator> comm, ops::ReduceOver op = ops::ReduceOver::sum,
               const std::vector<Expr>& after = {}, SourceLocation loc = SourceLocation::current());

// Many tensors (a model's gradients) all-reduced in few large messages, as Horovod's and
// PyTorch DDP's buckets do: xs, in their order, are flattened into buckets of at least
// `bucket_bytes` (0: one bucket for all), each bucket one allreduce node over the
// concatenation, then cut back into xs' shapes. Bucket k + 1 runs after bucket k (its
// ordering input), so every rank sends them in the same order; put the tensors that are
// ready first (the last layers' gradients) first, and the executor runs a bucket's
// allreduce as soon as they are, beside the rest of the backward pass (on a thread to
// spare). A bucket holds whole tensors, as DDP's do. xs share one dtype, f32 or f64.
std::vector<Expr> allreduce_buckets(const std::vector<Expr>& xs, const std::shared_ptr<Communicator>& comm,
                                    ops::ReduceOver op = ops::ReduceOver::sum, std::int64_t bucket_bytes = 0,
                                    SourceLocation loc = SourceLocation::current());

}  // namespace adjoint

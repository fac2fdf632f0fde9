// p = ranks of the communicator. y = sum over ranks of x (or that / p), in rank order.
#include <adjoint/ops/allreduce.hpp>

#include <cstring>
#include <optional>

#include <adjoint/ops/movement.hpp>
#include <adjoint/ops/shape_ops.hpp>

#include "naive.hpp"
#include "op_list.hpp"

namespace adjoint::ops {

std::string AllReduce::attrs() const {
    return fmt::format("{}ranks={}", op == ReduceOver::mean ? "mean " : "", comm->size());
}

AllReduce AllReduce::from_attrs(const Attrs& a) {
    a.only({"mean", "ranks"});
    const std::int64_t ranks = a.integer("ranks");
    if (ranks != 1)
        throw std::invalid_argument(fmt::format(
            "ranks={}: an allreduce over several ranks needs its communicator, which a graph file cannot carry; "
            "build the graph in the program that runs it",
            ranks));
    return {a.flag("mean") ? ReduceOver::mean : ReduceOver::sum, single_process()};
}

TypedShape AllReduce::infer(std::span<const TypedShape> in, std::int64_t) const {
    if (in.empty()) throw std::invalid_argument("allreduce takes x, then any ordering inputs");
    if (in[0].dtype != DType::f32 && in[0].dtype != DType::f64)
        throw std::invalid_argument(fmt::format("x is {}; an allreduce sums f32 or f64", dtype_name(in[0].dtype)));
    if (!comm) throw std::invalid_argument("the communicator is null");
    return in[0];
}

namespace {
// y summed over the ranks in place, then divided by p for the mean. `what` is a literal,
// which the ranks compare before summing (with the element count): nothing is allocated.
template <class T> void sum_over_ranks(Communicator& comm, std::span<T> y, std::string_view what, ReduceOver op) {
    comm.allreduce_sum(y, what);
    if (op == ReduceOver::mean)
        for (T& e : y) e /= static_cast<T>(comm.size());
}
}  // namespace

// infer admits f32 and f64 only.
void AllReduce::forward(const Inputs& x, Tensor& y) const {
    if (y.raw() != x[0].raw()) std::memcpy(y.raw(), x[0].raw(), y.nbytes());
    if (y.dtype() == DType::f32) sum_over_ranks(*comm, y.data<float>(), "allreduce of f32", op);
    else sum_over_ranks(*comm, y.data<double>(), "allreduce of f64", op);
}

// Independent of allreduce_sum's exchange: each rank's x in turn by broadcast, summed in
// rank order in the dtype (as the fast path promises), then the mean's division.
void AllReduce::reference(const Inputs& x, Tensor& y) const {
    const int p = comm->size();
    Tensor acc = Tensor::zeros(y.shape(), y.dtype()), theirs(y.shape(), y.dtype());
    for (int r = 0; r < p; ++r) {
        if (r == comm->rank()) std::memcpy(theirs.raw(), x[0].raw(), theirs.nbytes());
        comm->broadcast(std::span<std::byte>(static_cast<std::byte*>(theirs.raw()), theirs.nbytes()), r);
        for (std::int64_t i = 0; i < y.numel(); ++i)
            naive::set(acc, i, r == 0 ? naive::get(theirs, i) : naive::get(acc, i) + naive::get(theirs, i));
    }
    for (std::int64_t i = 0; i < y.numel(); ++i)
        naive::set(y, i, op == ReduceOver::mean ? naive::get(acc, i) / p : naive::get(acc, i));
}

// y = sum_r x_r on every rank, and each rank's loss reads its own y. The total loss
// L = sum_r L_r has dL/dx_r = sum_r' dL_r'/dy: the sum over the ranks of dy, an allreduce
// sum again. For the mean, y = (1/p) sum_r x_r gives (1/p) sum_r' dy_r': the mean of dy.
// The ordering inputs get no gradient.
Grads AllReduce::gradient(const GradContext& c) const {
    Grads out(c.x.size());
    if (c.wanted[0]) out[0] = make_listed(*this, {c.dy}, SourceLocation::current());
    return out;
}

}  // namespace adjoint::ops

namespace adjoint {

Expr allreduce(const Expr& x, std::shared_ptr<Communicator> comm, ops::ReduceOver op, const std::vector<Expr>& after,
               SourceLocation loc) {
    if (!comm) throw Error(fmt::format("allreduce ({}): the communicator is null", where(loc)));
    std::vector<Expr> inputs{x};
    inputs.insert(inputs.end(), after.begin(), after.end());
    return ops::make_listed(ops::AllReduce{op, std::move(comm)}, inputs, loc);
}

std::vector<Expr> allreduce_buckets(const std::vector<Expr>& xs, const std::shared_ptr<Communicator>& comm,
                                    ops::ReduceOver op, std::int64_t bucket_bytes, SourceLocation loc) {
    if (xs.empty()) return {};
    if (bucket_bytes < 0)
        throw Error(fmt::format("allreduce_buckets ({}): bucket_bytes is {}", where(loc), bucket_bytes));
    for (const Expr& x : xs)
        if (x.dtype() != xs[0].dtype() || x.shape().has_batch())
            throw Error(fmt::format(
                "allreduce_buckets ({}): \"{}\" is {} {}; the tensors must share one dtype ({}) and have no batch dim",
                where(loc), x.name(), dtype_name(x.dtype()), x.shape(), dtype_name(xs[0].dtype())));
    std::vector<Expr> out;
    std::optional<Expr> previous;  // the last bucket's allreduce: the next one runs after it
    for (std::size_t first = 0; first < xs.size();) {
        // This bucket: xs[first, last), at least bucket_bytes (or everything).
        std::size_t last = first;
        std::int64_t bytes = 0;
        std::vector<Expr> flat;
        while (last < xs.size() && (bucket_bytes == 0 || bytes < bucket_bytes || last == first)) {
            bytes += xs[last].shape().numel() * static_cast<std::int64_t>(dtype_size(xs[last].dtype()));
            flat.push_back(reshape(xs[last], Shape{xs[last].shape().numel()}, loc));
            ++last;
        }
        const Expr joined = flat.size() == 1 ? flat[0] : concat(flat, 0, loc);
        const Expr reduced =
            allreduce(joined, comm, op, previous ? std::vector<Expr>{*previous} : std::vector<Expr>{}, loc);
        previous = reduced;
        std::int64_t offset = 0;
        for (std::size_t i = first; i < last; ++i) {
            const std::int64_t n = xs[i].shape().numel();
            const Expr part = flat.size() == 1 ? reduced : slice(reduced, {offset}, {offset + n}, {}, loc);
            out.push_back(reshape(part, xs[i].shape(), loc));
            offset += n;
        }
        first = last;
    }
    return out;
}

}  // namespace adjoint

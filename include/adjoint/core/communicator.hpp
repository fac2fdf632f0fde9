// Communicator: the group of processes a distributed training step runs on, seen by the
// graph. The allreduce op (ops/allreduce.hpp) and Sequential's data-parallel training talk
// to one through this interface; distributed/mpi.hpp gives the MPI one, and
// single_process() the group of this process alone.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace adjoint {

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;  // this process's, in [0, size())
    virtual int size() const = 0;
    virtual std::string name() const = 0;  // "MPI_COMM_WORLD", for errors and dumps

    // Sums `data` over the ranks, in place. Every rank gets the same bits, and a rerun
    // gets them again: each element is summed in rank order, ((x_0 + x_1) + x_2) + ...,
    // whatever the transport does (MPI_Allreduce promises no order). Every rank must call
    // it with as many elements and the same `what` (the caller, named in the error when
    // they differ: the ranks run different graphs, or allreduce nodes in different orders).
    virtual void allreduce_sum(std::span<float> data, std::string_view what) = 0;
    virtual void allreduce_sum(std::span<double> data, std::string_view what) = 0;
    // Rank `root`'s bytes to every rank.
    virtual void broadcast(std::span<std::byte> data, int root) = 0;
    // Every rank's text, in rank order.
    virtual std::vector<std::string> allgather(const std::string& text) = 0;
};

// This process alone: rank 0 of 1. Sums and broadcasts leave the data as it is.
std::shared_ptr<Communicator> single_process();

// Throws on every rank, naming the first rank whose `text` differs from rank 0's and both
// texts, when the ranks do not agree on it (a model, a batch size: `what` says which).
void expect_same_on_every_rank(Communicator& comm, std::string_view what, const std::string& text);

}  // namespace adjoint

// tools/mnist's flags: what they hold, and how they are read and checked
// (mnist_flags.cpp) before any work starts.
#pragma once

#include <adjoint/core/error.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace mnist {

struct Flags {
    std::string model = "mlp";
    int epochs = 5;
    int initial_epoch = 0;
    std::int64_t batch_size = 128;
    std::string optimizer = "rmsprop";
    double lr = 0;  // 0: the optimizer's default
    std::int64_t hidden = 512;
    std::int64_t bucket_bytes = 0;
    int threads = 0;
    std::uint64_t seed = 0;
    std::string data_dir = "data/mnist";
    std::string save, load, dump_graph, dump_collapse, dump_passes, save_graph, watch, trace;
    std::int64_t trace_steps = 5;
    std::int64_t watch_every = 100;
    bool evaluate_only = false, json = false, quiet = false, profile = false, check_numerics = false, gradcheck = false;
    bool unfused = false;
    bool silent = false;  // not a flag: the ranks after 0 print nothing
};

// A flag found wrong once the model is built (a --watch name the graph lacks): exit 2.
struct LateFlagError : adjoint::Error {
    using adjoint::Error::Error;
};

// Parses and checks every flag before any work starts. Returns false after --help.
bool parse(int argc, char** argv, Flags& f);

// Under mpirun, the ranks after 0 train and evaluate as rank 0 does, but print, save
// and dump nothing: their flags lose every output.
Flags follower_flags(Flags f);

// split("a,b,,c", ',') -> {"a", "b", "c"}.
std::vector<std::string> split(const std::string& text, char separator);

}  // namespace mnist

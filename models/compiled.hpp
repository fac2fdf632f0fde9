// What Sequential::compile builds, shared by sequential.cpp and fit.cpp. Internal to models/.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include <adjoint/models/sequential.hpp>

namespace adjoint {

struct Sequential::Compiled {
    Loss loss;
    Expr x, y;                                       // the input and target placeholders
    Expr output;                                     // the last layer's output
    Expr loss_mean, loss_sum;                        // of the batch's per-sample losses
    std::optional<Expr> accuracy_mean, correct_sum;  // with Metric::accuracy
    std::vector<Expr> updates;                       // the optimizer's and the layers' state's: a step's targets
    std::vector<Expr> optimizer_state;               // the variables the optimizer made
    std::optional<Expr> training;                    // the training flag, if a layer uses one
    std::optional<Expr> global_count;                // distributed: the samples of the global batch (f32 scalar)
    std::unique_ptr<Session> session;
};

}  // namespace adjoint

// Training callbacks, as in Keras: fit() reports every batch and epoch to each callback,
// and a callback may stop training.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <adjoint/core/graph.hpp>

namespace adjoint {

class Sequential;

// The metrics (accuracy) are set only when the model was compiled with them.
struct BatchLogs {
    int epoch = 0, epochs = 0;            // 1-based
    std::int64_t batch = 0, batches = 0;  // 1-based
    std::int64_t step = 0;                // 1-based, counted over all epochs of the fit
    double loss = 0;                      // running means over the epoch so far
    std::optional<double> accuracy;
    double seconds = 0;  // since the epoch began
    // The values of the nodes this callback asked for on this step (Callback::fetches),
    // in its order; fetched with the step, before its updates ran.
    std::span<const Tensor> fetched;
};

struct EpochLogs {
    int epoch = 0, epochs = 0;
    double seconds = 0;  // the training loop of this epoch
    double loss = 0;
    std::optional<double> accuracy;
    std::int64_t samples = 0;
    std::optional<double> val_loss, val_accuracy;
    double samples_per_second() const { return seconds > 0 ? static_cast<double>(samples) / seconds : 0; }
};

struct History {
    std::vector<EpochLogs> epochs;
    std::string stopped_because;  // empty unless a callback stopped training
};

class Callback {
public:
    virtual ~Callback() = default;
    virtual void on_epoch_begin(int /*epoch*/, int /*epochs*/, std::int64_t /*batches*/) {}
    // Nodes of the model's graph whose values this callback wants with step `step` (in
    // BatchLogs::fetched); none by default. A step that fetches more runs its own plan.
    virtual std::span<const Expr> fetches(std::int64_t /*step*/) { return {}; }
    // Return a reason to stop training, or nothing to go on.
    virtual std::optional<std::string> on_batch_end(const BatchLogs&) { return std::nullopt; }
    virtual std::optional<std::string> on_epoch_end(const EpochLogs&, Sequential&) { return std::nullopt; }
};

// Keras' TerminateOnNaN: stops as soon as a batch's loss is NaN or infinite.
class StopOnNaN : public Callback {
public:
    std::optional<std::string> on_batch_end(const BatchLogs& logs) override;
};

// Prints, every `every` steps (steps every, 2 every, ...), tensor_stats of the named nodes
// of the model's graph (forward nodes, variables, or gradient nodes "grad/..."): min, max,
// mean, L2 norm and NaN/infinity counts, one line per node; as JSON objects with `json`
// (null for what JSON cannot hold). A name the graph lacks is an Error naming it.
class Watch : public Callback {
public:
    Watch(const Graph& graph, const std::vector<std::string>& names, std::int64_t every, std::ostream& out,
          bool json = false);
    std::span<const Expr> fetches(std::int64_t step) override;
    std::optional<std::string> on_batch_end(const BatchLogs& logs) override;

private:
    std::vector<Expr> nodes_;
    std::int64_t every_;
    std::ostream* out_;
    bool json_;
};

// Keras' ModelCheckpoint(save_best_only=True): saves the weights whenever the monitored
// value ("loss", "accuracy", "val_loss" or "val_accuracy") improves on its best so far.
class SaveBest : public Callback {
public:
    explicit SaveBest(std::string path, std::string monitor = "val_loss");
    std::optional<std::string> on_epoch_end(const EpochLogs& logs, Sequential& model) override;
    std::optional<double> best() const { return best_; }

private:
    std::string path_, monitor_;
    std::optional<double> best_;
};

}  // namespace adjoint

// Training callbacks, as in Keras: fit() reports every batch and epoch to each callback,
// and a callback may stop training.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
    // Return a reason to stop training, or nothing to go on.
    virtual std::optional<std::string> on_batch_end(const BatchLogs&) { return std::nullopt; }
    virtual std::optional<std::string> on_epoch_end(const EpochLogs&, Sequential&) { return std::nullopt; }
};

// Keras' TerminateOnNaN: stops as soon as a batch's loss is NaN or infinite.
class StopOnNaN : public Callback {
public:
    std::optional<std::string> on_batch_end(const BatchLogs& logs) override;
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

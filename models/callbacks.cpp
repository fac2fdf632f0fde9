#include <adjoint/models/callbacks.hpp>

#include <cmath>

#include <fmt/format.h>

#include <adjoint/core/error.hpp>
#include <adjoint/models/sequential.hpp>

namespace adjoint {

std::optional<std::string> StopOnNaN::on_batch_end(const BatchLogs& logs) {
    if (std::isfinite(logs.loss)) return std::nullopt;
    // (A NaN's sign means nothing: "NaN", never "-nan".)
    return fmt::format("the loss became {} at step {} (batch {} of epoch {})",
                       std::isnan(logs.loss) ? std::string("NaN") : fmt::format("{}", logs.loss), logs.step, logs.batch,
                       logs.epoch);
}

SaveBest::SaveBest(std::string path, std::string monitor) : path_(std::move(path)), monitor_(std::move(monitor)) {
    if (monitor_ != "loss" && monitor_ != "accuracy" && monitor_ != "val_loss" && monitor_ != "val_accuracy")
        throw Error(fmt::format("SaveBest: cannot monitor \"{}\" (loss, accuracy, val_loss, val_accuracy)", monitor_));
}

std::optional<std::string> SaveBest::on_epoch_end(const EpochLogs& logs, Sequential& model) {
    std::optional<double> value;
    if (monitor_ == "loss") value = logs.loss;
    else if (monitor_ == "accuracy") value = logs.accuracy;
    else if (monitor_ == "val_loss") value = logs.val_loss;
    else value = logs.val_accuracy;
    if (!value)
        throw Error(fmt::format("SaveBest: \"{}\" is not available: {}", monitor_,
                                monitor_.starts_with("val_") && !logs.val_loss
                                    ? "fit() was given no validation data"
                                    : "compile the model with the accuracy metric"));
    const bool higher_is_better = monitor_.ends_with("accuracy");
    if (!std::isfinite(*value)) return std::nullopt;
    if (!best_ || (higher_is_better ? *value > *best_ : *value < *best_)) {
        best_ = value;
        model.save_weights(path_);
    }
    return std::nullopt;
}

}  // namespace adjoint

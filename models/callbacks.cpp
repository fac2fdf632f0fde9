#include <adjoint/models/callbacks.hpp>

#include <cmath>
#include <ostream>

#include <fmt/format.h>

#include <adjoint/core/dump.hpp>
#include <adjoint/core/error.hpp>
#include <adjoint/core/numerics.hpp>
#include <adjoint/models/sequential.hpp>

namespace adjoint {

std::optional<std::string> StopOnNaN::on_batch_end(const BatchLogs& logs) {
    if (std::isfinite(logs.loss)) return std::nullopt;
    // (A NaN's sign means nothing: "NaN", never "-nan".)
    return fmt::format("the loss became {} at step {} (batch {} of epoch {})",
                       std::isnan(logs.loss) ? std::string("NaN") : fmt::format("{}", logs.loss), logs.step, logs.batch,
                       logs.epoch);
}

Watch::Watch(const Graph& graph, const std::vector<std::string>& names, std::int64_t every, std::ostream& out,
             bool json)
    : every_(every), out_(&out), json_(json) {
    if (every <= 0) throw Error(fmt::format("Watch: every is {}; it must be a positive step count", every));
    if (names.empty()) throw Error("Watch: no node names");
    for (const std::string& name : names) {
        const std::optional<Expr> node = graph.find(name);
        if (!node)
            throw Error(fmt::format("Watch: the graph has no node named \"{}\" (dump_text lists the names)", name));
        nodes_.push_back(*node);
    }
}

std::span<const Expr> Watch::fetches(std::int64_t step) {
    if (step % every_ != 0) return {};
    return nodes_;
}

std::optional<std::string> Watch::on_batch_end(const BatchLogs& logs) {
    if (logs.fetched.size() != nodes_.size()) return std::nullopt;  // not a watched step
    auto number = [](double v) { return json_number(v, true); };    // null for NaN and infinities
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        const Tensor& t = logs.fetched[i];
        const TensorStats s = tensor_stats(t);
        if (json_)
            *out_ << fmt::format(
                R"({{"watch": {}, "step": {}, "min": {}, "max": {}, "mean": {}, "l2": {}, "nan": {}, "pos_inf": {}, "neg_inf": {}}})"
                "\n",
                json_string(nodes_[i].name()), logs.step, number(s.min), number(s.max), number(s.mean), number(s.l2),
                s.nan, s.pos_inf, s.neg_inf);
        else
            *out_ << fmt::format("watch step {} \"{}\" {} {}: {}\n", logs.step, nodes_[i].name(), dtype_name(t.dtype()),
                                 t.shape(), to_string(s));
    }
    out_->flush();
    return std::nullopt;
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

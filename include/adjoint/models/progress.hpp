// Reports training as it goes: a Keras-style progress bar updated in place on a terminal,
// one line per epoch elsewhere, or one JSON object per epoch for scripts.
#pragma once

#include <ostream>

#include <adjoint/models/callbacks.hpp>

namespace adjoint {

class ProgressLogger : public Callback {
public:
    enum class Mode { bar, lines, json, quiet };
    ProgressLogger(std::ostream& out, Mode mode);
    // The bar on a terminal, lines otherwise.
    static Mode mode_for(int fd);

    void on_epoch_begin(int epoch, int epochs, std::int64_t batches) override;
    std::optional<std::string> on_batch_end(const BatchLogs& logs) override;
    std::optional<std::string> on_epoch_end(const EpochLogs& logs, Sequential& model) override;

private:
    std::ostream& out_;
    Mode mode_;
    double last_draw_ = -1;
};

}  // namespace adjoint

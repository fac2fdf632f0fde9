#include <adjoint/models/progress.hpp>

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

#include <adjoint/core/dump.hpp>

namespace adjoint {

namespace {

// "469/469 [==============================] - 2s 4ms/step" or, during the epoch,
// "123/469 [=======>......................] - ETA: 1s".
std::string bar(std::int64_t done, std::int64_t total, double seconds) {
    constexpr int width = 30;
    const int filled = total ? static_cast<int>(width * done / total) : width;
    std::string b(static_cast<std::size_t>(filled), '=');
    if (filled < width) b += '>' + std::string(static_cast<std::size_t>(width - filled - 1), '.');
    std::string s = fmt::format("{:>{}}/{} [{}]", done, fmt::formatted_size("{}", total), total, b);
    if (done < total) {
        const double eta = done ? seconds / static_cast<double>(done) * static_cast<double>(total - done) : 0;
        s += fmt::format(" - ETA: {:.0f}s", std::ceil(eta));
    } else {
        s += fmt::format(" - {:.0f}s {:.0f}ms/step", std::round(seconds),
                         1000 * seconds / static_cast<double>(std::max<std::int64_t>(total, 1)));
    }
    return s;
}

std::string metrics(double loss, const std::optional<double>& accuracy) {
    std::string s = fmt::format(" - loss: {:.4f}", loss);
    if (accuracy) s += fmt::format(" - accuracy: {:.4f}", *accuracy);
    return s;
}

// A JSON number, or null for what JSON cannot hold (NaN, infinities) or what is absent.
std::string json_number(const std::optional<double>& v) { return v ? adjoint::json_number(*v) : "null"; }

}  // namespace

ProgressLogger::ProgressLogger(std::ostream& out, Mode mode) : out_(out), mode_(mode) {}

ProgressLogger::Mode ProgressLogger::mode_for(int fd) { return isatty(fd) ? Mode::bar : Mode::lines; }

void ProgressLogger::on_epoch_begin(int epoch, int epochs, std::int64_t) {
    last_draw_ = -1;
    if (mode_ == Mode::bar) out_ << fmt::format("Epoch {}/{}\n", epoch, epochs) << std::flush;
}

std::optional<std::string> ProgressLogger::on_batch_end(const BatchLogs& l) {
    // Redraw at most ten times a second, and always at the last batch.
    if (mode_ != Mode::bar || (l.batch < l.batches && l.seconds - last_draw_ < 0.1)) return std::nullopt;
    last_draw_ = l.seconds;
    out_ << '\r' << bar(l.batch, l.batches, l.seconds) << metrics(l.loss, l.accuracy) << std::flush;
    return std::nullopt;
}

std::optional<std::string> ProgressLogger::on_epoch_end(const EpochLogs& l, Sequential&) {
    std::string val;
    if (l.val_loss) val = fmt::format(" - val_loss: {:.4f}", *l.val_loss);
    if (l.val_accuracy) val += fmt::format(" - val_accuracy: {:.4f}", *l.val_accuracy);
    switch (mode_) {
        case Mode::bar: out_ << val << '\n'; break;
        case Mode::lines:
            out_ << fmt::format("epoch {}/{} - {:.2f}s - {:.0f} samples/s{}{}\n", l.epoch, l.epochs, l.seconds,
                                l.samples_per_second(), metrics(l.loss, l.accuracy), val);
            break;
        case Mode::json: {
            std::string j =
                fmt::format(R"({{"epoch": {}, "seconds": {:.4f}, "loss": {})", l.epoch, l.seconds, json_number(l.loss));
            if (l.accuracy) j += fmt::format(R"(, "accuracy": {})", json_number(l.accuracy));
            j += fmt::format(R"(, "samples_per_second": {:.1f})", l.samples_per_second());
            if (l.val_loss) j += fmt::format(R"(, "val_loss": {})", json_number(l.val_loss));
            if (l.val_accuracy) j += fmt::format(R"(, "val_accuracy": {})", json_number(l.val_accuracy));
            out_ << j << "}\n";
            break;
        }
        case Mode::quiet: break;
    }
    out_ << std::flush;
    return std::nullopt;
}

}  // namespace adjoint

// Sequential's loops: fit, evaluate and predict run the compiled graph batch by batch, with
// the inputs and targets checked first.
#include <chrono>
#include <cstring>
#include <sstream>
#include <tuple>

#include <adjoint/core/dump.hpp>
#include <adjoint/datasets/batches.hpp>

#include "compiled.hpp"
#include "crc.hpp"

namespace adjoint {

// (N, ...) inputs whose samples hold as many values as the first layer's input shape,
// viewed as (N, input shape...).
Tensor Sequential::samples(const Tensor& x, std::string_view who) const {
    const Shape& sample = *layers_.front()->input_shape;
    if (x.empty() || x.shape().rank() == 0 || (x.dtype() != DType::u8 && x.dtype() != DType::f32))
        throw Error(fmt::format("Sequential::{}: inputs must be u8 or f32 of shape (N, ...), got {} {}", who,
                                dtype_name(x.dtype()), x.empty() ? Shape{} : x.shape()));
    const std::int64_t n = x.shape()[0];
    if (n == 0) throw Error(fmt::format("Sequential::{}: the inputs {} hold no samples", who, x.shape()));
    if (x.numel() / n != sample.numel())
        throw Error(fmt::format("Sequential::{}: inputs {} have {} values per sample; the model takes {} ({})", who,
                                x.shape(), n ? x.numel() / n : 0, sample.numel(), sample));
    Shape s{n};
    for (std::int64_t d : sample) s.push_back(d);
    return x.view(s, x.dtype());
}

// Targets checked against the loss: shaped like the output (f32), or (N,) class indices
// (u8 or i32, widened to i32).
Tensor Sequential::target_values(const Tensor& y, std::int64_t n, std::string_view who) const {
    const Compiled& c = *compiled_;
    if (c.loss.targets == Loss::Targets::class_indices) {
        if (y.empty() || y.shape() != Shape{n} || (y.dtype() != DType::u8 && y.dtype() != DType::i32))
            throw Error(
                fmt::format("Sequential::{}: the targets of {} must be u8 or i32 class indices of shape ({},), "
                            "got {} {}",
                            who, c.loss.name, n, dtype_name(y.dtype()), y.empty() ? Shape{} : y.shape()));
        // Every label a class of the output, checked here where the sample can be named.
        const std::int64_t classes = c.output.shape().back();
        Tensor t(y.shape(), DType::i32);
        for (std::int64_t i = 0; i < n; ++i) {
            const auto label = static_cast<std::int64_t>(y.as_double(i));
            if (label < 0 || label >= classes)
                throw Error(fmt::format("Sequential::{}: label {} of sample {} is not one of the output's {} classes",
                                        who, label, i, classes));
            t.data<std::int32_t>()[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(label);
        }
        return t;
    }
    const Shape want = c.output.shape().resolve(n);
    if (y.empty() || y.dtype() != c.output.dtype() || y.shape() != want)
        throw Error(fmt::format("Sequential::{}: the targets of {} must be {} of shape {}{}, got {} {}", who,
                                c.loss.name, dtype_name(c.output.dtype()), want,
                                c.loss.name == "categorical_crossentropy" ? " (to_categorical for class labels)" : "",
                                dtype_name(y.dtype()), y.empty() ? Shape{} : y.shape()));
    return y;
}

Shard Sequential::shard() const {
    if (!options_.distributed) return {};
    return {options_.distributed->rank(), options_.distributed->size()};
}

// Before the first distributed step: the ranks agree on the model (its graph, with every
// attribute, seed and learning rate), the recipe and the data (else each would compute
// something else, and the sums be garbage); every rank's part of every batch holds a
// sample; and they start from rank 0's weights and optimizer state. Checked in that order,
// so that a check that could differ between ranks runs once they are known to agree.
void Sequential::start_distributed(std::string_view who, const FitOptions& options, const Batches& batches,
                                   const Tensor& x, const Tensor& y) {
    Communicator& comm = *options_.distributed;
    std::ostringstream recipe;
    recipe << summary();
    dump_text(graph_, recipe);
    recipe << fmt::format(
        "loss {}, batch_size {}, epochs {}, initial_epoch {}, shuffle {}, seed {}, bucket_bytes {}, validation {}\n"
        "samples {}, inputs {} {} crc32 {:08x}, targets {} {} crc32 {:08x}",
        compiled_->loss.name, options.batch_size, options.epochs, options.initial_epoch, options.shuffle, options_.seed,
        options_.bucket_bytes, options.validation_data.has_value(), batches.sample_count(), dtype_name(x.dtype()),
        x.shape(), crc32_of(x.raw(), x.nbytes()), dtype_name(y.dtype()), y.shape(), crc32_of(y.raw(), y.nbytes()));
    expect_same_on_every_rank(comm, "the model, the training recipe and the data", recipe.str());
    const std::int64_t p = comm.size(), last = batches.rows(batches.batch_count() - 1);
    if (options.batch_size < p || last < p)
        throw Error(
            fmt::format("Sequential::{}: {} ranks share each batch, but {} has {} samples; give every rank "
                        "one at least (a larger batch_size, or as many samples as a whole number of batches)",
                        who, p, last < p ? "the last batch" : "a batch", std::min(last, options.batch_size)));
    broadcast_weights();
}

namespace {

// Sets the model's training flag (if it has one) for a scope, and puts the previous value
// back however the scope ends: fit's steps run with 1; evaluate and predict with 0, even
// when a callback calls them between two steps.
class TrainingFlag {
public:
    TrainingFlag(Session& session, const std::optional<Expr>& flag, bool on) : session_(session), flag_(flag) {
        if (!flag_) return;
        previous_ = session_.value(*flag_);
        session_.set_value(*flag_, Tensor::full({}, on ? 1 : 0, DType::u8));
    }
    TrainingFlag(const TrainingFlag&) = delete;
    TrainingFlag& operator=(const TrainingFlag&) = delete;
    ~TrainingFlag() {
        if (!flag_) return;
        try {
            session_.set_value(*flag_, previous_);
        } catch (...) {  // a scalar of the flag's own type: never refused
        }
    }

private:
    Session& session_;
    const std::optional<Expr>& flag_;
    Tensor previous_;
};

}  // namespace

History Sequential::fit(const Tensor& x_in, const Tensor& y_in, const FitOptions& options, SourceLocation loc) {
    const std::string who = fmt::format("fit ({})", where(loc)),
                      val_who = fmt::format("fit ({}, validation data)", where(loc));
    const Compiled& c = compiled(who);
    if (options.epochs < 0) throw Error(fmt::format("Sequential::{}: epochs is {}", who, options.epochs));
    if (options.initial_epoch < 0 || options.initial_epoch > options.epochs)
        throw Error(fmt::format("Sequential::{}: initial_epoch is {}; it must be from 0 to epochs ({})", who,
                                options.initial_epoch, options.epochs));
    if (options.batch_size <= 0)
        throw Error(fmt::format("Sequential::{}: batch_size is {}; it must be positive", who, options.batch_size));
    const Tensor x = samples(x_in, who);
    const Tensor y = target_values(y_in, x.shape()[0], who);
    std::optional<std::pair<Tensor, Tensor>> val;
    if (options.validation_data) {
        const Tensor vx = samples(options.validation_data->first, val_who);
        val.emplace(vx, target_values(options.validation_data->second, vx.shape()[0], val_who));
    }
    Batches batches(x, y, options.batch_size);
    const Shard shard = this->shard();
    if (options_.distributed) start_distributed(who, options, batches, x, y);
    const std::vector<Expr> fetches = train_fetches();
    const bool accuracy = c.accuracy_mean.has_value();
    Feeds feeds{{c.x, Tensor()}, {c.y, Tensor()}};
    Tensor global_count = Tensor::zeros({}, DType::f32);  // distributed: the global batch's samples
    if (c.global_count) feeds.push_back({*c.global_count, global_count});
    std::vector<Tensor> out;  // reused: a step allocates nothing (tests/alloc)
    History history;
    std::int64_t step = options.initial_epoch * batches.batch_count();  // the steps an uninterrupted run did
    std::vector<std::size_t> extra_count(options.callbacks.size());     // per callback, this step's fetches
    for (int epoch = options.initial_epoch + 1; epoch <= options.epochs && history.stopped_because.empty(); ++epoch) {
        for (Callback* cb : options.callbacks) cb->on_epoch_begin(epoch, options.epochs, batches.batch_count());
        const std::vector<std::int64_t> order =
            options.shuffle
                ? shuffled_indices(batches.sample_count(), options_.seed * 1000003 + static_cast<std::uint64_t>(epoch))
                : std::vector<std::int64_t>{};
        double loss_total = 0, correct_total = 0;
        std::int64_t seen = 0;
        const auto start = std::chrono::steady_clock::now();
        auto mean = [&](double total) { return seen ? total / static_cast<double>(seen) : 0; };
        std::optional<TrainingFlag> training;  // 1 for the epoch's steps (evaluate, predict set 0 for theirs)
        training.emplace(*c.session, c.training, true);
        for (std::int64_t b = 0; b < batches.batch_count() && history.stopped_because.empty(); ++b) {
            // On the session's threads: the rows are gathered in parallel by its own workers.
            c.session->on_threads([&] { std::tie(feeds[0].value, feeds[1].value) = batches.get(b, order, shard); });
            const std::int64_t rows = batches.rows(b);  // of the global batch, whose loss the step reports
            global_count.data<float>()[0] = static_cast<float>(rows);
            ++step;
            // Callbacks' extra fetches for this step, after the training fetches (asked once:
            // extra_count[i] is how many callback i got).
            const std::vector<Expr>* step_fetches = &fetches;
            std::vector<Expr> with_extra;
            for (std::size_t i = 0; i < options.callbacks.size(); ++i) {
                const std::span<const Expr> more = options.callbacks[i]->fetches(step);
                extra_count[i] = more.size();
                if (more.empty()) continue;
                if (with_extra.empty()) with_extra = fetches;
                with_extra.insert(with_extra.end(), more.begin(), more.end());
            }
            if (!with_extra.empty()) step_fetches = &with_extra;
            try {
                c.session->run(*step_fetches, feeds, c.updates, out, loc);
            } catch (const Error& e) {
                throw Error(fmt::format("Sequential::{} at step {} (batch {} of epoch {}): {}", who, step, b + 1, epoch,
                                        e.what()));
            }
            loss_total += out[0].item<float>() * static_cast<double>(rows);
            if (accuracy) correct_total += out[1].item<float>() * static_cast<double>(rows);
            seen += rows;
            BatchLogs logs{.epoch = epoch,
                           .epochs = options.epochs,
                           .batch = b + 1,
                           .batches = batches.batch_count(),
                           .step = step,
                           .loss = mean(loss_total),
                           .accuracy = accuracy ? std::optional(mean(correct_total)) : std::nullopt,
                           .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                           .fetched = {}};
            std::size_t next = fetches.size();
            for (std::size_t i = 0; i < options.callbacks.size(); ++i) {
                logs.fetched = std::span<const Tensor>(out).subspan(next, extra_count[i]);
                next += extra_count[i];
                if (auto why = options.callbacks[i]->on_batch_end(logs); why && history.stopped_because.empty())
                    history.stopped_because = *why;
            }
        }
        training.reset();
        EpochLogs logs;
        logs.epoch = epoch;
        logs.epochs = options.epochs;
        logs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        logs.loss = mean(loss_total);
        if (accuracy) logs.accuracy = mean(correct_total);
        logs.samples = seen;
        if (val) {
            const Evaluation e = evaluate(val->first, val->second, options.batch_size, loc);
            logs.val_loss = e.loss;
            if (accuracy) logs.val_accuracy = e.accuracy;
        }
        history.epochs.push_back(logs);
        for (Callback* cb : options.callbacks)
            if (auto why = cb->on_epoch_end(logs, *this); why && history.stopped_because.empty())
                history.stopped_because = *why;
    }
    return history;
}

Evaluation Sequential::evaluate(const Tensor& x_in, const Tensor& y_in, std::int64_t batch_size, SourceLocation loc) {
    const std::string who = fmt::format("evaluate ({})", where(loc));
    const Compiled& c = compiled(who);
    if (batch_size <= 0)
        throw Error(fmt::format("Sequential::{}: batch_size is {}; it must be positive", who, batch_size));
    const Tensor x = samples(x_in, who);
    const Tensor y = target_values(y_in, x.shape()[0], who);
    Batches batches(x, y, batch_size);
    const TrainingFlag inference(*c.session, c.training, false);
    Feeds feeds{{c.x, Tensor()}, {c.y, Tensor()}};
    std::vector<Expr> fetches{c.loss_sum};
    if (c.correct_sum) fetches.push_back(*c.correct_sum);
    std::vector<Tensor> out;
    // Distributed, each rank evaluates its part of every batch, and the sums are summed.
    const Shard shard = this->shard();
    double sums[2] = {0, 0};  // loss, correct
    for (std::int64_t b = 0; b < batches.batch_count(); ++b) {
        if (batches.rows(b, shard) == 0) continue;  // more ranks than samples in this batch
        c.session->on_threads([&] { std::tie(feeds[0].value, feeds[1].value) = batches.get(b, {}, shard); });
        c.session->run(fetches, feeds, {}, out, loc);
        sums[0] += out[0].item<float>();
        if (c.correct_sum) sums[1] += out[1].item<float>();
    }
    if (options_.distributed) options_.distributed->allreduce_sum(std::span<double>(sums), "Sequential::evaluate");
    const double n = static_cast<double>(batches.sample_count());
    return {sums[0] / n, c.correct_sum ? sums[1] / n : NAN};
}

Tensor Sequential::predict(const Tensor& x_in, std::int64_t batch_size, SourceLocation loc) {
    const std::string who = fmt::format("predict ({})", where(loc));
    const Compiled& c = compiled(who);
    if (batch_size <= 0)
        throw Error(fmt::format("Sequential::{}: batch_size is {}; it must be positive", who, batch_size));
    const Tensor x = samples(x_in, who);
    const std::int64_t n = x.shape()[0];
    Tensor out(c.output.shape().resolve(n), c.output.dtype());
    const std::size_t row_bytes = out.nbytes() / static_cast<std::size_t>(n);
    Batches batches(x, Tensor::zeros({n, 1}, DType::u8), batch_size);
    const TrainingFlag inference(*c.session, c.training, false);
    Feeds feeds{{c.x, Tensor()}};
    std::vector<Tensor> p;
    for (std::int64_t b = 0; b < batches.batch_count(); ++b) {
        c.session->on_threads([&] { feeds[0].value = batches.get(b).first; });
        c.session->run({c.output}, feeds, {}, p, loc);
        std::memcpy(static_cast<std::byte*>(out.raw()) + static_cast<std::size_t>(b * batches.batch_size()) * row_bytes,
                    p[0].raw(), p[0].nbytes());
    }
    return out;
}

}  // namespace adjoint

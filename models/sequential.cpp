#include <adjoint/models/sequential.hpp>

#include <chrono>
#include <cmath>
#include <map>

#include <adjoint/autograd/gradients.hpp>
#include <adjoint/datasets/batches.hpp>
#include <adjoint/ops/all.hpp>
#include <adjoint/models/checkpoint.hpp>
#include <adjoint/models/losses.hpp>

namespace adjoint {

struct Sequential::Compiled {
    bool sparse = false;   // integer class targets
    Expr x, y;             // input and target placeholders
    Expr loss_mean, loss_sum, accuracy_mean, correct_sum;
    std::vector<Expr> updates;
    std::unique_ptr<Session> session;
};

Sequential::Sequential(SequentialOptions options) : options_(options), graph_(std::make_unique<Graph>()) {
    if (options.threads < 0) throw Error(fmt::format("Sequential: threads is {}", options.threads));
}

Sequential::~Sequential() = default;

void Sequential::add(Dense layer) {
    if (compiled_) throw Error("Sequential::add: the model is already compiled; add every layer before compile()");
    if (layers_.empty() && layer.input_dim == 0)
        throw Error("Sequential::add: the first layer needs input_dim (Keras' input_shape)");
    layers_.push_back(std::move(layer));
}

void Sequential::check_compiled(const char* who) const {
    if (!compiled_) throw Error(fmt::format("Sequential::{}: call compile() first", who));
}

void Sequential::compile(const Optimizer& optimizer, const std::string& loss, const std::vector<std::string>& metrics) {
    if (compiled_) throw Error("Sequential::compile: the model is already compiled");
    if (layers_.empty()) throw Error("Sequential::compile: the model has no layers");
    for (const std::string& m : metrics)
        if (m != "accuracy" && m != "acc") throw Error(fmt::format("Sequential::compile: unknown metric \"{}\" (accuracy)", m));
    if (loss != "categorical_crossentropy" && loss != "sparse_categorical_crossentropy" && loss != "mse")
        throw Error(fmt::format("Sequential::compile: unknown loss \"{}\" (categorical_crossentropy, "
                                "sparse_categorical_crossentropy, mse)", loss));
    auto c = std::make_unique<Compiled>();
    Graph& g = *graph_;
    c->sparse = loss == "sparse_categorical_crossentropy";
    c->x = g.placeholder("input", {batch, layers_.front().input_dim});
    Expr h = c->x;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        Dense& layer = layers_[i];
        layer.name = i == 0 ? "dense" : fmt::format("dense_{}", i);
        auto scope = g.scope(layer.name);
        layer.build(g, h, options_.seed * 1000 + i + 1);
        h = layer.output;
    }
    const Dense& last = layers_.back();
    c->y = c->sparse ? g.placeholder("labels", {batch}, DType::i32) : g.placeholder("targets", {batch, last.units});
    Expr per_sample, correct;
    {
        auto scope = g.scope("loss");
        per_sample = loss == "mse" ? mean_squared_error(last.output, c->y)
                     : c->sparse   ? sparse_categorical_crossentropy(last, c->y)
                                   : categorical_crossentropy(last, c->y);
        c->loss_mean = mean(per_sample);
        c->loss_sum = sum(per_sample);
    }
    {
        auto scope = g.scope("accuracy");
        correct = correct_predictions(last.output, c->y);
        c->accuracy_mean = mean(correct);
        c->correct_sum = sum(correct);
    }
    const std::vector<Expr> weights = trainable_weights();
    c->updates = optimizer.apply(g, weights, gradients(c->loss_mean, weights));
    c->session = std::make_unique<Session>(g, SessionOptions{.threads = options_.threads, .profile = options_.profile});
    compiled_ = std::move(c);
}

std::vector<Expr> Sequential::trainable_weights() const {
    std::vector<Expr> w;
    for (const Dense& l : layers_) {
        if (!l.kernel.valid()) throw Error("Sequential: the model is not built yet: call compile() first");
        w.push_back(l.kernel);
        w.push_back(l.bias);
    }
    return w;
}

// Parameters of each layer, in order: kernel (inputs x units) plus bias (units).
static std::vector<std::int64_t> layer_params(const std::vector<Dense>& layers) {
    std::vector<std::int64_t> n;
    std::int64_t in = layers.empty() ? 0 : layers.front().input_dim;
    for (const Dense& l : layers) {
        n.push_back(in * l.units + l.units);
        in = l.units;
    }
    return n;
}

std::int64_t Sequential::param_count() const {
    std::int64_t total = 0;
    for (std::int64_t n : layer_params(layers_)) total += n;
    return total;
}

Session& Sequential::session() {
    check_compiled("session");
    return *compiled_->session;
}

std::vector<Expr> Sequential::train_fetches() const {
    check_compiled("train_fetches");
    return {compiled_->loss_mean, compiled_->accuracy_mean};
}

const std::vector<Expr>& Sequential::train_updates() const {
    check_compiled("train_updates");
    return compiled_->updates;
}

// (N, ...) with input_dim values per sample, viewed as (N, input_dim).
Tensor Sequential::samples(const Tensor& x, const char* who) const {
    const std::int64_t d = layers_.front().input_dim;
    if (x.empty() || x.shape().rank() == 0 || (x.dtype() != DType::u8 && x.dtype() != DType::f32))
        throw Error(fmt::format("Sequential::{}: inputs must be u8 or f32 of shape (N, ...), got {} {}", who,
                                dtype_name(x.dtype()), x.empty() ? Shape{} : x.shape()));
    const std::int64_t n = x.shape()[0];
    if (n == 0 || x.numel() / n != d)
        throw Error(fmt::format("Sequential::{}: inputs {} have {} values per sample; the model takes {}", who, x.shape(),
                                n ? x.numel() / n : 0, d));
    return x.view({n, d}, x.dtype());
}

// Targets checked against the loss: one-hot (N, units) f32, or (N,) class indices.
Tensor Sequential::targets(const Tensor& y, std::int64_t n, const char* who) const {
    const std::int64_t units = layers_.back().units;
    if (compiled_->sparse) {
        if (y.empty() || y.shape() != Shape{n} || (y.dtype() != DType::u8 && y.dtype() != DType::i32))
            throw Error(fmt::format("Sequential::{}: sparse targets must be u8 or i32 of shape ({},), got {} {}", who, n,
                                    dtype_name(y.dtype()), y.empty() ? Shape{} : y.shape()));
        if (y.dtype() == DType::i32) return y;
        Tensor t(y.shape(), DType::i32);
        for (std::int64_t i = 0; i < n; ++i) t.data<std::int32_t>()[i] = y.data<std::uint8_t>()[i];
        return t;
    }
    if (y.empty() || y.dtype() != DType::f32 || y.shape() != Shape{n, units})
        throw Error(fmt::format("Sequential::{}: targets must be f32 of shape ({}, {}) (to_categorical for "
                                "class labels), got {} {}",
                                who, n, units, dtype_name(y.dtype()), y.empty() ? Shape{} : y.shape()));
    return y;
}

History Sequential::fit(const Tensor& x_in, const Tensor& y_in, const FitOptions& options) {
    check_compiled("fit");
    if (options.epochs < 0) throw Error(fmt::format("Sequential::fit: epochs is {}", options.epochs));
    if (options.batch_size <= 0) throw Error(fmt::format("Sequential::fit: batch_size is {}; it must be positive", options.batch_size));
    const Tensor x = samples(x_in, "fit");
    const Tensor y = targets(y_in, x.shape()[0], "fit");
    std::optional<std::pair<Tensor, Tensor>> val;
    if (options.validation_data) {
        const Tensor vx = samples(options.validation_data->first, "fit (validation data)");
        val.emplace(vx, targets(options.validation_data->second, vx.shape()[0], "fit (validation data)"));
    }
    Compiled& c = *compiled_;
    Batches batches(x, y, options.batch_size);
    const std::vector<Expr> fetches = train_fetches();
    Feeds feeds{{c.x, Tensor()}, {c.y, Tensor()}};
    std::vector<Tensor> out;  // reused: a step allocates nothing (tests/alloc)
    History history;
    for (int epoch = 1; epoch <= options.epochs && history.stopped_because.empty(); ++epoch) {
        for (Callback* cb : options.callbacks) cb->on_epoch_begin(epoch, options.epochs, batches.batch_count());
        const std::vector<std::int64_t> order =
            options.shuffle ? shuffled_indices(batches.sample_count(), options_.seed * 1000003 + static_cast<std::uint64_t>(epoch))
                            : std::vector<std::int64_t>{};
        double loss_total = 0, correct_total = 0;
        std::int64_t seen = 0;
        const auto start = std::chrono::steady_clock::now();
        for (std::int64_t b = 0; b < batches.batch_count() && history.stopped_because.empty(); ++b) {
            auto [bx, by] = batches.get(b, order);
            feeds[0].value = bx;
            feeds[1].value = by;
            c.session->run(fetches, feeds, c.updates, out);
            const std::int64_t rows = bx.shape()[0];
            loss_total += out[0].item<float>() * static_cast<double>(rows);
            correct_total += out[1].item<float>() * static_cast<double>(rows);
            seen += rows;
            BatchLogs logs{epoch, options.epochs, b + 1, batches.batch_count(), loss_total / static_cast<double>(seen),
                           correct_total / static_cast<double>(seen),
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
            for (Callback* cb : options.callbacks)
                if (auto why = cb->on_batch_end(logs); why && history.stopped_because.empty()) history.stopped_because = *why;
        }
        EpochLogs logs;
        logs.epoch = epoch;
        logs.epochs = options.epochs;
        logs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        logs.loss = seen ? loss_total / static_cast<double>(seen) : 0;
        logs.accuracy = seen ? correct_total / static_cast<double>(seen) : 0;
        logs.samples = seen;
        if (val) {
            const Evaluation e = evaluate(val->first, val->second, options.batch_size);
            logs.val_loss = e.loss;
            logs.val_accuracy = e.accuracy;
        }
        history.epochs.push_back(logs);
        for (Callback* cb : options.callbacks)
            if (auto why = cb->on_epoch_end(logs, *this); why && history.stopped_because.empty()) history.stopped_because = *why;
    }
    return history;
}

Evaluation Sequential::evaluate(const Tensor& x_in, const Tensor& y_in, std::int64_t batch_size) {
    check_compiled("evaluate");
    if (batch_size <= 0) throw Error(fmt::format("Sequential::evaluate: batch_size is {}; it must be positive", batch_size));
    const Tensor x = samples(x_in, "evaluate");
    const Tensor y = targets(y_in, x.shape()[0], "evaluate");
    Compiled& c = *compiled_;
    Batches batches(x, y, batch_size);
    Feeds feeds{{c.x, Tensor()}, {c.y, Tensor()}};
    const std::vector<Expr> fetches{c.loss_sum, c.correct_sum};
    std::vector<Tensor> out;
    double loss = 0, correct = 0;
    for (std::int64_t b = 0; b < batches.batch_count(); ++b) {
        auto [bx, by] = batches.get(b);
        feeds[0].value = bx;
        feeds[1].value = by;
        c.session->run(fetches, feeds, {}, out);
        loss += out[0].item<float>();
        correct += out[1].item<float>();
    }
    const double n = static_cast<double>(batches.sample_count());
    return {loss / n, correct / n};
}

Tensor Sequential::predict(const Tensor& x_in, std::int64_t batch_size) {
    check_compiled("predict");
    if (batch_size <= 0) throw Error(fmt::format("Sequential::predict: batch_size is {}; it must be positive", batch_size));
    const Tensor x = samples(x_in, "predict");
    const std::int64_t n = x.shape()[0], units = layers_.back().units;
    Tensor out({n, units}, DType::f32);
    Batches batches(x, Tensor::zeros({n, 1}, DType::u8), batch_size);
    const std::vector<Expr> fetches{layers_.back().output};
    Feeds feeds{{compiled_->x, Tensor()}};
    std::vector<Tensor> p;
    for (std::int64_t b = 0; b < batches.batch_count(); ++b) {
        feeds[0].value = batches.get(b).first;
        compiled_->session->run(fetches, feeds, {}, p);
        std::memcpy(out.data<float>().data() + b * batches.batch_size() * units, p[0].raw(), p[0].nbytes());
    }
    return out;
}

std::string Sequential::summary() const {
    auto thousands = [](std::int64_t v) {
        std::string s = std::to_string(v);
        for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
        return s;
    };
    const std::string rule(65, '_'), double_rule(65, '=');
    std::string out = "Model: \"sequential\"\n" + rule + "\n";
    out += fmt::format(" {:<27}{:<26}{}\n", "Layer (type)", "Output Shape", "Param #");
    out += double_rule + "\n";
    const std::vector<std::int64_t> params = layer_params(layers_);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        const Dense& l = layers_[i];
        const std::string name = l.name.empty() ? (i == 0 ? "dense" : fmt::format("dense_{}", i)) : l.name;
        out += fmt::format(" {:<27}{:<26}{}\n", name + " (Dense)", fmt::format("(None, {})", l.units), params[i]);
        if (i + 1 < layers_.size()) out += "\n";
    }
    out += double_rule + "\n";
    out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: 0\n", thousands(param_count()),
                       thousands(param_count()));
    return out + rule + "\n";
}

void Sequential::save_weights(const std::string& path) {
    check_compiled("save_weights");
    std::vector<NamedTensor> tensors;
    for (const Expr& w : trainable_weights()) tensors.push_back({w.name(), compiled_->session->value(w)});
    save_checkpoint(path, tensors);
}

void Sequential::load_weights(const std::string& path) {
    check_compiled("load_weights");
    const std::vector<NamedTensor> loaded = load_checkpoint(path);
    const std::vector<Expr> weights = trainable_weights();
    std::map<std::string, const Tensor*> by_name;
    for (const NamedTensor& t : loaded) by_name[t.name] = &t.value;
    // Everything is checked before any weight changes.
    for (const Expr& w : weights) {
        const auto it = by_name.find(w.name());
        if (it == by_name.end())
            throw Error(fmt::format("load_weights: \"{}\" has no tensor \"{}\" (it holds {} tensors)", path, w.name(), loaded.size()));
        const Tensor& t = *it->second;
        if (t.dtype() != w.dtype() || t.shape() != w.shape())
            throw Error(fmt::format("load_weights: \"{}\": \"{}\" is {} {} in the file but {} {} in the model", path, w.name(),
                                    dtype_name(t.dtype()), t.shape(), dtype_name(w.dtype()), w.shape()));
    }
    if (loaded.size() != weights.size()) {
        for (const NamedTensor& t : loaded) {
            bool known = false;
            for (const Expr& w : weights) known = known || w.name() == t.name;
            if (!known)
                throw Error(fmt::format("load_weights: \"{}\" holds \"{}\", which the model does not have", path, t.name));
        }
    }
    for (const Expr& w : weights) compiled_->session->set_value(w, *by_name.at(w.name()));
}

}  // namespace adjoint

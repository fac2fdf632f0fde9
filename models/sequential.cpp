// Sequential: layers, compile() into one graph, the summary and the weights' files.
// Training and evaluation loops are in fit.cpp.
#include <adjoint/models/sequential.hpp>

#include <algorithm>
#include <map>
#include <typeinfo>

#include <adjoint/autograd/gradients.hpp>
#include <adjoint/models/checkpoint.hpp>
#include <adjoint/models/convolutional.hpp>
#include <adjoint/models/pooling.hpp>
#include <adjoint/ops/all.hpp>

#include "compiled.hpp"
#include "printable.hpp"

namespace adjoint {

std::string snake_case(std::string_view type) {
    std::string out;
    for (std::size_t i = 0; i < type.size(); ++i) {
        const char c = type[i];
        const bool upper = c >= 'A' && c <= 'Z';
        if (upper && i > 0 && type[i - 1] >= 'a' && type[i - 1] <= 'z') out += '_';
        out += upper ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out;
}

Sequential::Sequential(SequentialOptions options) : options_(options) {
    if (options.threads < 0) throw Error(fmt::format("Sequential: threads is {}", options.threads));
}

Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

void Sequential::add(std::unique_ptr<Layer> layer) {
    if (!layer) throw Error("Sequential::add: the layer is null");
    if (compiled_) throw Error("Sequential::add: the model is already compiled; add every layer before compile()");
    if (layers_.empty() && !layer->input_shape)
        throw Error(
            fmt::format("Sequential::add: the first layer ({}) needs its input shape (Keras' input_shape; "
                        "Dense's input_dim)",
                        layer->type()));
    auto taken = [&](const std::string& name) {
        return std::any_of(layers_.begin(), layers_.end(), [&](const auto& l) { return l->name == name; });
    };
    // Keras' names: the type's stem, then the first free of stem_1, stem_2, ...
    if (layer->name.empty()) {
        const std::string stem = snake_case(layer->type());
        layer->name = stem;
        for (int k = 1; taken(layer->name); ++k) layer->name = fmt::format("{}_{}", stem, k);
    }
    if (layer->name.find('/') != std::string::npos)
        throw Error(
            fmt::format("Sequential::add: layer name \"{}\" has a '/' (it names the layer's scope)", layer->name));
    if (taken(layer->name)) throw Error(fmt::format("Sequential::add: a layer is already named \"{}\"", layer->name));
    // Checked now, where the mistake is made: each layer takes the previous one's output.
    Shape in = layers_.empty() ? *layer->input_shape : *layers_.front()->input_shape;
    for (const auto& l : layers_) in = l->output_shape(in);
    (void)layer->output_shape(in);
    layers_.push_back(std::move(layer));
}

const Sequential::Compiled& Sequential::compiled(std::string_view who) const {
    if (!compiled_) throw Error(fmt::format("Sequential::{}: call compile() first", who));
    return *compiled_;
}

void Sequential::compile(const Optimizer& optimizer, std::string_view loss, const std::vector<std::string>& metrics,
                         SourceLocation loc) {
    std::vector<Metric> m;
    std::optional<Loss> parsed;
    try {
        for (const std::string& name : metrics) m.push_back(metric_from_name(name));
        parsed = Loss::from_name(loss);
    } catch (const Error& e) {
        throw Error(fmt::format("Sequential::compile ({}): {}", where(loc), e.what()));
    }
    compile(optimizer, *parsed, m, loc);
}

// Builds into a graph of its own, which becomes the model's only once everything has
// been built: a compile that fails (a loss that does not fit, say) leaves nothing behind,
// and a second try names its nodes as the first would have.
void Sequential::compile(const Optimizer& optimizer, const Loss& loss, const std::vector<Metric>& metrics,
                         SourceLocation loc) {
    const std::string who = fmt::format("Sequential::compile ({})", where(loc));
    if (compiled_) throw Error(fmt::format("{}: the model is already compiled", who));
    if (layers_.empty()) throw Error(fmt::format("{}: the model has no layers", who));
    if (!loss.per_sample) throw Error(fmt::format("{}: loss \"{}\" has no function", who, loss.name));
    for (Metric m : metrics)
        if (m != metrics.front())
            throw Error(
                fmt::format("{}: metrics {} and {}: a model reports one accuracy (\"accuracy\" picks the kind "
                            "from the loss)",
                            who, metric_name(metrics.front()), metric_name(m)));
    try {
        build(optimizer, loss, metrics);
    } catch (const Error& e) {
        if (std::string_view(e.what()).starts_with("Sequential::")) throw;
        throw Error(fmt::format("{}: {}", who, e.what()));  // an op's error while building: name the call too
    }
}

// The gradients of the global batch's mean loss, summed over the ranks. Each rank holds
// n_r of the N samples of a global batch: with L_r its loss sum, the global mean is
// sum_r L_r / N, so each rank differentiates L_r / N and the ranks' gradients add up to
// the global one, whatever the split. The loss sum and the correct count ride in the same
// message, so the step's loss and accuracy are the global batch's on every rank.
std::vector<Expr> Sequential::distributed_gradients(Compiled& c, Graph& g, const std::vector<Expr>& weights) const {
    c.global_count = g.placeholder("global_batch_size", {});
    const Expr count = *c.global_count;
    std::vector<Expr> local = gradients(c.loss_sum / count, weights);
    std::reverse(local.begin(), local.end());  // the last layer's gradients are ready first
    local.push_back(reshape(c.loss_sum, {1}));
    if (c.correct_sum) local.push_back(reshape(*c.correct_sum, {1}));
    std::vector<Expr> summed;
    {
        auto scope = g.scope("allreduce");
        summed = allreduce_buckets(local, options_.distributed, ops::ReduceOver::sum, options_.bucket_bytes);
    }
    if (c.correct_sum) {
        c.accuracy_mean = reshape(summed.back(), {}) / count;
        summed.pop_back();
    }
    c.loss_mean = reshape(summed.back(), {}) / count;
    summed.pop_back();
    std::reverse(summed.begin(), summed.end());
    return summed;
}

std::optional<std::array<std::int64_t, 2>> Sequential::fused_pool(std::size_t i, const Expr& input) const {
    // The first layer only: it needs no gradient of its input, which the fused op would
    // compute through the composite, and deeper layers have more taps anyway. The layers
    // themselves, not subclasses that may build otherwise.
    if (!options_.fuse_conv_pool || i != 0 || layers_.size() < 2) return std::nullopt;
    const Layer &first = *layers_[0], &second = *layers_[1];
    if (typeid(first) != typeid(Conv2D) || typeid(second) != typeid(MaxPooling2D)) return std::nullopt;
    const auto* conv = static_cast<const Conv2D*>(layers_[0].get());
    const auto* pool = static_cast<const MaxPooling2D*>(layers_[1].get());
    constexpr std::int64_t most = ops::Conv2DMaxPool::max_pool_positions;
    const auto [ph, pw] = pool->pool_size;
    if (ph > most || pw > most || ph * pw > most) return std::nullopt;
    const Shape& in = input.shape();
    const Shape sample(std::span<const std::int64_t>(in.begin() + 1, in.end()));
    if (!conv->fuses_with_pool(sample)) return std::nullopt;
    const ops::Window2D window = pool_window(pool->pool_size, pool->options);
    if (window.strides != pool->pool_size || window.padding != ops::Padding::valid) return std::nullopt;
    (void)pool->output_shape(conv->output_shape(sample));  // the layers' own errors, as unfused
    return pool->pool_size;
}

void Sequential::build(const Optimizer& optimizer, const Loss& loss, const std::vector<Metric>& metrics) {
    auto c = std::make_unique<Compiled>();
    Graph g;
    c->loss = loss;
    Shape input{batch};
    for (std::int64_t d : *layers_.front()->input_shape) input.push_back(d);
    c->x = g.placeholder("input", input);
    if (std::any_of(layers_.begin(), layers_.end(), [](const auto& l) { return l->uses_training_flag(); }))
        c->training = g.variable("training", Tensor::zeros({}, DType::u8));
    Expr h = c->x;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        auto scope = g.scope(layers_[i]->name);
        const std::uint64_t seed = options_.seed * 1000 + i + 1;
        if (const auto pool = fused_pool(i, h)) {  // this Conv2D and the next layer: one node
            h = dynamic_cast<Conv2D&>(*layers_[i]).build_max_pooled(g, h, seed, *pool);
            ++i;
            continue;
        }
        h = c->training ? layers_[i]->build(g, h, seed, *c->training) : layers_[i]->build(g, h, seed);
    }
    c->output = h;
    c->y = loss.targets == Loss::Targets::class_indices ? g.placeholder("labels", {batch}, DType::i32)
                                                        : g.placeholder("targets", h.shape(), h.dtype());
    {
        auto scope = g.scope("loss");
        const Expr per_sample = loss.per_sample(h, c->y);
        if (!(per_sample.shape() == Shape{batch}))
            throw Error(fmt::format("loss \"{}\" gives values of shape {}; one per sample, (batch,), is needed",
                                    loss.name, per_sample.shape()));
        // The mean as the sum over the sample count, so one sum serves both (what mean()
        // builds for a batch dim, without a second sum node).
        c->loss_sum = sum(per_sample);
        c->loss_mean = c->loss_sum / element_count(per_sample);
    }
    for (Metric m : metrics) {
        if (c->correct_sum) continue;  // one accuracy per model
        auto scope = g.scope("accuracy");
        const Expr correct = m == Metric::categorical_accuracy          ? categorical_accuracy(h, c->y)
                             : m == Metric::sparse_categorical_accuracy ? sparse_categorical_accuracy(h, c->y)
                             : m == Metric::binary_accuracy             ? binary_accuracy(h, c->y)
                                                                        : correct_predictions(h, c->y);
        c->correct_sum = sum(correct);
        c->accuracy_mean = *c->correct_sum / element_count(correct);
    }
    std::vector<Expr> weights;
    for (const auto& l : layers_)
        for (const Expr& w : l->trainable_weights()) weights.push_back(w);
    const NodeId before_optimizer = g.size();
    c->updates = optimizer.apply(
        g, weights, options_.distributed ? distributed_gradients(*c, g, weights) : gradients(c->loss_mean, weights));
    for (NodeId id = before_optimizer; id < g.size(); ++id)
        if (g.node(id).kind == NodeKind::variable) c->optimizer_state.push_back(g.expr(id));
    for (const auto& l : layers_)
        for (const Expr& u : l->state_updates()) c->updates.push_back(u);
    c->session = std::make_unique<Session>(
        g, SessionOptions{
               .threads = options_.threads, .profile = options_.profile, .check_numerics = options_.check_numerics});
    graph_ = g;
    compiled_ = std::move(c);
}

std::vector<Expr> Sequential::trainable_weights() const {
    std::vector<Expr> w;
    for (const auto& l : layers_)
        for (const Expr& e : l->trainable_weights()) w.push_back(e);
    if (w.empty() && !compiled_) throw Error("Sequential: the model is not built yet: call compile() first");
    return w;
}

std::vector<Expr> Sequential::weights() const {
    std::vector<Expr> w = trainable_weights();
    for (const auto& l : layers_)
        for (const Expr& e : l->non_trainable_weights()) w.push_back(e);
    return w;
}

std::vector<Expr> Sequential::optimizer_weights() const { return compiled("optimizer_weights").optimizer_state; }

std::optional<Expr> Sequential::training_flag() const {
    compiled("training_flag");
    return compiled_->training;
}

std::int64_t Sequential::non_trainable_param_count() const {
    std::int64_t total = 0;
    Shape in = layers_.empty() ? Shape{} : *layers_.front()->input_shape;
    for (const auto& l : layers_) {
        total += l->non_trainable_param_count(in);
        in = l->output_shape(in);
    }
    return total;
}

std::int64_t Sequential::param_count() const {
    std::int64_t total = 0;
    Shape in = layers_.empty() ? Shape{} : *layers_.front()->input_shape;
    for (const auto& l : layers_) {
        total += l->param_count(in);
        in = l->output_shape(in);
    }
    return total;
}

const Layer& Sequential::layer(std::size_t i) const {
    if (i >= layers_.size()) not_a(i);
    return *layers_[i];
}

void Sequential::not_a(std::size_t i) const {
    if (i >= layers_.size())
        throw Error(fmt::format("Sequential::layer: there is no layer {} (the model has {})", i, layers_.size()));
    throw Error(fmt::format("Sequential::layer: layer {} (\"{}\") is a {}, not the type asked for", i, layers_[i]->name,
                            layers_[i]->type()));
}

Session& Sequential::session() { return *compiled("session").session; }
Expr Sequential::input() const { return compiled("input").x; }
Expr Sequential::targets() const { return compiled("targets").y; }
Expr Sequential::output() const { return compiled("output").output; }
Expr Sequential::loss() const { return compiled("loss").loss_mean; }

std::vector<Expr> Sequential::train_fetches() const {
    const Compiled& c = compiled("train_fetches");
    if (c.accuracy_mean) return {c.loss_mean, *c.accuracy_mean};
    return {c.loss_mean};
}

const std::vector<Expr>& Sequential::train_updates() const { return compiled("train_updates").updates; }

std::string Sequential::summary() const {
    auto thousands = [](std::int64_t v) {  // 407,050
        const std::string digits = std::to_string(v);
        std::string s;
        for (std::size_t i = 0; i < digits.size(); ++i) {
            if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
            s += digits[i];
        }
        return s;
    };
    auto none_batch = [](const Shape& sample) {  // (None, 512): Keras' shape of a batch
        std::string s = "(None";
        for (std::int64_t d : sample) s += fmt::format(", {}", d);
        return s + ")";
    };
    const std::string rule(65, '_'), double_rule(65, '=');
    std::string out = "Model: \"sequential\"\n" + rule + "\n";
    out += fmt::format(" {:<27}{:<26}{}\n", "Layer (type)", "Output Shape", "Param #");
    out += double_rule + "\n";
    Shape in = layers_.empty() ? Shape{} : *layers_.front()->input_shape;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        const Layer& l = *layers_[i];
        const Shape shape = l.output_shape(in);
        out += fmt::format(" {:<27}{:<26}{}\n", fmt::format("{} ({})", l.name, l.type()), none_batch(shape),
                           l.param_count(in));
        if (i + 1 < layers_.size()) out += "\n";
        in = shape;
    }
    out += double_rule + "\n";
    const std::int64_t frozen = non_trainable_param_count();
    out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n", thousands(param_count()),
                       thousands(param_count() - frozen), thousands(frozen));
    return out + rule + "\n";
}

void Sequential::broadcast_weights() {
    const Compiled& c = compiled("broadcast_weights");
    if (!options_.distributed || options_.distributed->size() == 1) return;
    std::vector<Expr> all = weights();
    all.insert(all.end(), c.optimizer_state.begin(), c.optimizer_state.end());
    for (const Expr& w : all) {
        Tensor v = c.session->value(w);
        options_.distributed->broadcast(std::span<std::byte>(static_cast<std::byte*>(v.raw()), v.nbytes()), 0);
        c.session->set_value(w, v);
    }
}

namespace {
// The checkpoint name of a variable of the optimizer's state: "optimizer/RMSprop/dense/kernel/rms".
constexpr std::string_view optimizer_prefix = "optimizer/";
std::string state_name(const Expr& v) { return fmt::format("{}{}", optimizer_prefix, v.name()); }
}  // namespace

void Sequential::save_weights(const std::string& path, const CheckpointOptions& options) {
    const Compiled& c = compiled("save_weights");
    std::vector<NamedTensor> tensors;
    for (const Expr& w : weights()) tensors.push_back({w.name(), c.session->value(w)});
    for (const Expr& w : c.optimizer_state) tensors.push_back({state_name(w), c.session->value(w)});
    save_checkpoint(path, tensors, options);
}

void Sequential::load_weights(const std::string& path, const CheckpointOptions& options) {
    const Compiled& c = compiled("load_weights");
    const std::vector<NamedTensor> loaded = load_checkpoint(path, options);
    const std::vector<Expr> weights = this->weights();
    std::map<std::string, const Tensor*> by_name;
    for (const NamedTensor& t : loaded) by_name[t.name] = &t.value;
    // Everything is checked before any weight changes.
    for (const Expr& w : weights) {
        const auto it = by_name.find(w.name());
        if (it == by_name.end())
            throw Error(fmt::format("load_weights: \"{}\" has no tensor \"{}\" (it holds {} tensors)", path, w.name(),
                                    loaded.size()));
        const Tensor& t = *it->second;
        if (t.dtype() != w.dtype() || t.shape() != w.shape())
            throw Error(fmt::format("load_weights: \"{}\": \"{}\" is {} {} in the file but {} {} in the model", path,
                                    w.name(), dtype_name(t.dtype()), t.shape(), dtype_name(w.dtype()), w.shape()));
    }
    // The optimizer's state, all of it or none (a checkpoint of weights alone, or of another
    // optimizer's state, which is left aside: fine-tuning with another optimizer).
    std::vector<std::pair<Expr, const Tensor*>> state;
    for (const Expr& v : c.optimizer_state)
        if (const auto it = by_name.find(state_name(v)); it != by_name.end()) {
            if (it->second->dtype() != v.dtype() || it->second->shape() != v.shape())
                throw Error(fmt::format("load_weights: \"{}\": \"{}\" is {} {} in the file but {} {} in the optimizer",
                                        path, it->first, dtype_name(it->second->dtype()), it->second->shape(),
                                        dtype_name(v.dtype()), v.shape()));
            state.emplace_back(v, it->second);
        }
    if (!state.empty() && state.size() != c.optimizer_state.size())
        for (const Expr& v : c.optimizer_state)
            if (!by_name.contains(state_name(v)))
                throw Error(fmt::format("load_weights: \"{}\" holds part of the optimizer's state, without \"{}\"",
                                        path, state_name(v)));
    for (const NamedTensor& t : loaded)
        if (std::none_of(weights.begin(), weights.end(), [&](const Expr& w) { return w.name() == t.name; }) &&
            !t.name.starts_with(optimizer_prefix))
            throw Error(fmt::format("load_weights: \"{}\" holds \"{}\", which the model does not have", path,
                                    printable(t.name)));
    for (const Expr& w : weights) c.session->set_value(w, *by_name.at(w.name()));
    for (const auto& [v, value] : state) c.session->set_value(v, *value);
}

}  // namespace adjoint

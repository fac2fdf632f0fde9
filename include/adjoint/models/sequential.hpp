// Sequential: Keras' model API in C++. The example of the book translates line by line:
//
//   ad::Sequential network;
//   network.add(ad::Dense(512, "relu", 28 * 28));
//   network.add(ad::Dense(10, "softmax"));
//   network.compile(ad::RMSprop(), "categorical_crossentropy", {"accuracy"});
//   network.fit(train_images, train_labels, {.epochs = 5, .batch_size = 128});
//   auto [test_loss, test_acc] = network.evaluate(test_images, test_labels);
//
// compile() builds one graph: the layers, the loss and metrics, their gradients, and the
// optimizer's updates. A training step is one run of it; nothing is rebuilt per step.
#pragma once

#include <array>
#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <adjoint/core/communicator.hpp>
#include <adjoint/core/session.hpp>
#include <adjoint/datasets/batches.hpp>
#include <adjoint/models/callbacks.hpp>
#include <adjoint/models/checkpoint.hpp>
#include <adjoint/models/dense.hpp>
#include <adjoint/models/losses.hpp>
#include <adjoint/models/optimizers.hpp>

namespace adjoint {

struct SequentialOptions {
    std::uint64_t seed = 0;       // kernel initializers and shuffling derive from it
    int threads = 0;              // 0 = all cores
    bool profile = false;         // time every kernel: session().profile()
    bool check_numerics = false;  // SessionOptions::check_numerics: a step that makes NaN or
                                  // infinity throws, naming the node, and changes no weight
    // Data-parallel training over these processes (Mpi::world(), distributed/mpi.hpp), as
    // Horovod does: each rank takes its part of every global batch, every step sums the
    // gradients over the ranks (allreduce_buckets, in the graph), fit starts from rank 0's
    // weights, and evaluate shards the samples and sums the results. The weights stay the
    // same bits on every rank. Layers' moving statistics (BatchNormalization) stay each
    // rank's own, as Horovod's; save rank 0's. nullptr: this process alone.
    std::shared_ptr<Communicator> distributed{};
    std::int64_t bucket_bytes = 0;  // with distributed: gradients per message (0: one message)
    // A first layer Conv2D (relu or linear) of at most 32 taps per output (3x3 over 1 or 3
    // channels) followed by MaxPooling2D (strides of the pool size, valid) becomes one
    // conv2d_max_pool node, which never stores the convolution's output (ops/conv.hpp).
    // The same weights, names and summary; the values differ from the two ops' by rounding
    // (the sums run in the same order, without the GEMM's FMA). false: the two ops.
    bool fuse_conv_pool = true;
};

struct FitOptions {
    int epochs = 1;
    // Keras' initial_epoch: the epochs already done. Training runs epochs initial_epoch + 1
    // to `epochs`, with the shuffles of an uninterrupted run: after load_weights of a
    // checkpoint saved at the end of epoch k, initial_epoch = k continues that run to the
    // same bits.
    int initial_epoch = 0;
    std::int64_t batch_size = 32;
    bool shuffle = true;  // a new seeded order each epoch
    // (inputs, targets) evaluated after each epoch.
    std::optional<std::pair<Tensor, Tensor>> validation_data{};
    std::vector<Callback*> callbacks{};
};

struct Evaluation {
    double loss = 0;
    double accuracy = NAN;  // NaN unless the model was compiled with Metric::accuracy
};

class Sequential {
public:
    explicit Sequential(SequentialOptions options = {});
    ~Sequential();
    Sequential(Sequential&&) noexcept;
    Sequential& operator=(Sequential&&) noexcept;

    // Any layer, by value: network.add(ad::Dense(512, "relu", 784)). A layer without a
    // name gets Keras' ("dense", "dense_1", ...).
    template <std::derived_from<Layer> L> void add(L layer) { add(std::make_unique<L>(std::move(layer))); }
    void add(std::unique_ptr<Layer> layer);

    // Builds the graph: layers, loss, metrics, gradients and the optimizer's updates.
    // Errors of these calls name the line of the call.
    void compile(const Optimizer& optimizer, const Loss& loss, const std::vector<Metric>& metrics = {},
                 SourceLocation loc = SourceLocation::current());
    // The same by Keras' names: loss "categorical_crossentropy" (one-hot f32 targets),
    // "sparse_categorical_crossentropy" (class indices) or "mse"; metrics {} or {"accuracy"}.
    void compile(const Optimizer& optimizer, std::string_view loss, const std::vector<std::string>& metrics = {},
                 SourceLocation loc = SourceLocation::current());

    // x: (N, ...) u8 (scaled by 1/255) or f32, each sample of the first layer's input shape.
    History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {},
                SourceLocation loc = SourceLocation::current());
    Evaluation evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size = 32,
                        SourceLocation loc = SourceLocation::current());
    // The model's outputs, (N, ...).
    Tensor predict(const Tensor& x, std::int64_t batch_size = 32, SourceLocation loc = SourceLocation::current());

    // Rank 0's weights (all of weights()) and optimizer state to every rank: fit does it
    // first when training is distributed. Nothing to do in one process.
    void broadcast_weights();

    // Keras' table of layers, output shapes and parameter counts.
    std::string summary() const;
    // weights() and the optimizer's state by name, in a checkpoint (models/checkpoint.hpp),
    // so that training resumes where it stopped (FitOptions::initial_epoch); load_weights
    // reads the optimizer's state where the file has it, and leaves it otherwise. A
    // failed load changes nothing, a failed save leaves the old file; NaN or infinite
    // weights are refused both ways unless `options` allow them.
    void save_weights(const std::string& path, const CheckpointOptions& options = {});
    void load_weights(const std::string& path, const CheckpointOptions& options = {});

    std::size_t layer_count() const { return layers_.size(); }
    // Layer i, or as its own type: model.layer<Dense>(0).kernel (throws if it is not an
    // L). Read-only: a layer renamed after compile() would no longer match its weights.
    const Layer& layer(std::size_t i) const;
    template <std::derived_from<Layer> L> const L& layer(std::size_t i) const;
    std::vector<Expr> trainable_weights() const;
    // The trainable weights, then the non-trainable ones (moving statistics, counters):
    // what checkpoints hold.
    std::vector<Expr> weights() const;
    // Every parameter (the summary's total), and those training does not change by
    // gradients.
    std::int64_t param_count() const;
    // The optimizer's state variables (RMSprop's mean squares, Adam's moments and step
    // count), after compile(): Keras' optimizer.variables().
    std::vector<Expr> optimizer_weights() const;
    std::int64_t non_trainable_param_count() const;

    // The graph and the session that runs it; after compile(), the nodes a hand-written
    // loop needs: the input and target placeholders, the output, the mean loss of a
    // batch, and one training step (the values it returns, the updates it runs).
    const Graph& graph() const { return graph_; }
    Session& session();
    Expr input() const;
    Expr targets() const;
    Expr output() const;
    Expr loss() const;
    // {mean loss} or {mean loss, accuracy}.
    std::vector<Expr> train_fetches() const;
    const std::vector<Expr>& train_updates() const;
    // The training flag (a u8 scalar variable) when a layer uses one (Dropout,
    // BatchNormalization): fit sets it to 1 for its steps and back to 0; a hand-written
    // loop sets it with session().set_value. nullopt when no layer uses one.
    std::optional<Expr> training_flag() const;

private:
    struct Compiled;
    // `who`: "fit (prog.cpp:12)", for the errors.
    const Compiled& compiled(std::string_view who) const;
    void build(const Optimizer& optimizer, const Loss& loss, const std::vector<Metric>& metrics);  // compile's work
    std::vector<Expr> distributed_gradients(Compiled& c, Graph& g, const std::vector<Expr>& weights) const;
    // The pool size if layer i, reading `input`, and the next layer fuse (fuse_conv_pool).
    std::optional<std::array<std::int64_t, 2>> fused_pool(std::size_t i, const Expr& input) const;
    Shard shard() const;  // this rank's part of a batch
    void start_distributed(std::string_view who, const FitOptions& options, const Batches& batches, const Tensor& x,
                           const Tensor& y);
    Tensor samples(const Tensor& x, std::string_view who) const;
    Tensor target_values(const Tensor& y, std::int64_t n, std::string_view who) const;
    [[noreturn]] void not_a(std::size_t i) const;  // layer<L>(i)'s error

    SequentialOptions options_;
    Graph graph_;
    std::vector<std::unique_ptr<Layer>> layers_;
    std::unique_ptr<Compiled> compiled_;
};

template <std::derived_from<Layer> L> const L& Sequential::layer(std::size_t i) const {
    const auto* l = i < layers_.size() ? dynamic_cast<const L*>(layers_[i].get()) : nullptr;
    if (!l) not_a(i);
    return *l;
}

}  // namespace adjoint

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

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <adjoint/core/session.hpp>
#include <adjoint/models/callbacks.hpp>
#include <adjoint/models/layers.hpp>
#include <adjoint/models/optimizers.hpp>

namespace adjoint {

struct SequentialOptions {
    std::uint64_t seed = 0;  // kernel initializers and shuffling derive from it
    int threads = 0;         // 0 = all cores
    bool profile = false;    // time every kernel: session().profile()
};

struct FitOptions {
    int epochs = 1;
    std::int64_t batch_size = 32;
    bool shuffle = true;  // a new seeded order each epoch
    // (inputs, targets) evaluated after each epoch.
    std::optional<std::pair<Tensor, Tensor>> validation_data{};
    std::vector<Callback*> callbacks{};
};

struct Evaluation {
    double loss = 0, accuracy = 0;
};

class Sequential {
public:
    explicit Sequential(SequentialOptions options = {});
    ~Sequential();

    void add(Dense layer);
    // loss: "categorical_crossentropy" (one-hot f32 targets), "sparse_categorical_crossentropy"
    // (integer class targets) or "mse"; metrics: {} or {"accuracy"}.
    void compile(const Optimizer& optimizer, const std::string& loss, const std::vector<std::string>& metrics = {});

    // x: (N, ...) u8 (scaled by 1/255) or f32 with input_dim values per sample.
    History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
    Evaluation evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size = 32);
    // The last layer's outputs, (N, units).
    Tensor predict(const Tensor& x, std::int64_t batch_size = 32);

    // Keras' table of layers, output shapes and parameter counts.
    std::string summary() const;
    // Weights (kernels and biases) by name; a failed load changes nothing.
    void save_weights(const std::string& path);
    void load_weights(const std::string& path);

    const std::vector<Dense>& layers() const { return layers_; }
    std::vector<Expr> trainable_weights() const;
    std::int64_t param_count() const;
    Graph& graph() { return *graph_; }
    Session& session();
    // One training step: the values it returns (loss, accuracy) and the optimizer's
    // updates it runs; together they are the step's graph, for dumps.
    std::vector<Expr> train_fetches() const;
    const std::vector<Expr>& train_updates() const;

private:
    struct Compiled;
    void check_compiled(const char* who) const;
    Tensor samples(const Tensor& x, const char* who) const;
    Tensor targets(const Tensor& y, std::int64_t n, const char* who) const;

    SequentialOptions options_;
    std::unique_ptr<Graph> graph_;
    std::vector<Dense> layers_;
    std::unique_ptr<Compiled> compiled_;
};

}  // namespace adjoint

// The MNIST example in LibTorch, PyTorch's C++ API (Debian's libtorch-dev): the peer a C++
// user would pick instead of adjoint. The recipe of torch_mlp.py, written as such a user
// would write it: 784 -> Linear 512, relu -> Linear 10, cross-entropy (mean over the batch),
// torch::optim::RMSprop(lr 1e-3, alpha 0.9, eps 1e-7), Glorot-uniform kernels
// (xavier_uniform_), zero biases, batch 128 reshuffled every epoch. Times the training loop
// only; images are scaled to [0, 1] by LibTorch's MNIST reader.
//
// bench/bench.py builds it when LibTorch is installed:
//   c++ -O2 -std=c++17 libtorch_mlp.cpp -isystem /usr/include/torch/csrc/api/include
//       -ltorch -ltorch_cpu -lc10   (one command line)
// Flags as torch_mlp.py: --data DIR --epochs N --threads T --seed S. Prints one JSON line
// with the same keys (per-epoch seconds, their median, train and test accuracy).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Flags {
    std::string data = "data/mnist";
    int epochs = 5, threads = 0, seed = 0;
};

int positive_int(const std::string& flag, const char* text, int least) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < least || v > 1'000'000)
        throw std::invalid_argument(flag + ": '" + text + "' is not an integer >= " + std::to_string(least));
    return static_cast<int>(v);
}

Flags parse(int argc, char** argv) {
    Flags f;
    for (int i = 1; i < argc; i += 2) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
        if (flag == "--data") f.data = argv[i + 1];
        else if (flag == "--epochs") f.epochs = positive_int(flag, argv[i + 1], 1);
        else if (flag == "--threads") f.threads = positive_int(flag, argv[i + 1], 0);
        else if (flag == "--seed") f.seed = positive_int(flag, argv[i + 1], 0);
        else throw std::invalid_argument("unknown flag " + flag + " (--data, --epochs, --threads, --seed)");
    }
    return f;
}

}  // namespace

int main(int argc, char** argv) try {
    const Flags flags = parse(argc, argv);
    if (flags.threads > 0) at::set_num_threads(flags.threads);  // 0: LibTorch's default
    torch::manual_seed(flags.seed);
    using torch::data::datasets::MNIST;
    auto train = MNIST(flags.data, MNIST::Mode::kTrain);
    auto test = MNIST(flags.data, MNIST::Mode::kTest);
    const torch::Tensor x_train = train.images().reshape({-1, 784}).contiguous(), y_train = train.targets();
    const torch::Tensor x_test = test.images().reshape({-1, 784}).contiguous(), y_test = test.targets();

    torch::nn::Sequential net(torch::nn::Linear(784, 512), torch::nn::ReLU(), torch::nn::Linear(512, 10));
    for (auto& m : net->modules(false))
        if (auto* linear = m->as<torch::nn::Linear>()) {
            torch::nn::init::xavier_uniform_(linear->weight);
            torch::nn::init::zeros_(linear->bias);
        }
    torch::optim::RMSprop optimizer(net->parameters(), torch::optim::RMSpropOptions(1e-3).alpha(0.9).eps(1e-7));

    const std::int64_t n = x_train.size(0), batch = 128;
    std::vector<double> seconds;
    double train_accuracy = 0;
    for (int epoch = 0; epoch < flags.epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        const torch::Tensor order = torch::randperm(n, torch::kLong);
        std::int64_t correct = 0;
        for (std::int64_t i = 0; i < n; i += batch) {
            const torch::Tensor idx = order.slice(0, i, std::min(n, i + batch));
            const torch::Tensor x = x_train.index_select(0, idx), y = y_train.index_select(0, idx);
            optimizer.zero_grad();
            const torch::Tensor logits = net->forward(x);
            torch::nn::functional::cross_entropy(logits, y).backward();
            optimizer.step();
            correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
        }
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        train_accuracy = static_cast<double>(correct) / static_cast<double>(n);
    }
    const torch::NoGradGuard no_grad;
    const double test_accuracy =
        static_cast<double>(net->forward(x_test).argmax(1).eq(y_test).sum().item<std::int64_t>()) /
        static_cast<double>(x_test.size(0));
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    const double median =
        sorted.size() % 2 ? sorted[sorted.size() / 2] : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
    std::string epochs;
    for (const double s : seconds) epochs += (epochs.empty() ? "" : ", ") + std::to_string(s);
    std::printf(
        "{\"system\": \"libtorch %s C++\", \"threads\": %d, \"blas\": null, \"epoch_s\": [%s], "
        "\"median_epoch_s\": %.4f, \"train_accuracy\": %.4f, \"test_accuracy\": %.4f}\n",
        TORCH_VERSION, flags.threads, epochs.c_str(), median, train_accuracy, test_accuracy);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "libtorch_mlp: %s\n", e.what());
    return 1;
}

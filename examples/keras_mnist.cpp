// The Keras "first look at a neural network" example, line by line (as in the README).
// Run from the source root after scripts/fetch-mnist: build/examples/keras_mnist
#include <adjoint/adjoint.hpp>
#include <fmt/core.h>
namespace ad = adjoint;
int main() {
    ad::Mnist data = ad::load_mnist("data/mnist");  // u8 images, scaled per batch
    ad::Tensor train_labels = ad::to_categorical(data.train_labels, 10);
    ad::Tensor test_labels = ad::to_categorical(data.test_labels, 10);

    ad::Sequential network;
    network.add(ad::Dense(512, "relu", 28 * 28));
    network.add(ad::Dense(10, "softmax"));
    network.compile(ad::RMSprop(), "categorical_crossentropy", {"accuracy"});
    network.fit(data.train_images, train_labels, {.epochs = 5, .batch_size = 128});
    auto [test_loss, test_acc] = network.evaluate(data.test_images, test_labels);
    fmt::print("test_loss: {:.4f}\ntest_acc: {:.4f}\n", test_loss, test_acc);
}

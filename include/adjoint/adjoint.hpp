// adjoint: the whole public API in one header.
//
//   adjoint::Graph g;                                   // build a graph of ops
//   auto x = g.placeholder("x", {adjoint::batch, 3});
//   auto w = g.variable("w", {3, 2}, adjoint::init::glorot_uniform(1));
//   auto y = adjoint::relu(adjoint::matmul(x, w));
//   adjoint::Session sess(g, {.threads = 2});           // run any part of it
//   auto out = sess.run({y}, {{x, some_tensor}});
#pragma once

#include <adjoint/autograd/check.hpp>
#include <adjoint/autograd/gradients.hpp>
#include <adjoint/core/communicator.hpp>
#include <adjoint/core/dump.hpp>
#include <adjoint/core/error.hpp>
#include <adjoint/core/graph.hpp>
#include <adjoint/core/init.hpp>
#include <adjoint/core/numerics.hpp>
#include <adjoint/core/session.hpp>
#include <adjoint/core/shape.hpp>
#include <adjoint/core/tensor.hpp>
#include <adjoint/datasets/batches.hpp>
#include <adjoint/datasets/idx.hpp>
#include <adjoint/datasets/mnist.hpp>
#include <adjoint/distributed/mpi.hpp>
#include <adjoint/io/graph_file.hpp>
#include <adjoint/models/activation_layer.hpp>
#include <adjoint/models/activations.hpp>
#include <adjoint/models/batch_normalization.hpp>
#include <adjoint/models/callbacks.hpp>
#include <adjoint/models/checkpoint.hpp>
#include <adjoint/models/convolutional.hpp>
#include <adjoint/models/dense.hpp>
#include <adjoint/models/dropout.hpp>
#include <adjoint/models/embedding.hpp>
#include <adjoint/models/layer.hpp>
#include <adjoint/models/losses.hpp>
#include <adjoint/models/optimizers.hpp>
#include <adjoint/models/pooling.hpp>
#include <adjoint/models/progress.hpp>
#include <adjoint/models/reshaping.hpp>
#include <adjoint/models/sequential.hpp>
#include <adjoint/ops/all.hpp>
#include <adjoint/ops/registry.hpp>
#include <adjoint/passes/passes.hpp>

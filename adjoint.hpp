// adjoint: the whole public API in one header.
//
//   adjoint::Graph g;                                   // build a graph of ops
//   auto x = g.placeholder("x", {adjoint::batch, 3});
//   auto w = g.variable("w", {3, 2}, adjoint::init::glorot_uniform(1));
//   auto y = adjoint::relu(adjoint::matmul(x, w));
//   adjoint::Session sess(g, {.threads = 2});           // run any part of it
//   auto out = sess.run({y}, {{x, some_tensor}});
#pragma once

#include "core/dump.hpp"
#include "core/error.hpp"
#include "core/graph.hpp"
#include "core/init.hpp"
#include "core/session.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "ops/all.hpp"
#include "autograd/check.hpp"
#include "autograd/gradients.hpp"
#include "datasets/batches.hpp"
#include "datasets/idx.hpp"
#include "datasets/mnist.hpp"
#include "models/callbacks.hpp"
#include "models/checkpoint.hpp"
#include "models/layers.hpp"
#include "models/losses.hpp"
#include "models/optimizers.hpp"
#include "models/progress.hpp"
#include "models/sequential.hpp"

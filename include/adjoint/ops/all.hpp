// Every op's functions: the element-wise ones and operators, matrix products, layout,
// reductions, classification losses, casts, assign, the allreduce across processes and
// the optimizers' fused updates.
#pragma once

#include <adjoint/ops/allreduce.hpp>
#include <adjoint/ops/argmax.hpp>
#include <adjoint/ops/assign.hpp>
#include <adjoint/ops/cast.hpp>
#include <adjoint/ops/conv.hpp>
#include <adjoint/ops/cross_entropy.hpp>
#include <adjoint/ops/dropout.hpp>
#include <adjoint/ops/elementwise.hpp>
#include <adjoint/ops/matmul.hpp>
#include <adjoint/ops/movement.hpp>
#include <adjoint/ops/optimizer_ops.hpp>
#include <adjoint/ops/reduce.hpp>
#include <adjoint/ops/shape_ops.hpp>
#include <adjoint/ops/softmax.hpp>
#include <adjoint/ops/where.hpp>

// permute, slice, slice_grad, pad, concat, gather, gather_grad. All but gather's are one
// kernel, strided_copy: elements of an extent read at one set of strides and written at
// another, so that a permutation, a slice, a padding and a part of a concatenation are
// each a choice of offsets and strides (in elements), never an index computed per
// element. Elements are copied whole (their bytes): any dtype, NaN payloads kept.
#include <adjoint/ops/movement.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "../core/parallel.hpp"
#include "naive.hpp"
#include "op_list.hpp"
#include <adjoint/ops/shape_ops.hpp>

namespace adjoint::ops {

namespace {

// Strides of up to Shape::max_rank dims, in place: a kernel call allocates nothing.
class Strides {
public:
    Strides() = default;
    explicit Strides(std::size_t count, std::int64_t value = 0) : n_(count) { std::fill_n(v_.begin(), count, value); }
    std::size_t size() const { return n_; }
    std::int64_t& operator[](std::size_t i) { return v_[i]; }
    std::int64_t operator[](std::size_t i) const { return v_[i]; }
    void push_back(std::int64_t x) { v_[n_++] = x; }

private:
    std::array<std::int64_t, Shape::max_rank> v_{};
    std::size_t n_ = 0;
};

// Row-major strides, in elements, of a shape.
Strides strides_of(const Shape& s) {
    Strides out(s.rank(), 1);
    for (std::size_t d = s.rank(); d-- > 1;) out[d - 1] = out[d] * s[d];
    return out;
}

// For every index of `extent`: dst[dst_off + sum idx dst_strides] = src[src_off + sum idx
// src_strides]. Rows (all dims but the last) are cut into chunks that do not depend on the
// thread count; the last dim is a loop, a memcpy where both sides are contiguous.
template <class E>
void copy_as(const E* src, std::int64_t src_off, const Strides& ss, E* dst, std::int64_t dst_off, const Strides& ds,
             const Shape& extent) {
    const std::size_t r = extent.rank();
    if (extent.numel() == 0) return;
    if (r == 0) {
        dst[dst_off] = src[src_off];
        return;
    }
    const std::int64_t inner = extent[r - 1], rows = extent.numel() / inner;
    const std::int64_t s_in = ss[r - 1], d_in = ds[r - 1];
    parallel_chunks(rows, std::max<std::int64_t>(1, 16384 / inner), [&](std::int64_t r0, std::int64_t r1) {
        naive::Index idx{};  // of row r0 over dims 0 .. r-2
        for (std::size_t d = r - 1, rest = static_cast<std::size_t>(r0); d-- > 0;) {
            idx[d] = static_cast<std::int64_t>(rest) % extent[d];
            rest /= static_cast<std::size_t>(extent[d]);
        }
        for (std::int64_t row = r0; row < r1; ++row) {
            std::int64_t so = src_off, dof = dst_off;
            for (std::size_t d = 0; d + 1 < r; ++d) {
                so += idx[d] * ss[d];
                dof += idx[d] * ds[d];
            }
            if (s_in == 1 && d_in == 1) std::memcpy(dst + dof, src + so, static_cast<std::size_t>(inner) * sizeof(E));
            else
                for (std::int64_t i = 0; i < inner; ++i) dst[dof + i * d_in] = src[so + i * s_in];
            for (std::size_t d = r - 1; d-- > 0;) {  // the next row's index
                if (++idx[d] < extent[d]) break;
                idx[d] = 0;
            }
        }
    });
}

void strided_copy(const Tensor& src, std::int64_t src_off, const Strides& ss, Tensor& dst, std::int64_t dst_off,
                  const Strides& ds, const Shape& extent) {
    switch (dtype_size(src.dtype())) {
        case 1:
            copy_as(static_cast<const std::uint8_t*>(src.raw()), src_off, ss, static_cast<std::uint8_t*>(dst.raw()),
                    dst_off, ds, extent);
            break;
        case 4:
            copy_as(static_cast<const std::uint32_t*>(src.raw()), src_off, ss, static_cast<std::uint32_t*>(dst.raw()),
                    dst_off, ds, extent);
            break;
        default:
            copy_as(static_cast<const std::uint64_t*>(src.raw()), src_off, ss, static_cast<std::uint64_t*>(dst.raw()),
                    dst_off, ds, extent);
    }
}

// Every element of t set to v (converted to its dtype).
void fill(Tensor& t, double v) {
    visit_dtype(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        auto d = t.data<T>();
        const T value = static_cast<T>(v);
        parallel_chunks(t.numel(), 1 << 16,
                        [&](std::int64_t s, std::int64_t e) { std::fill(d.begin() + s, d.begin() + e, value); });
    });
}

std::vector<int> to_ints(const std::vector<std::int64_t>& v) { return {v.begin(), v.end()}; }
std::vector<std::int64_t> to_longs(const std::vector<int>& v) { return {v.begin(), v.end()}; }

// The slice's size of dim d for an x dim of `dim` (size -1: to the end).
std::int64_t size_of(const Slice& s, std::size_t d, std::int64_t dim) {
    return s.size[d] < 0 ? dim - s.begin[d] : s.size[d];
}

// The naive copy: every element of y from its multi-index, through long double.
template <class F> void naive_each(Tensor& y, F&& source_value) {
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, source_value(naive::unravel(i, y.shape())));
}

}  // namespace

// ---- permute

std::string Permute::attrs() const { return "perm=" + format_axes(perm); }
Permute Permute::from_attrs(const Attrs& a) {
    a.only({"perm"});
    return {a.axes("perm")};
}

TypedShape Permute::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    const Shape& s = in[0].shape;
    std::vector<int> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int> want(s.rank());
    std::iota(want.begin(), want.end(), 0);
    if (sorted != want)
        throw std::invalid_argument(
            fmt::format("perm {} is not a permutation of the {} dims of {}", format_axes(perm), s.rank(), s));
    Shape out;
    for (int p : perm) out.push_back(s[static_cast<std::size_t>(p)]);
    return {out, in[0].dtype};
}

void Permute::forward(const Inputs& x, Tensor& y) const {
    const Strides xs = strides_of(x[0].shape());
    Strides ss;
    for (int p : perm) ss.push_back(xs[static_cast<std::size_t>(p)]);
    strided_copy(x[0], 0, ss, y, 0, strides_of(y.shape()), y.shape());
}

void Permute::reference(const Inputs& x, Tensor& y) const {
    naive_each(y, [&](const naive::Index& o) {
        naive::Index i{};
        for (std::size_t d = 0; d < perm.size(); ++d) i[static_cast<std::size_t>(perm[d])] = o[d];
        return naive::get(x[0], naive::ravel(i, x[0].shape()));
    });
}

// y's dim i is x's dim p[i]: dx = permute(dy, q) with q[p[i]] = i.
Grads Permute::gradient(const GradContext& c) const {
    std::vector<int> inverse(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i) inverse[static_cast<std::size_t>(perm[i])] = static_cast<int>(i);
    return grads(c, [&] { return make_listed(Permute{inverse}, {c.dy}, SourceLocation::current()); });
}

// ---- slice

std::string Slice::attrs() const {
    return fmt::format("begin={} size={} step={}", format_axes(to_ints(begin)), format_axes(to_ints(size)),
                       format_axes(to_ints(step)));
}
Slice Slice::from_attrs(const Attrs& a) {
    a.only({"begin", "size", "step"});
    return {to_longs(a.axes("begin")), to_longs(a.axes("size")), to_longs(a.axes("step"))};
}

TypedShape Slice::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    const Shape& s = in[0].shape;
    if (begin.size() != s.rank() || size.size() != s.rank() || step.size() != s.rank())
        throw std::invalid_argument(fmt::format("{} has {} dims; the slice gives begin {}, size {}, step {}", s,
                                                s.rank(), format_axes(to_ints(begin)), format_axes(to_ints(size)),
                                                format_axes(to_ints(step))));
    Shape out;
    for (std::size_t d = 0; d < s.rank(); ++d) {
        if (step[d] < 1) throw std::invalid_argument(fmt::format("dim {}: step {} is not positive", d, step[d]));
        if (begin[d] > INT32_MAX || size[d] > INT32_MAX || step[d] > INT32_MAX)  // attrs() writes them as ints
            throw std::invalid_argument(fmt::format("dim {}: the slice goes beyond 2^31 elements", d));
        if (s[d] == batch) {
            if (begin[d] != 0 || size[d] != -1 || step[d] != 1)
                throw std::invalid_argument(fmt::format("dim {} is the batch dim of {}: it is taken whole", d, s));
            out.push_back(batch);
            continue;
        }
        const std::int64_t n = size_of(*this, d, s[d]);
        if (begin[d] < 0 || begin[d] > s[d] || size[d] < -1 || n < 0 || n > s[d] - begin[d])
            throw std::invalid_argument(fmt::format("dim {} of {}: {} elements from {} do not fit in {}", d, s,
                                                    size[d] < 0 ? std::string("the rest") : std::to_string(size[d]),
                                                    begin[d], s[d]));
        out.push_back((n + step[d] - 1) / step[d]);
    }
    return {out, in[0].dtype};
}

void Slice::forward(const Inputs& x, Tensor& y) const {
    const Strides xs = strides_of(x[0].shape());
    Strides ss(xs.size());
    std::int64_t off = 0;
    for (std::size_t d = 0; d < xs.size(); ++d) {
        off += begin[d] * xs[d];
        ss[d] = xs[d] * step[d];
    }
    strided_copy(x[0], off, ss, y, 0, strides_of(y.shape()), y.shape());
}

void Slice::reference(const Inputs& x, Tensor& y) const {
    naive_each(y, [&](const naive::Index& o) {
        naive::Index i{};
        for (std::size_t d = 0; d < begin.size(); ++d) i[d] = begin[d] + o[d] * step[d];
        return naive::get(x[0], naive::ravel(i, x[0].shape()));
    });
}

Grads Slice::gradient(const GradContext& c) const {
    return grads(c, [&] { return slice_grad(c.dy, *this, c.x[0].shape()); });
}

// ---- slice_grad

std::string SliceGrad::attrs() const { return fmt::format("input={} {}", input, slice.attrs()); }
SliceGrad SliceGrad::from_attrs(const Attrs& a) {
    a.only({"input", "begin", "size", "step"});
    return {Slice{to_longs(a.axes("begin")), to_longs(a.axes("size")), to_longs(a.axes("step"))}, a.shape("input")};
}

TypedShape SliceGrad::infer(std::span<const TypedShape> in, std::int64_t batch_size) const {
    expect_inputs(in, 1);
    // In a plan, dy's batch dim is resolved: so is x's (the slice takes it whole).
    Shape shape = input;
    for (std::size_t d = 0; d < shape.rank() && d < in[0].shape.rank(); ++d)
        if (shape[d] == batch) shape[d] = in[0].shape[d];
    const TypedShape x{shape, in[0].dtype};
    const TypedShape y = slice.infer(std::span<const TypedShape>(&x, 1), batch_size);
    if (y.shape != in[0].shape)
        throw std::invalid_argument(fmt::format("dy is {}; the slice of {} is {}", in[0].shape, x.shape, y.shape));
    return x;
}

void SliceGrad::forward(const Inputs& x, Tensor& y) const {
    fill(y, 0);
    const Strides ys = strides_of(y.shape());
    Strides ds(ys.size());
    std::int64_t off = 0;
    for (std::size_t d = 0; d < ys.size(); ++d) {
        off += slice.begin[d] * ys[d];
        ds[d] = ys[d] * slice.step[d];
    }
    strided_copy(x[0], 0, strides_of(x[0].shape()), y, off, ds, x[0].shape());
}

void SliceGrad::reference(const Inputs& x, Tensor& y) const {
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, 0);
    for (std::int64_t i = 0; i < x[0].numel(); ++i) {
        const naive::Index o = naive::unravel(i, x[0].shape());
        naive::Index at{};
        for (std::size_t d = 0; d < slice.begin.size(); ++d) at[d] = slice.begin[d] + o[d] * slice.step[d];
        naive::set(y, naive::ravel(at, y.shape()), naive::get(x[0], i));
    }
}

// Linear in dy: d(dy) = the same slice of g.
Grads SliceGrad::gradient(const GradContext& c) const {
    return grads(c, [&] { return make_listed(slice, {c.dy}, SourceLocation::current()); });
}

// ---- pad

std::string Pad::attrs() const {
    return fmt::format("before={} after={} value={}", format_axes(to_ints(before)), format_axes(to_ints(after)), value);
}
Pad Pad::from_attrs(const Attrs& a) {
    a.only({"before", "after", "value"});
    return {to_longs(a.axes("before")), to_longs(a.axes("after")), a.number("value")};
}

TypedShape Pad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 1);
    const Shape& s = in[0].shape;
    if (before.size() != s.rank() || after.size() != s.rank())
        throw std::invalid_argument(fmt::format("{} has {} dims; the padding gives before {}, after {}", s, s.rank(),
                                                format_axes(to_ints(before)), format_axes(to_ints(after))));
    Shape out;
    for (std::size_t d = 0; d < s.rank(); ++d) {
        if (before[d] < 0 || after[d] < 0 || before[d] > INT32_MAX || after[d] > INT32_MAX)  // attrs() writes ints
            throw std::invalid_argument(
                fmt::format("dim {}: the padding ({}, {}) must be from 0 to 2^31 - 1", d, before[d], after[d]));
        if (s[d] == batch && (before[d] || after[d]))
            throw std::invalid_argument(fmt::format("dim {} is the batch dim of {}: it takes no padding", d, s));
        std::int64_t n = 0;
        if (s[d] != batch && (__builtin_add_overflow(s[d], before[d], &n) || __builtin_add_overflow(n, after[d], &n)))
            throw std::invalid_argument(
                fmt::format("dim {}: {} padded by ({}, {}) overflows", d, s[d], before[d], after[d]));
        out.push_back(s[d] == batch ? batch : n);
    }
    // The value must be one of the dtype's (no silent rounding, wrapping or overflow).
    const bool fits = visit_dtype(in[0].dtype, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_integral_v<T>)
            return value == std::floor(value) && value >= static_cast<double>(std::numeric_limits<T>::min()) &&
                   value <= static_cast<double>(std::numeric_limits<T>::max());
        else return std::isnan(value) || std::isinf(value) || std::abs(value) <= std::numeric_limits<T>::max();
    });
    if (!fits)
        throw std::invalid_argument(
            fmt::format("the padding value {} is not a {} value", value, dtype_name(in[0].dtype)));
    return {out, in[0].dtype};
}

void Pad::forward(const Inputs& x, Tensor& y) const {
    fill(y, value);
    const Strides ys = strides_of(y.shape());
    std::int64_t off = 0;
    for (std::size_t d = 0; d < ys.size(); ++d) off += before[d] * ys[d];
    strided_copy(x[0], 0, strides_of(x[0].shape()), y, off, ys, x[0].shape());
}

void Pad::reference(const Inputs& x, Tensor& y) const {
    naive_each(y, [&](const naive::Index& o) -> long double {
        naive::Index i{};
        for (std::size_t d = 0; d < before.size(); ++d) {
            i[d] = o[d] - before[d];
            if (i[d] < 0 || i[d] >= x[0].shape()[d]) return static_cast<long double>(value);
        }
        return naive::get(x[0], naive::ravel(i, x[0].shape()));
    });
}

// dx = the part of dy that was x.
Grads Pad::gradient(const GradContext& c) const {
    const Shape s = c.x[0].shape();
    Slice part{before, {}, std::vector<std::int64_t>(s.rank(), 1)};
    for (std::int64_t d : s) part.size.push_back(d == batch ? -1 : d);
    return grads(c, [&] { return make_listed(part, {c.dy}, SourceLocation::current()); });
}

// ---- concat

std::string Concat::attrs() const { return fmt::format("axis={}", axis); }
Concat Concat::from_attrs(const Attrs& a) {
    a.only({"axis"});
    const std::int64_t v = a.integer("axis");
    if (v < 0 || v >= static_cast<std::int64_t>(Shape::max_rank))
        throw std::invalid_argument(fmt::format("axis={} is not a dim", v));
    return {static_cast<int>(v)};
}

TypedShape Concat::infer(std::span<const TypedShape> in, std::int64_t) const {
    if (in.empty()) throw std::invalid_argument("concat needs at least one input");
    const Shape& first = in[0].shape;
    const auto a = static_cast<std::size_t>(axis);
    if (axis < 0 || a >= first.rank())
        throw std::invalid_argument(fmt::format("axis {} is not a dim of {}", axis, first));
    Shape out = first;
    out[a] = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const Shape& s = in[i].shape;
        expect_same_dtype(in[0], in[i]);
        if (a < s.rank() && s[a] == batch)
            throw std::invalid_argument(
                fmt::format("dim {} of input {} {} is a batch dim; concat joins along another", axis, i, s));
        bool fits = s.rank() == first.rank();
        for (std::size_t d = 0; fits && d < s.rank(); ++d) fits = d == a || s[d] == first[d];
        if (!fits)
            throw std::invalid_argument(
                fmt::format("input {} is {}, input 0 {}: they must match but in dim {}", i, s, first, axis));
        if (__builtin_add_overflow(out[a], s[a], &out[a]))
            throw std::invalid_argument(fmt::format("dim {} of the inputs adds up past 2^63", axis));
    }
    return {out, in[0].dtype};
}

void Concat::forward(const Inputs& x, Tensor& y) const {
    const Strides ys = strides_of(y.shape());
    const auto a = static_cast<std::size_t>(axis);
    std::int64_t at = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        strided_copy(x[i], 0, strides_of(x[i].shape()), y, at * ys[a], ys, x[i].shape());
        at += x[i].shape()[a];
    }
}

void Concat::reference(const Inputs& x, Tensor& y) const {
    const auto a = static_cast<std::size_t>(axis);
    naive_each(y, [&](const naive::Index& o) {
        naive::Index i = o;
        std::size_t k = 0;
        while (i[a] >= x[k].shape()[a]) i[a] -= x[k++].shape()[a];
        return naive::get(x[k], naive::ravel(i, x[k].shape()));
    });
}

// dx_i = dy's part along the axis.
Grads Concat::gradient(const GradContext& c) const {
    Grads out;
    const auto a = static_cast<std::size_t>(axis);
    std::int64_t at = 0;
    for (std::size_t i = 0; i < c.x.size(); ++i) {
        const Shape s = c.x[i].shape();
        if (c.wanted[i]) {
            Slice part{std::vector<std::int64_t>(s.rank(), 0), std::vector<std::int64_t>(s.rank(), -1),
                       std::vector<std::int64_t>(s.rank(), 1)};
            part.begin[a] = at;
            part.size[a] = s[a];
            out.push_back(make_listed(part, {c.dy}, SourceLocation::current()));
        } else out.push_back(std::nullopt);
        at += s[a];
    }
    return out;
}

// ---- gather: V = rows of params, L = values per row, I = number of indices

namespace {
// Calls f(ids) with the indices' data (any dtype: i32, or whole numbers in u8, f32, f64,
// as Keras feeds token ids) once every one is checked to be a whole number in [0, V);
// the error names the first that is not. ids[i] converts exactly to a row number.
template <class F> void with_indices(const Tensor& indices, std::int64_t V, F&& f) {
    visit_dtype(indices.dtype(), [&](auto tag) {
        using I = decltype(tag);
        const auto ids = indices.data<I>();
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const auto v = static_cast<double>(ids[i]);
            if (!(v >= 0 && v < static_cast<double>(V) && v == std::floor(v)))
                throw Error(fmt::format("index {} (at {} of the indices) is not a row of [0, {})", ids[i], i, V));
        }
        f(ids);
    });
}
}  // namespace

TypedShape Gather::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    const Shape& p = in[0].shape;
    if (p.rank() == 0 || p.has_batch())
        throw std::invalid_argument(fmt::format("the params are {}; they must be (rows, ...) with no batch dim", p));
    Shape out = in[1].shape;
    for (std::size_t d = 1; d < p.rank(); ++d) out.push_back(p[d]);
    if (out.rank() > Shape::max_rank)
        throw std::invalid_argument(
            fmt::format("indices {} of rows of {} have more than {} dims", in[1].shape, p, Shape::max_rank));
    return {out, in[0].dtype};
}

void Gather::forward(const Inputs& x, Tensor& y) const {
    const std::int64_t V = x[0].shape()[0], L = V ? x[0].numel() / V : 0;
    const std::size_t row = static_cast<std::size_t>(L) * dtype_size(y.dtype());
    const auto* p = static_cast<const std::byte*>(x[0].raw());
    auto* out = static_cast<std::byte*>(y.raw());
    with_indices(x[1], V, [&](auto idx) {
        parallel_chunks(static_cast<std::int64_t>(idx.size()),
                        std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(L, 1)),
                        [&](std::int64_t s, std::int64_t e) {
                            for (std::int64_t i = s; i < e; ++i)
                                std::memcpy(out + static_cast<std::size_t>(i) * row,
                                            p + static_cast<std::size_t>(idx[static_cast<std::size_t>(i)]) * row, row);
                        });
    });
}

void Gather::reference(const Inputs& x, Tensor& y) const {
    const std::int64_t V = x[0].shape()[0], L = V ? x[0].numel() / V : 0;
    with_indices(x[1], V, [](auto) {});
    for (std::int64_t i = 0; i < y.numel(); ++i)
        naive::set(y, i, naive::get(x[0], static_cast<std::int64_t>(naive::get(x[1], i / L)) * L + i % L));
}

// dparams = the dy rows added back by index; the indices have none.
Grads Gather::gradient(const GradContext& c) const {
    return grads(
        c, [&] { return gather_grad(c.x[1], c.dy, c.x[0].shape()[0]); }, no_gradient);
}

std::string GatherGrad::attrs() const { return fmt::format("rows={}", rows); }
GatherGrad GatherGrad::from_attrs(const Attrs& a) {
    a.only({"rows"});
    return {a.integer("rows")};
}

TypedShape GatherGrad::infer(std::span<const TypedShape> in, std::int64_t) const {
    expect_inputs(in, 2);
    expect_floating(in[1], "dy");
    if (rows < 0 || rows > (std::int64_t{1} << 40))
        throw std::invalid_argument(fmt::format("rows={} is not from 0 to 2^40", rows));
    const Shape &i = in[0].shape, &dy = in[1].shape;
    bool fits = dy.rank() >= i.rank();
    for (std::size_t d = 0; fits && d < i.rank(); ++d) fits = dy[d] == i[d];
    if (!fits) throw std::invalid_argument(fmt::format("dy is {}; it must start with the indices' shape {}", dy, i));
    Shape out{rows};
    for (std::size_t d = i.rank(); d < dy.rank(); ++d) out.push_back(dy[d]);
    return {out, in[1].dtype};
}

// Columns in parallel, indices in order within each: every sum has one order.
void GatherGrad::forward(const Inputs& x, Tensor& y) const {
    visit_floating(y.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        const T* dy = x[1].data<T>().data();
        T* out = y.data<T>().data();
        const std::int64_t L = rows ? y.numel() / rows : 0;
        std::fill(out, out + y.numel(), T(0));
        with_indices(x[0], rows, [&](auto idx) {
            parallel_chunks(L, 256, [&](std::int64_t c0, std::int64_t c1) {
                for (std::size_t i = 0; i < idx.size(); ++i) {
                    T* to = out + static_cast<std::int64_t>(idx[i]) * L;
                    const T* from = dy + static_cast<std::int64_t>(i) * L;
                    for (std::int64_t c = c0; c < c1; ++c) to[c] += from[c];
                }
            });
        });
    });
}

void GatherGrad::reference(const Inputs& x, Tensor& y) const {
    with_indices(x[0], rows, [](auto) {});
    const std::int64_t L = rows ? y.numel() / rows : 0;
    if (L == 0) return;
    std::vector<long double> acc(static_cast<std::size_t>(y.numel()), 0);
    for (std::int64_t i = 0; i < x[1].numel(); ++i)
        acc[static_cast<std::size_t>(static_cast<std::int64_t>(naive::get(x[0], i / L)) * L + i % L)] +=
            naive::get(x[1], i);
    for (std::int64_t i = 0; i < y.numel(); ++i) naive::set(y, i, acc[static_cast<std::size_t>(i)]);
}

// Linear in dy: d(dy) = gather(g, indices).
Grads GatherGrad::gradient(const GradContext& c) const {
    return grads(c, no_gradient, [&] { return gather(c.dy, c.x[0]); });
}

}  // namespace adjoint::ops

namespace adjoint {

Expr transpose(const Expr& x, std::vector<int> perm, SourceLocation loc) {
    if (x.valid())
        for (int& p : perm)
            if (p < 0) p += static_cast<int>(x.shape().rank());
    return ops::make_listed(ops::Permute{std::move(perm)}, {x}, loc);
}

Expr slice(const Expr& x, std::vector<std::int64_t> begin, std::vector<std::int64_t> end,
           std::vector<std::int64_t> steps, SourceLocation loc) {
    if (!x.valid())
        throw Error(fmt::format("slice ({}): the input is an empty Expr (default-constructed)", where(loc)));
    const Shape s = x.shape();
    if (steps.empty()) steps.assign(begin.size(), 1);
    if (begin.size() != end.size() || begin.size() != steps.size() || begin.size() > s.rank())
        throw Error(
            fmt::format("slice \"{}\" {}: begin ({} values), end ({}) and steps ({}) must have one value per "
                        "dim sliced, at most {} ({})",
                        x.name(), s, begin.size(), end.size(), steps.size(), s.rank(), where(loc)));
    ops::Slice op;
    for (std::size_t d = 0; d < s.rank(); ++d) {
        if (d >= begin.size() || (s[d] == batch && begin[d] == 0 && end[d] == INT64_MAX && steps[d] == 1)) {
            op.begin.push_back(0);
            op.size.push_back(-1);
            op.step.push_back(1);
            continue;
        }
        if (s[d] == batch)
            throw Error(
                fmt::format("slice \"{}\" {}: dim {} is the batch dim; it is taken whole (begin 0, end "
                            "INT64_MAX, step 1) ({})",
                            x.name(), s, d, where(loc)));
        if (steps[d] < 1)
            throw Error(fmt::format("slice \"{}\" {}: dim {}: step {} is not positive ({})", x.name(), s, d, steps[d],
                                    where(loc)));
        // numpy: negative positions count from the end; then both are clipped to [0, dim].
        auto clip = [&](std::int64_t v) {
            if (v < 0) v = v < -s[d] ? 0 : v + s[d];
            return std::min(v, s[d]);
        };
        const std::int64_t b = clip(begin[d]), e = clip(end[d]);
        op.begin.push_back(b);
        op.size.push_back(std::max<std::int64_t>(0, e - b));
        op.step.push_back(steps[d]);
    }
    return ops::make_listed(std::move(op), {x}, loc);
}

Expr pad(const Expr& x, std::vector<std::pair<std::int64_t, std::int64_t>> paddings, double value, SourceLocation loc) {
    if (!x.valid()) throw Error(fmt::format("pad ({}): the input is an empty Expr (default-constructed)", where(loc)));
    const std::size_t r = x.shape().rank();
    if (paddings.size() > r)
        throw Error(fmt::format("pad \"{}\" {}: {} paddings for {} dims ({})", x.name(), x.shape(), paddings.size(), r,
                                where(loc)));
    ops::Pad op{std::vector<std::int64_t>(r, 0), std::vector<std::int64_t>(r, 0), value};
    for (std::size_t d = 0; d < paddings.size(); ++d) {
        op.before[d] = paddings[d].first;
        op.after[d] = paddings[d].second;
    }
    return ops::make_listed(std::move(op), {x}, loc);
}

Expr concat(const std::vector<Expr>& xs, int axis, SourceLocation loc) {
    if (!xs.empty() && xs[0].valid() && axis < 0) axis += static_cast<int>(xs[0].shape().rank());
    return ops::make_listed(ops::Concat{axis}, std::span<const Expr>(xs), loc);
}

Expr expand_dims(const Expr& x, int axis, SourceLocation loc) {
    if (!x.valid())
        throw Error(fmt::format("expand_dims ({}): the input is an empty Expr (default-constructed)", where(loc)));
    const Shape s = x.shape();
    const int r = static_cast<int>(s.rank());
    const int a = axis < 0 ? axis + r + 1 : axis;
    if (a < 0 || a > r || s.rank() >= Shape::max_rank)
        throw Error(fmt::format("expand_dims \"{}\" {}: axis {} is not from {} to {} ({})", x.name(), s, axis, -r - 1,
                                r, where(loc)));
    Shape out;
    for (int d = 0; d <= r; ++d) {
        if (d == a) out.push_back(1);
        if (d < r) out.push_back(s[static_cast<std::size_t>(d)]);
    }
    return reshape(x, out, loc);
}

Expr squeeze(const Expr& x, const std::vector<int>& axes, SourceLocation loc) {
    if (!x.valid())
        throw Error(fmt::format("squeeze ({}): the input is an empty Expr (default-constructed)", where(loc)));
    const Shape s = x.shape();
    const int r = static_cast<int>(s.rank());
    std::vector<bool> drop(s.rank(), axes.empty());
    if (axes.empty())
        for (std::size_t d = 0; d < s.rank(); ++d) drop[d] = s[d] == 1;
    for (int axis : axes) {
        const int a = axis < 0 ? axis + r : axis;
        if (a < 0 || a >= r || s[static_cast<std::size_t>(a)] != 1)
            throw Error(
                fmt::format("squeeze \"{}\" {}: axis {} is not a dim of 1 ({})", x.name(), s, axis, where(loc)));
        drop[static_cast<std::size_t>(a)] = true;
    }
    Shape out;
    for (std::size_t d = 0; d < s.rank(); ++d)
        if (!drop[d]) out.push_back(s[d]);
    return reshape(x, out, loc);
}

Expr gather(const Expr& params, const Expr& indices, SourceLocation loc) {
    return ops::make_listed(ops::Gather{}, {params, indices}, loc);
}

Expr slice_grad(const Expr& dy, const ops::Slice& slice, const Shape& input, SourceLocation loc) {
    return ops::make_listed(ops::SliceGrad{slice, input}, {dy}, loc);
}

Expr gather_grad(const Expr& indices, const Expr& dy, std::int64_t rows, SourceLocation loc) {
    return ops::make_listed(ops::GatherGrad{rows}, {indices, dy}, loc);
}

}  // namespace adjoint

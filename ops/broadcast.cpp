#include "broadcast.hpp"

namespace adjoint::ops {

namespace {

// Row-major strides of `s` aligned to the right of an output of rank `rank`, with 0
// where `s` has a 1 (or no dim) against a larger output dim.
void strides_for(const Shape& s, const BroadcastIndex& ix, std::array<std::int64_t, Shape::max_rank>& out) {
    std::int64_t stride = 1;
    for (std::size_t k = 0; k < ix.rank; ++k) {
        const std::size_t i = ix.rank - 1 - k;  // output dim, from the right
        if (k < s.rank()) {
            const std::int64_t d = s[s.rank() - 1 - k];
            out[i] = (d == 1 && ix.dims[i] != 1) ? 0 : stride;
            stride *= d;
        } else {
            out[i] = 0;
        }
    }
}

}  // namespace

BroadcastIndex::BroadcastIndex(const Shape& out, const Shape& sa, const Shape& sb) : rank(out.rank()) {
    for (std::size_t i = 0; i < rank; ++i) dims[i] = out[i];
    strides_for(sa, *this, a);
    strides_for(sb, *this, b);
}

std::int64_t BroadcastIndex::rows() const {
    std::int64_t r = 1;
    for (std::size_t i = 0; i + 1 < rank; ++i) r *= dims[i];
    return r;
}

void BroadcastIndex::row_offsets(std::int64_t r, std::int64_t& oa, std::int64_t& ob) const {
    oa = ob = 0;
    for (std::size_t k = 1; k < rank; ++k) {  // peel output dims from the right, skipping the inner one
        const std::size_t i = rank - 1 - k;
        const std::int64_t idx = r % dims[i];
        r /= dims[i];
        oa += idx * a[i];
        ob += idx * b[i];
    }
}

}  // namespace adjoint::ops

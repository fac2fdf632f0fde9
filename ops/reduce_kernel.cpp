// The folding of reduced axes into (outer, R, inner), for the reduction kernels.
#include "reduce_kernel.hpp"

namespace adjoint::ops {

Folded fold(const Shape& s, const std::array<bool, Shape::max_rank>& mask) {
    // Segments of dims that are all kept or all reduced, ignoring dims of size 1.
    struct Segment {
        bool reduced;
        std::int64_t size;
    };
    std::array<Segment, Shape::max_rank> seg{};
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.rank(); ++i) {
        if (s[i] == 1) continue;
        if (n > 0 && seg[n - 1].reduced == mask[i]) seg[n - 1].size *= s[i];
        else seg[n++] = {mask[i], s[i]};
    }
    Folded f;
    std::size_t reduced_segments = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (seg[i].reduced) {
            ++reduced_segments;
            f.r = seg[i].size;
        } else if (reduced_segments == 0) {
            f.outer *= seg[i].size;
        } else {
            f.inner *= seg[i].size;
        }
    }
    f.contiguous = reduced_segments <= 1;
    return f;
}

}  // namespace adjoint::ops

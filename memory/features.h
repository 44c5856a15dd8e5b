// memory/features.h: the ATLAS feature map phi (MODEL.md "atlas mixer", ALGORITHMS.md 6.5).
//
//   degree 1:  phi(u) = u                                  d_phi = head_dim
//   degree 2:  phi(u) = [u ; flatten(u u^T) / sqrt(2)]     d_phi = head_dim + head_dim^2
// (flatten is row-major). Keys and queries are l2-normalised before phi, so the degree-2 block
// stays bounded. Pure functions, thread-safe.
#pragma once

#include <cstdint>

namespace ringmaster::memory {

// head_dim for degree 1, head_dim + head_dim^2 for degree 2.
int64_t feature_dim(int64_t head_dim, int degree);

// out[n, feature_dim] = phi(u_i) for rows u [n, head_dim] with row stride ld_u.
// REQUIRES: degree is 1 or 2.
void features(const float* u, int64_t n, int64_t ld_u, int64_t head_dim, int degree, float* out);

}  // namespace ringmaster::memory

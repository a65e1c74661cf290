/* Internal to conv_winograd_filter.c: its two transforms of the kernel's
 * gradient on a whole vector of filters, written once for any width, as
 * conv_winograd_vector.h (no include guard; included once for tdl_vector16
 * and once for tdl_vector8 with WINO_VECTOR, WINO_VECTOR_LOAD,
 * WINO_VECTOR_STORE and WINO_VECTOR_NAME set, which it undefines). The
 * operations and their order are the chunk transforms', lane by lane. */

/* transform_gradient_chunk for WINO_VECTOR_LANES filters from f0. */
static inline __attribute__((always_inline)) void WINO_VECTOR_NAME(transform_gradient_vector)(
    float *restrict m, size_t plane, const float *const pixel[4], size_t f0) {
    const WINO_VECTOR zero = {0.0f};
    WINO_VECTOR dy[4], t[4][2];
    for (size_t p = 0; p < 4; ++p) {
        dy[p] = zero;
        if (pixel[p] != NULL) WINO_VECTOR_LOAD(dy[p], pixel[p] + f0);
    }
    for (size_t q = 0; q < 2; ++q) {
        t[0][q] = dy[q];
        t[1][q] = dy[q] + dy[2 + q];
        t[2][q] = dy[q] - dy[2 + q];
        t[3][q] = -dy[2 + q];
    }
    for (size_t r = 0; r < 4; ++r) {
        float *out = m + r * 4 * plane + f0;
        const WINO_VECTOR m0 = t[r][0], m1 = t[r][0] + t[r][1], m2 = t[r][0] - t[r][1], m3 = -t[r][1];
        WINO_VECTOR_STORE(out, m0);
        WINO_VECTOR_STORE(out + plane, m1);
        WINO_VECTOR_STORE(out + 2 * plane, m2);
        WINO_VECTOR_STORE(out + 3 * plane, m3);
    }
}

/* transform_taps_chunk for WINO_VECTOR_LANES filters. */
static inline __attribute__((always_inline)) void WINO_VECTOR_NAME(transform_taps_vector)(
    float *restrict out, size_t tap_stride, const float *restrict du, size_t plane) {
    WINO_VECTOR s[WINO_POSITIONS], t[3][4];
    for (size_t e = 0; e < WINO_POSITIONS; ++e) WINO_VECTOR_LOAD(s[e], du + e * plane);
    for (size_t col = 0; col < 4; ++col) {
        const WINO_VECTOR s0 = s[col], s1 = s[4 + col], s2 = s[8 + col], s3 = s[12 + col];
        t[0][col] = s0 + 0.5f * (s1 + s2);
        t[1][col] = 0.5f * (s1 - s2);
        t[2][col] = 0.5f * (s1 + s2) + s3;
    }
    for (size_t row = 0; row < 3; ++row) {
        float *taps = out + row * 3 * tap_stride;
        const WINO_VECTOR g0 = t[row][0] + 0.5f * (t[row][1] + t[row][2]), g1 = 0.5f * (t[row][1] - t[row][2]),
                           g2 = 0.5f * (t[row][1] + t[row][2]) + t[row][3];
        WINO_VECTOR have;
        WINO_VECTOR_LOAD(have, taps);
        have += g0;
        WINO_VECTOR_STORE(taps, have);
        WINO_VECTOR_LOAD(have, taps + tap_stride);
        have += g1;
        WINO_VECTOR_STORE(taps + tap_stride, have);
        WINO_VECTOR_LOAD(have, taps + 2 * tap_stride);
        have += g2;
        WINO_VECTOR_STORE(taps + 2 * tap_stride, have);
    }
}

#undef WINO_VECTOR
#undef WINO_VECTOR_LOAD
#undef WINO_VECTOR_STORE
#undef WINO_VECTOR_NAME

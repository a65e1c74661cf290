/* Internal to libtdlrt: the input and output transforms of Winograd's
 * F(2x2, 3x3) on a whole vector of channels, written once for any width.
 * No include guard: conv_winograd_patch.h includes it once for tdl_vector16
 * (names ending in 16) and once for tdl_vector8 (ending in 8), each time
 * with these set, which it undefines:
 *
 *   WINO_VECTOR         the vector type, WINO_VECTOR_LANES floats
 *   WINO_VECTOR_MASK    its lanes' comparison type
 *   WINO_VECTOR_NAME(n) n followed by the width
 *
 * The operations and their order are those of the scalar chunk transforms
 * (conv_winograd_patch.h, conv_winograd.c), lane by lane, and so are the
 * bits, whatever the width (ISO C: no contraction into FMAs). */

/* transform_patch_chunk for WINO_VECTOR_LANES channels from c0. */
static inline __attribute__((always_inline)) void WINO_VECTOR_NAME(transform_patch_vector)(
    float *restrict v, size_t plane, const float *restrict x, const size_t patch[WINO_POSITIONS], size_t c0) {
    WINO_VECTOR d[WINO_POSITIONS], t[4][4];
    for (size_t e = 0; e < WINO_POSITIONS; ++e) memcpy(&d[e], x + patch[e] + c0, sizeof d[e]);
    for (size_t col = 0; col < 4; ++col) {
        t[0][col] = d[col] - d[8 + col];
        t[1][col] = d[4 + col] + d[8 + col];
        t[2][col] = d[8 + col] - d[4 + col];
        t[3][col] = d[4 + col] - d[12 + col];
    }
    for (size_t row = 0; row < 4; ++row) {
        float *out = v + row * 4 * plane + c0;
        const WINO_VECTOR v0 = t[row][0] - t[row][2], v1 = t[row][1] + t[row][2], v2 = t[row][2] - t[row][1],
                          v3 = t[row][1] - t[row][3];
        memcpy(out, &v0, sizeof v0);
        memcpy(out + plane, &v1, sizeof v1);
        memcpy(out + 2 * plane, &v2, sizeof v2);
        memcpy(out + 3 * plane, &v3, sizeof v3);
    }
}

/* The tile's 2x2 outputs for filters [f0, f0 + WINO_VECTOR_LANES): Y = A^T M A
 * + bias with A^T = [1 1 1 0; 0 1 -1 -1], then relu if asked. m: where
 * position 0 of the tile's M holds filter f0, positions `plane` floats
 * apart; out[p] where output pixel p (row-major in the tile) starts. */
static inline __attribute__((always_inline)) void WINO_VECTOR_NAME(transform_output_vector)(
    float *restrict y, const size_t out[4], const float *restrict m, size_t plane, const float *restrict bias,
    bool relu, size_t f0) {
    WINO_VECTOR s[WINO_POSITIONS], t[2][4], b = {0.0f};
    for (size_t e = 0; e < WINO_POSITIONS; ++e) memcpy(&s[e], m + e * plane, sizeof s[e]);
    if (bias != NULL) memcpy(&b, bias + f0, sizeof b);
    for (size_t col = 0; col < 4; ++col) {
        t[0][col] = s[col] + s[4 + col] + s[8 + col];
        t[1][col] = s[4 + col] - s[8 + col] - s[12 + col];
    }
    const WINO_VECTOR zero = {0.0f};
    for (size_t row = 0; row < 2; ++row) {
        WINO_VECTOR r[2] = {t[row][0] + t[row][1] + t[row][2] + b, t[row][1] - t[row][2] - t[row][3] + b};
        for (size_t p = 0; p < 2; ++p) {
            /* r > 0 ? r : 0 lane by lane (NaN and -0 become +0, as in the scalar transform). */
            if (relu) r[p] = (WINO_VECTOR)((WINO_VECTOR_MASK)r[p] & (r[p] > zero));
            memcpy(y + out[2 * row + p] + f0, &r[p], sizeof r[p]);
        }
    }
}

#undef WINO_VECTOR
#undef WINO_VECTOR_MASK
#undef WINO_VECTOR_NAME

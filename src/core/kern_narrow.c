/* k_narrow: the thin products of a sequential MADE step, a few units (a
 * degree's hidden units, an output block) for a tile of rows, with the
 * bias and the activation in the same pass. Each result is a dot product
 * of a row of src with a row of w, both read where they lie: the BLAS
 * would first copy (pack) the whole tile of src for a product of a few
 * columns, which costs more than the product. Vector versions for AVX-512
 * and AVX2 with FMA are chosen at run time; any other machine, and the
 * double build of the gradient tests, take the plain loop. */
#include "core/kern_narrow.h"

#include "core/kern.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(NF_REAL_DOUBLE)
#include <immintrin.h>
#define NF_NARROW_X86 1
#endif

/* dst = act(bias + sum), the bias and the activation optional */
static inline real finish(real sum, const real *bias, int u, int act)
{
    real v = bias ? bias[u] + sum : sum;
    if (act == K_ACT_RELU)
        return v > 0 ? v : 0;
    if (act == K_ACT_TANH)
        return r_tanh(v);
    return v;
}

static void narrow_plain(int rows, int units, int width, const real *src, int lds, const real *w, int ldw,
                         const real *bias, int act, real *dst, int ldd)
{
    for (int r = 0; r < rows; r++)
        for (int u = 0; u < units; u++) {
            const real *s = src + (size_t)r * lds, *wu = w + (size_t)u * ldw;
            real acc = 0;
            for (int i = 0; i < width; i++)
                acc += s[i] * wu[i];
            dst[(size_t)r * ldd + u] = finish(acc, bias, u, act);
        }
}

#ifdef NF_NARROW_X86
/* One vector of i for a block: R rows and U weight rows loaded (by LOAD,
 * full or masked), R x U FMAs into the accumulators. */
#define NARROW_STEP(VEC, LOAD, FMA)                                                                         \
    do {                                                                                                    \
        VEC x[4];                                                                                           \
        _Pragma("GCC unroll 4") for (int a = 0; a < R; a++) x[a] = LOAD(src + (size_t)a * lds + i);         \
        _Pragma("GCC unroll 4") for (int b = 0; b < U; b++) {                                               \
            VEC y = LOAD(w + (size_t)b * ldw + i);                                                          \
            __asm__("" : "+v"(y)); /* one load for the R FMAs (AVX2 would fold it into each) */             \
            _Pragma("GCC unroll 4") for (int a = 0; a < R; a++) acc[a][b] = FMA(x[a], y, acc[a][b]);        \
        }                                                                                                   \
    } while (0)

/* One block of R rows by U units (R, U <= 4, constants after inlining):
 * R x U accumulators over i in vectors of V lanes, FMAs, the last partial
 * vector by masked loads, then one horizontal sum per accumulator. The two
 * instruction sets differ in their types only: the body is one macro. */
#define NARROW_BLOCK_BODY(VEC, ZERO, LOAD, MASKLOAD, FMA, HSUM, V, TREE)                                     \
    VEC acc[4][4];                                                                                          \
    _Pragma("GCC unroll 4") for (int a = 0; a < R; a++)                                                     \
        _Pragma("GCC unroll 4") for (int b = 0; b < U; b++) acc[a][b] = ZERO;                               \
    int i = 0;                                                                                              \
    for (; i + V <= width; i += V)                                                                          \
        NARROW_STEP(VEC, LOAD, FMA);                                                                        \
    if (i < width)                                                                                          \
        NARROW_STEP(VEC, MASKLOAD, FMA);                                                                    \
    if (!(TREE))                                                                                            \
        _Pragma("GCC unroll 4") for (int a = 0; a < R; a++)                                                 \
            _Pragma("GCC unroll 4") for (int b = 0; b < U; b++)                                             \
                dst[(size_t)a * ldd + b] = finish(HSUM(acc[a][b]), bias, b, act)

/* Units in blocks of up to 4, rows in blocks of TALL (an expression of
 * the block's units nu: 3 or 4), the rows left over one at a time. */
#define NARROW_DRIVER(BLOCK, TALL)                                                                          \
    for (int u = 0; u < units;) {                                                                           \
        int nu = units - u < 4 ? units - u : 4, tall = (TALL);                                              \
        const float *wu = w + (size_t)u * ldw, *bu = bias ? bias + u : NULL;                                \
        for (int r = 0; r < rows;) {                                                                        \
            int nr = rows - r >= tall ? tall : 1;                                                           \
            const float *s = src + (size_t)r * lds;                                                         \
            float *d = dst + (size_t)r * ldd + u;                                                           \
            switch (nr * 8 + nu) {                                                                          \
            case 36: BLOCK(4, 4, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 35: BLOCK(4, 3, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 34: BLOCK(4, 2, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 33: BLOCK(4, 1, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 28: BLOCK(3, 4, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 27: BLOCK(3, 3, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 12: BLOCK(1, 4, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 11: BLOCK(1, 3, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            case 10: BLOCK(1, 2, width, tail, s, lds, wu, ldw, bu, act, d, ldd); break;                     \
            default: BLOCK(1, 1, width, tail, s, lds, wu, ldw, bu, act, d, ldd);                            \
            }                                                                                               \
            r += nr;                                                                                        \
        }                                                                                                   \
        u += nu;                                                                                            \
    }

#define AVX512_FN __attribute__((target("avx512f,avx2,fma")))
#define AVX2_FN __attribute__((target("avx2,fma")))

AVX2_FN static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* The lane sums of 16 accumulators at once: a tree of interleaving adds
 * leaves the sum of acc[s / 4][s % 4] in float s of one register (a
 * quarter of the instructions of 16 separate horizontal sums). */
AVX512_FN __attribute__((always_inline)) static inline __m512 reduce16(__m512 acc[4][4])
{
    __m512 t[8], u[4]; /* unrolled: in registers, not the stack */
    _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) { /* sources 2k, 2k+1: each 128-bit lane [a', b', a'', b''] */
        __m512 x = acc[k / 2][2 * (k % 2)], y = acc[k / 2][2 * (k % 2) + 1];
        t[k] = _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y));
    }
    _Pragma("GCC unroll 4") for (int m = 0; m < 4; m++) { /* sources 4m..4m+3 in each 128-bit lane */
        __m512d x = _mm512_castps_pd(t[2 * m]), y = _mm512_castps_pd(t[2 * m + 1]);
        u[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    __m512 w01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xDD));
    __m512 w23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88), _mm512_shuffle_f32x4(u[2], u[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w01, w23, 0x88), _mm512_shuffle_f32x4(w01, w23, 0xDD));
}

/* sums (+ bias, in the pattern of `biases`), activated, into v[16]. */
AVX512_FN __attribute__((always_inline)) static inline void finish16(__m512 sums, const float *bias, __m512 biases,
                                                                      int act, float v[16])
{
    if (bias)
        sums = _mm512_add_ps(sums, biases);
    if (act == K_ACT_RELU)
        sums = _mm512_max_ps(sums, _mm512_setzero_ps());
    _mm512_storeu_ps(v, sums);
    if (act == K_ACT_TANH)
        for (int k = 0; k < 16; k++)
            v[k] = tanhf(v[k]);
}

/* A 4 x 4 block's 16 sums: row a in 128-bit lane a. */
AVX512_FN __attribute__((always_inline)) static inline void finish_4x4(__m512 acc[4][4], const float *bias, int act,
                                                                        float *dst, int ldd)
{
    float v[16];
    finish16(reduce16(acc), bias, bias ? _mm512_broadcast_f32x4(_mm_loadu_ps(bias)) : _mm512_setzero_ps(), act, v);
    _Pragma("GCC unroll 4") for (int a = 0; a < 4; a++)
        _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++)
            dst[(size_t)a * ldd + b] = v[4 * a + b];
}

/* 8 rows by 2 units (an output block of MAF and IAF): 10 loads for 16
 * FMAs (4 x 2 takes 6 for 8), and the 16 sums by one tree. The whole
 * vectors first and the masked tail after, as in NARROW_BLOCK_BODY: with
 * the mask inside the loop GCC kept the accumulators in memory (a store
 * per FMA, 2.5x slower). */
#define STEP_8X2(LOAD)                                                                                       \
    do {                                                                                                    \
        __m512 y0 = LOAD(w + i), y1 = LOAD(w + ldw + i);                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) {                                               \
            __m512 x = LOAD(src + (size_t)r * lds + i);                                                     \
            __asm__("" : "+v"(x)); /* one load for both FMAs, not a memory operand in each */               \
            acc[r / 2][2 * (r % 2)] = _mm512_fmadd_ps(x, y0, acc[r / 2][2 * (r % 2)]);                      \
            acc[r / 2][2 * (r % 2) + 1] = _mm512_fmadd_ps(x, y1, acc[r / 2][2 * (r % 2) + 1]);              \
        }                                                                                                   \
    } while (0)

AVX512_FN static void block16_8x2(int width, __mmask16 tail, const float *src, int lds, const float *w, int ldw,
                                  const float *bias, int act, float *dst, int ldd)
{
    __m512 acc[4][4]; /* row r, unit u: source 2r + u */
    _Pragma("GCC unroll 4") for (int a = 0; a < 4; a++)
        _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++)
            acc[a][b] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= width; i += 16)
        STEP_8X2(_mm512_loadu_ps);
#define MASKLOAD_TAIL(p) _mm512_maskz_loadu_ps(tail, p)
    if (i < width)
        STEP_8X2(MASKLOAD_TAIL);
#undef MASKLOAD_TAIL
    float v[16];
    double pair = 0; /* [b0, b1] repeated: the pattern of the sums */
    if (bias)
        memcpy(&pair, bias, sizeof pair);
    __m512 biases = _mm512_castpd_ps(_mm512_set1_pd(pair));
    finish16(reduce16(acc), bias, biases, act, v);
    _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++)
        _Pragma("GCC unroll 2") for (int u = 0; u < 2; u++)
            dst[(size_t)r * ldd + u] = v[2 * r + u];
}

AVX512_FN __attribute__((always_inline)) static inline void block16(int R, int U, int width, __mmask16 tail,
                                                                     const float *src, int lds, const float *w,
                                                                     int ldw, const float *bias, int act, float *dst,
                                                                     int ldd)
{
#define MASKLOAD16(p) _mm512_maskz_loadu_ps(tail, p)
#define HSUM16(v) _mm512_reduce_add_ps(v)
    NARROW_BLOCK_BODY(__m512, _mm512_setzero_ps(), _mm512_loadu_ps, MASKLOAD16, _mm512_fmadd_ps, HSUM16, 16,
                      R == 4 && U == 4);
#undef HSUM16
#undef MASKLOAD16
    if (R == 4 && U == 4)
        finish_4x4(acc, bias, act, dst, ldd);
}

/* The lane sums of 4 accumulators in one register, [a, b, c, d]: the
 * transposing tree of reduce16 (an eighth of the instructions of 4 hsum8,
 * which dominated the short products of a MADE's first layer). */
AVX2_FN __attribute__((always_inline)) static inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    __m256d x = _mm256_castps_pd(ab), y = _mm256_castps_pd(cd);
    __m256 s = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)), _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* A block of 4 rows by U units: its 4U sums by reduce4, in the order
 * (row, unit), then biased, activated and stored. */
AVX2_FN __attribute__((always_inline)) static inline void finish_4xu(int U, __m256 acc[4][4], const float *bias,
                                                                      int act, float *dst, int ldd)
{
    float v[16];
    __m256 flat[16];
    _Pragma("GCC unroll 4") for (int a = 0; a < 4; a++)
        _Pragma("GCC unroll 4") for (int b = 0; b < U; b++)
            flat[a * U + b] = acc[a][b];
    _Pragma("GCC unroll 4") for (int g = 0; g < U; g++)
        _mm_storeu_ps(v + 4 * g, reduce4(flat[4 * g], flat[4 * g + 1], flat[4 * g + 2], flat[4 * g + 3]));
    _Pragma("GCC unroll 4") for (int a = 0; a < 4; a++)
        _Pragma("GCC unroll 4") for (int b = 0; b < U; b++)
            dst[(size_t)a * ldd + b] = finish(v[a * U + b], bias, b, act);
}

/* A block of R rows by U = 3 or 4 units: a row's sums in one register,
 * biased and rectified there, stored at once when U is 4. */
AVX2_FN __attribute__((always_inline)) static inline void finish_rows(int R, int U, __m256 acc[4][4],
                                                                       const float *bias, int act, float *dst,
                                                                       int ldd)
{
    __m128 b = _mm_setzero_ps();
    if (bias)
        b = U == 4 ? _mm_loadu_ps(bias) : _mm_setr_ps(bias[0], bias[1], bias[2], 0);
    _Pragma("GCC unroll 4") for (int a = 0; a < R; a++) {
        __m128 s = _mm_add_ps(b, reduce4(acc[a][0], acc[a][1], acc[a][2], U == 4 ? acc[a][3] : _mm256_setzero_ps()));
        if (act == K_ACT_RELU)
            s = _mm_max_ps(s, _mm_setzero_ps());
        float *d = dst + (size_t)a * ldd;
        if (U == 4 && act != K_ACT_TANH) {
            _mm_storeu_ps(d, s);
            continue;
        }
        float v[4];
        _mm_storeu_ps(v, s);
        _Pragma("GCC unroll 4") for (int u = 0; u < U; u++)
            d[u] = act == K_ACT_TANH ? r_tanh(v[u]) : v[u];
    }
}

AVX2_FN __attribute__((always_inline)) static inline void block8(int R, int U, int width, __m256i tail,
                                                                  const float *src, int lds, const float *w, int ldw,
                                                                  const float *bias, int act, float *dst, int ldd)
{
#define MASKLOAD8(p) _mm256_maskload_ps(p, tail)
    NARROW_BLOCK_BODY(__m256, _mm256_setzero_ps(), _mm256_loadu_ps, MASKLOAD8, _mm256_fmadd_ps, hsum8, 8, R > 1);
#undef MASKLOAD8
    if (R == 4)
        finish_4xu(U, acc, bias, act, dst, ldd);
    else if (R == 3)
        finish_rows(R, U, acc, bias, act, dst, ldd);
}

AVX512_FN static void narrow_avx512(int rows, int units, int width, const float *src, int lds, const float *w,
                                    int ldw, const float *bias, int act, float *dst, int ldd)
{
    __mmask16 tail = (__mmask16)((1u << (width % 16)) - 1);
    if (units == 2 && rows >= 8) { /* an output block: 8 rows at a time, the rest below */
        int whole = rows / 8 * 8;
        for (int r = 0; r < whole; r += 8)
            block16_8x2(width, tail, src + (size_t)r * lds, lds, w, ldw, bias, act, dst + (size_t)r * ldd, ldd);
        src += (size_t)whole * lds;
        dst += (size_t)whole * ldd;
        rows -= whole;
    }
    NARROW_DRIVER(block16, 4)
}

AVX2_FN static void narrow_avx2(int rows, int units, int width, const float *src, int lds, const float *w, int ldw,
                                const float *bias, int act, float *dst, int ldd)
{
    __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(width % 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    /* 12 accumulators (3 rows by 4 or 3 units, a row's sums stored
     * together) where the units allow, 4 rows by the last 1 or 2 units (an
     * output block): AVX2 has 16 registers. */
    NARROW_DRIVER(block8, nu <= 2 ? 4 : 3)
}
#endif

int k_narrow_isa(void)
{
#ifdef NF_NARROW_X86
    if (__builtin_cpu_supports("avx512f"))
        return 512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 256;
#endif
    return 0;
}

void k_narrow_isa_for_tests(int isa, int rows, int units, int width, const real *src, int lds, const real *w,
                            int ldw, const real *bias, int act, real *dst, int ldd)
{
#ifdef NF_NARROW_X86
    if (isa == 512 && k_narrow_isa() >= 512) {
        narrow_avx512(rows, units, width, src, lds, w, ldw, bias, act, dst, ldd);
        return;
    }
    if (isa == 256 && k_narrow_isa() >= 256) {
        narrow_avx2(rows, units, width, src, lds, w, ldw, bias, act, dst, ldd);
        return;
    }
#endif
    (void)isa;
    narrow_plain(rows, units, width, src, lds, w, ldw, bias, act, dst, ldd);
}

void k_narrow(int rows, int units, int width, const real *src, int lds, const real *w, int ldw, const real *bias,
              int act, real *dst, int ldd)
{
    k_narrow_isa_for_tests(k_narrow_isa(), rows, units, width, src, lds, w, ldw, bias, act, dst, ldd);
}

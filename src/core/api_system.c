/* nf_system_info_get: the CPU's vector features against the kernels the
 * BLAS picked, so that generic kernels on a capable CPU are never silent. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cpus.h"
#include "core/error.h"
#include "core/kern.h"
#include "nflow.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define NF_X86 1
#endif

/* OpenBLAS's x86 kernel families by vector level: 1 SSE, 2 AVX without
 * FMA, 3 AVX2 with FMA, 4 AVX-512 (its corename strings). */
static int kernel_level(const char *core)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen", "Excavator"};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (!strcasecmp(core, avx512[i]))
            return 4;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (!strcasecmp(core, avx2[i]))
            return 3;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
        if (!strcasecmp(core, avx[i]))
            return 2;
    return 1;
}

static void append(char *dst, size_t cap, const char *word)
{
    size_t len = strlen(dst);
    snprintf(dst + len, cap - len, "%s%s", len ? " " : "", word);
}

static void cpu_brand(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
#ifdef NF_X86
    unsigned regs[12], top = __get_cpuid_max(0x80000000u, NULL);
    if (top < 0x80000004u)
        return;
    for (unsigned i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char brand[49];
    memcpy(brand, regs, 48);
    brand[48] = 0;
    const char *b = brand;
    while (*b == ' ')
        b++;
    snprintf(out, cap, "%s", *b ? b : "unknown");
#endif
}

static int cpu_is_amd(void)
{
#ifdef NF_X86
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d))
        return b == 0x68747541u; /* "Auth" of AuthenticAMD */
#endif
    return 0;
}

void nf_system_info_get(nf_system_info *s)
{
    memset(s, 0, sizeof *s);
    cpu_brand(s->cpu, sizeof s->cpu);
    int avx2_fma = 0, avx512 = 0;
    s->cpu_vector_bits = 128;
#ifdef NF_X86
    __builtin_cpu_init(); /* __builtin_cpu_supports also asks whether the OS saves the registers */
#define FEATURE(name, shown) (__builtin_cpu_supports(name) ? (append(s->cpu_features, sizeof s->cpu_features, shown), 1) : 0)
    FEATURE("sse4.2", "sse4_2");
    int avx = FEATURE("avx", "avx"), avx2 = FEATURE("avx2", "avx2"), fma = FEATURE("fma", "fma");
    int f = FEATURE("avx512f", "avx512f"), dq = FEATURE("avx512dq", "avx512dq");
    int bw = FEATURE("avx512bw", "avx512bw"), vl = FEATURE("avx512vl", "avx512vl");
    FEATURE("avx512bf16", "avx512_bf16");
#if !defined(__clang__) || __clang_major__ >= 16 /* older clang (the fuzz build) lacks these names */
    FEATURE("avx512fp16", "avx512_fp16");
    FEATURE("amx-tile", "amx_tile");
#endif
#undef FEATURE
    avx2_fma = avx2 && fma;
    avx512 = avx2_fma && f && dq && bw && vl;
    if (avx || avx2_fma)
        s->cpu_vector_bits = 256;
    if (avx512)
        s->cpu_vector_bits = 512;
#endif
    snprintf(s->blas, sizeof s->blas, "%s", k_blas_config());
    snprintf(s->blas_kernel, sizeof s->blas_kernel, "%s", k_blas_kernel());
    /* OpenBLAS may end the names with spaces */
    for (size_t n = strlen(s->blas); n && s->blas[n - 1] == ' ';)
        s->blas[--n] = 0;
    for (size_t n = strlen(s->blas_kernel); n && s->blas_kernel[n - 1] == ' ';)
        s->blas_kernel[--n] = 0;
    int level = kernel_level(s->blas_kernel);
    s->blas_kernel_bits = level == 4 ? 512 : level >= 2 ? 256 : 128;
    s->blas_kernel_generic = avx2_fma && level < 3;
    if (s->blas_kernel_generic)
        snprintf(s->suggested_coretype, sizeof s->suggested_coretype, "%s",
                 avx512 ? "SkylakeX" : cpu_is_amd() ? "Zen" : "Haswell");
    s->threads = k_threads();
    s->processors = omp_get_num_procs();
}

int nf_threads_usable(char *why, size_t why_size)
{
    char text[256];
    int n = cpus_usable(text, sizeof text);
    if (why && why_size)
        snprintf(why, why_size, "%s", text);
    return n;
}

void nf_set_threads(int n)
{
    if (n > 0)
        k_set_threads(n);
    else
        k_default_threads();
}

int nf_get_threads(void) { return k_threads(); }

int nf_set_threads_usable(int n, char *warning, size_t warning_size)
{
    char why[256];
    const char *over = getenv("NFLOW_OVERSUBSCRIBE");
    int usable = nf_threads_usable(why, sizeof why), keep = over && !strcmp(over, "1");
    nf_set_threads(n > usable && !keep ? usable : n);
    if (warning && warning_size)
        warning[0] = '\0';
    if (warning && warning_size && n > usable)
        snprintf(warning, warning_size, "this process may use %d (%s); using %d", usable, why, k_threads());
    return k_threads();
}

nf_status nf_limit_get(nf_limit which, const char **name, double *min, double *max)
{
    static const struct {
        const char *name;
        double min, max;
    } limits[NF_LIMIT_COUNT] = {
        [NF_LIMIT_DIM] = {"dim", 1, NF_MAX_DIM},
        [NF_LIMIT_CONTEXT] = {"context", 0, NF_MAX_CONTEXT},
        [NF_LIMIT_LAYERS] = {"layers", 1, NF_MAX_LAYERS},
        [NF_LIMIT_HIDDEN] = {"hidden", 1, NF_MAX_HIDDEN},
        [NF_LIMIT_HIDDEN_LAYERS] = {"hidden_layers", 0, NF_MAX_HIDDEN_LAYERS},
        [NF_LIMIT_BINS] = {"bins", NF_MIN_BINS, NF_MAX_BINS},
        [NF_LIMIT_TAIL_BOUND] = {"tail_bound", 0, NF_MAX_TAIL_BOUND},
        [NF_LIMIT_LOG_SCALE_BOUND] = {"log_scale_bound", 0, NF_MAX_LOG_SCALE_BOUND},
        [NF_LIMIT_COMPONENTS] = {"components", 1, NF_MAX_COMPONENTS},
        [NF_LIMIT_BATCH] = {"batch", 1, NF_MAX_BATCH},
        [NF_LIMIT_THREADS] = {"threads", 1, NF_MAX_THREADS},
    };
    if ((unsigned)which >= NF_LIMIT_COUNT)
        return nf_fail(NF_ERR_INVALID, "limit %d out of range 0..%d", (int)which, NF_LIMIT_COUNT - 1);
    if (name)
        *name = limits[which].name;
    if (min)
        *min = limits[which].min;
    if (max)
        *max = limits[which].max;
    return NF_OK;
}

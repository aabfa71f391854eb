/* nf_system_info_get: the report that keeps generic BLAS kernels on a
 * capable CPU from going unnoticed, and the thread count it reads. */
#include <string.h>

#include "harness.h"
#include "nflow.h"

static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return 1;
    return 0;
}

static void test_report_is_consistent(void)
{
    nf_system_info s;
    nf_set_threads(3);
    nf_system_info_get(&s);
    CHECK(s.threads == 3, "threads %d", s.threads);
    CHECK(s.processors >= 1);
    CHECK(s.cpu[0] && s.blas[0] && s.blas_kernel[0], "cpu '%s' blas '%s' kernel '%s'", s.cpu, s.blas, s.blas_kernel);
    CHECK(s.blas_kernel_bits == 128 || s.blas_kernel_bits == 256 || s.blas_kernel_bits == 512);
    CHECK(s.cpu_vector_bits == 128 || s.cpu_vector_bits == 256 || s.cpu_vector_bits == 512);
    int avx2 = has_word(s.cpu_features, "avx2") && has_word(s.cpu_features, "fma");
    CHECK(!avx2 || s.cpu_vector_bits >= 256, "features '%s' but %d bits", s.cpu_features, s.cpu_vector_bits);
    /* generic only on an AVX2 CPU, and always when its kernels are narrower */
    CHECK(!s.blas_kernel_generic || avx2, "generic on '%s'", s.cpu_features);
    CHECK(!(avx2 && s.blas_kernel_bits < 256) || s.blas_kernel_generic, "%s kernels on '%s' not called generic",
          s.blas_kernel, s.cpu_features);
    CHECK(!s.blas_kernel_generic || s.suggested_coretype[0]);
    CHECK(s.blas_kernel_generic || !s.suggested_coretype[0]);
    nf_set_threads(1);
}

int main(void)
{
    RUN(test_report_is_consistent);
    TEST_SUMMARY("test_system");
}

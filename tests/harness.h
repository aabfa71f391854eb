/* The test harness: CHECK records a failure with file:line and goes on;
 * each TEST counts as passed when none of its checks failed. main() ends
 * with TEST_SUMMARY(), which prints "<prog>: N passed, M failed" and exits
 * non-zero on any failure (tests/run.sh adds the counts up). */
#ifndef NF_TEST_HARNESS_H
#define NF_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int th_passed, th_failed, th_current_failed;

/* A whole file, malloc'd with a '\0' after its bytes; *n gets their count.
 * NULL when it cannot be read. */
static inline unsigned char *th_slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *b = NULL;
    long size = fp && fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    *n = 0;
    if (size >= 0 && fseek(fp, 0, SEEK_SET) == 0 && (b = malloc((size_t)size + 1)) != NULL) {
        *n = fread(b, 1, (size_t)size, fp);
        b[*n] = '\0';
    }
    if (fp)
        fclose(fp);
    return b;
}
static const char *th_current = "";

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            th_current_failed++;                                                 \
            fprintf(stderr, "FAIL %s:%d: [%s] %s: ", __FILE__, __LINE__, th_current, #cond); \
            fprintf(stderr, " " __VA_ARGS__);                                    \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                            \
    do {                                                                         \
        double th_a = (double)(a), th_b = (double)(b);                           \
        CHECK(fabs(th_a - th_b) <= (atol) + (rtol) * fabs(th_b) && !isnan(th_a), \
              "%s = %.10g, %s = %.10g", #a, th_a, #b, th_b);                     \
    } while (0)

#define RUN(fn)                                                                  \
    do {                                                                         \
        th_current = #fn;                                                        \
        th_current_failed = 0;                                                   \
        fn();                                                                    \
        if (th_current_failed) th_failed++; else th_passed++;                    \
    } while (0)

#define TEST_SUMMARY(prog)                                                       \
    do {                                                                         \
        printf("%s: %d passed, %d failed\n", prog, th_passed, th_failed);        \
        return th_failed ? 1 : 0;                                                \
    } while (0)

#endif

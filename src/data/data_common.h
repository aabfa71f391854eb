/* What the data readers and writers share (src/data/): the checked
 * conversion to float32, the .npy name test, the byte order, quoting for
 * messages. Nothing here is exported. */
#ifndef NF_DATA_COMMON_H
#define NF_DATA_COMMON_H

#include <stddef.h>

/* Conversion of a double to float32: DIO_FLOAT_OK, or why it is refused.
 * Inline: the readers call it for every value. */
enum { DIO_FLOAT_OK = 0, DIO_FLOAT_NAN, DIO_FLOAT_INF, DIO_FLOAT_OVERFLOW };
static inline int dio_to_float(double v, float *out)
{
    if (v != v)
        return DIO_FLOAT_NAN;
    double a = v < 0 ? -v : v;
    /* Halfway between FLT_MAX and 2^128: from here on, rounding to float
     * gives infinity (FLT_MAX has an odd significand, so ties go up). */
    if (a >= 0x1.ffffffp127)
        return a > 0x1.fffffffffffffp1023 ? DIO_FLOAT_INF : DIO_FLOAT_OVERFLOW;
    *out = (float)v;
    return DIO_FLOAT_OK;
}

/* Whether path ends in ".npy" (any case). */
int dio_is_npy(const char *path);
/* Whether this machine stores numbers little-endian. */
int dio_host_little_endian(void);
/* Copies at most size-1 bytes of [s, s+len) into buf for a message,
 * replacing unprintable bytes with '?' and marking a cut with "...". */
const char *dio_quote(char *buf, size_t size, const char *s, size_t len);

#endif

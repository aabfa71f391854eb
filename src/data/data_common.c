/* The small helpers the data readers and writers share. */
#include "data/data_common.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

int dio_is_npy(const char *path)
{
    size_t n = strlen(path);
    if (n < 4)
        return 0;
    const char *e = path + n - 4;
    return e[0] == '.' && tolower((unsigned char)e[1]) == 'n' && tolower((unsigned char)e[2]) == 'p' &&
           tolower((unsigned char)e[3]) == 'y';
}

int dio_host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

const char *dio_quote(char *buf, size_t size, const char *s, size_t len)
{
    if (size == 0)
        return buf;
    size_t keep = len;
    int cut = 0;
    if (keep > size - 1) {
        keep = size >= 4 ? size - 4 : 0;
        cut = 1;
    }
    size_t i;
    for (i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut && size >= 4) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

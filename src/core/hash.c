#include "core/hash.h"

#include <string.h>

/* Eight bytes at a time, a multiply-xorshift mix. */
uint64_t hash_bytes(uint64_t h, const void *p, size_t bytes)
{
    const unsigned char *b = p;
    size_t i = 0;
    if (!p)
        bytes = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    for (; i < bytes; i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h ^ (h >> 32);
}

uint64_t hash_size(uint64_t h, size_t v) { return (h ^ (uint64_t)v) * 0xC2B2AE3D27D4EB4Full; }

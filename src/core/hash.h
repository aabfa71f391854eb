/* A fast 64-bit hash of bytes: it tells data sets and parameter
 * vectors apart (the processes' data in distributed training, what a kept
 * validation pass was computed from); it does not resist an adversary. */
#ifndef NF_HASH_H
#define NF_HASH_H

#include <stddef.h>
#include <stdint.h>

/* h mixed with the bytes at p (a NULL p: none). */
uint64_t hash_bytes(uint64_t h, const void *p, size_t bytes);
/* h mixed with a count. */
uint64_t hash_size(uint64_t h, size_t v);

#endif

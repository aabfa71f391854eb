/* The public options structs that grow carry their size (struct_size, the
 * first member, set by their _default call from the caller's sizeof): a
 * program built against an older nflow.h passes a smaller struct. The
 * library copies what the caller has over a full struct of defaults, and
 * writes back no more than the caller's size. */
#ifndef NF_SIZED_H
#define NF_SIZED_H

#include <stddef.h>

#include "nflow.h"

/* The end of each struct's last field when libnflow.so.1 began: the
 * smallest struct_size a program can have been built with. Fields added
 * later are defaulted for smaller callers; these stay as they are. */
#define SIZED_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define CONFIG_SIZE_1 SIZED_END(nf_config, context_dim)
#define MADE_OPTIONS_SIZE_1 SIZED_END(nf_made_options, bound)
#define READ_OPTIONS_SIZE_1 SIZED_END(nf_read_options, columns)
#define TRAIN_OPTIONS_SIZE_1 SIZED_END(nf_train_options, dropout)
#define KL_OPTIONS_SIZE_1 SIZED_END(nf_kl_options, context_rows)
#define DATA_OPTIONS_SIZE_1 SIZED_END(nf_data_options, context_dim)

/* Copies the caller's struct (its struct_size bytes) over `full`, which
 * holds the defaults, and sets full's struct_size to full_size. Fails with
 * NF_ERR_INVALID naming `what` when the caller's is NULL, smaller than
 * min_size (not set by its _default call) or larger than full_size (built
 * against a newer nflow.h). */
nf_status sized_read(void *full, size_t full_size, size_t min_size, const void *caller, const char *what);

/* Whether a caller's struct_size is one the library can write: at least
 * min_size, at most full_size (a failure names `what`); sized_check reads
 * it from the caller's struct (NULL fails), sized_check_size takes it as
 * given (the _sized calls' struct_size argument). */
nf_status sized_check(const void *caller, size_t full_size, size_t min_size, const char *what);
nf_status sized_check_size(size_t struct_size, size_t full_size, size_t min_size, const char *what);

/* Writes `full` back into the caller's struct of caller_size bytes: no
 * more than that, the rest zero when the caller's is larger, and
 * struct_size set to caller_size. A NULL caller gets nothing. */
void sized_write(void *caller, size_t caller_size, const void *full, size_t full_size);

#endif

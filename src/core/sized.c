/* Public structs that carry their size: see sized.h. */
#include "core/sized.h"

#include <string.h>

#include "core/error.h"

static size_t size_of(const void *caller)
{
    size_t size;
    memcpy(&size, caller, sizeof size); /* struct_size, the first member of each */
    return size;
}

nf_status sized_check_size(size_t size, size_t full_size, size_t min_size, const char *what)
{
    if (size < min_size)
        return nf_fail(NF_ERR_INVALID, "%s with struct_size %zu: set it with %s_default first (%zu bytes in this "
                                       "libnflow %s)", what, size, what, full_size, NF_VERSION_STRING);
    if (size > full_size)
        return nf_fail(NF_ERR_INVALID, "%s of %zu bytes: this libnflow %s knows %zu; the program was built against "
                                       "a newer nflow.h", what, size, NF_VERSION_STRING, full_size);
    return NF_OK;
}

nf_status sized_check(const void *caller, size_t full_size, size_t min_size, const char *what)
{
    return caller ? sized_check_size(size_of(caller), full_size, min_size, what)
                  : nf_fail(NF_ERR_INVALID, "NULL %s", what);
}

nf_status sized_read(void *full, size_t full_size, size_t min_size, const void *caller, const char *what)
{
    nf_status st = sized_check(caller, full_size, min_size, what);
    if (st)
        return st;
    memcpy(full, caller, size_of(caller));
    memcpy(full, &full_size, sizeof full_size);
    return NF_OK;
}

void sized_write(void *caller, size_t caller_size, const void *full, size_t full_size)
{
    if (!caller || caller_size < sizeof caller_size)
        return;
    size_t n = caller_size < full_size ? caller_size : full_size;
    memcpy(caller, full, n);
    if (caller_size > n)
        memset((unsigned char *)caller + n, 0, caller_size - n);
    memcpy(caller, &caller_size, sizeof caller_size);
}

/* Fault injection for tests/cli_faults.sh, loaded with LD_PRELOAD: when
 * NFLOW_FAULT names "fsync" or "rename", that call fails with EIO (or for
 * rename EXDEV), as a failing disk or a full one would make it. Write
 * errors come from `ulimit -f` instead: glibc's stdio calls its internal
 * write, which no preload can replace. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int faulty(const char *call)
{
    const char *f = getenv("NFLOW_FAULT");
    return f && strstr(f, call) != NULL;
}

int fsync(int fd)
{
    if (faulty("fsync")) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int rename(const char *from, const char *to)
{
    if (faulty("rename")) {
        errno = EIO;
        return -1;
    }
    int (*real)(const char *, const char *) = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}

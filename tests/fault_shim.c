/* Fault injection for tests/cli_faults.sh, loaded with LD_PRELOAD: the
 * calls that NFLOW_FAULT names ("fsync", "rename", "fwrite") fail with EIO,
 * or with ENOSPC where it also names "enospc" (a full disk). When
 * NFLOW_FAULT_PATH is set, only for files whose path holds it (fsync and
 * fwrite: the descriptor's /proc/self/fd link, which for an unnamed
 * O_TMPFILE file is its folder and "#inode (deleted)"; rename: the
 * target), so that one folder can be a full disk and another not.
 * stdio's buffered writes reach the kernel through glibc's internal write,
 * which no preload can replace: fwrite itself is replaced, and `ulimit -f`
 * (EFBIG) covers the rest. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int path_matches(const char *path)
{
    const char *want = getenv("NFLOW_FAULT_PATH");
    return !want || !*want || (path && strstr(path, want) != NULL);
}

static int fd_matches(int fd)
{
    if (!getenv("NFLOW_FAULT_PATH"))
        return 1;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return path_matches(target);
}

/* Whether `call` fails; errno is then set. */
static int faulty(const char *call, int matches)
{
    const char *f = getenv("NFLOW_FAULT");
    if (!f || strstr(f, call) == NULL || !matches)
        return 0;
    errno = strstr(f, "enospc") ? ENOSPC : EIO;
    return 1;
}

int fsync(int fd)
{
    if (faulty("fsync", fd_matches(fd)))
        return -1;
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int rename(const char *from, const char *to)
{
    if (faulty("rename", path_matches(to)))
        return -1;
    int (*real)(const char *, const char *) = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *fp)
{
    if (size && n && faulty("fwrite", fd_matches(fileno(fp))))
        return 0;
    size_t (*real)(const void *, size_t, size_t, FILE *) =
        (size_t (*)(const void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fwrite");
    return real(buf, size, n, fp);
}

/* realpath(), O_TMPFILE, linkat() */
#define _GNU_SOURCE
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

/* The folder that holds path (malloc'ed; "." for a bare name), or NULL. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
}

static void release(atomic_file *a)
{
    free(a->tmp_path);
    free(a->path);
    a->tmp_path = a->path = NULL;
    a->fp = NULL;
}

/* Removes PATH.tmp.XXXXXX files a killed writer of this very output left
 * (the fallback's named files, or the instant between link and rename). */
static void remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = folder_of(path);
    DIR *d = dir ? opendir(dir) : NULL;
    size_t blen = strlen(base);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, base, blen) == 0 && strncmp(e->d_name + blen, ".tmp.", 5) == 0 &&
            strlen(e->d_name + blen + 5) == 6)
            unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    free(dir);
}

/* A device or a FIFO: written in place. */
static nf_status open_direct(atomic_file *a, const char *path)
{
    int fd = open(path, O_WRONLY | O_NOCTTY);
    if (fd < 0 || !(a->fp = fdopen(fd, "wb"))) {
        nf_status st = nf_fail(NF_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return st;
    }
    if (!(a->path = strdup(path))) {
        fclose(a->fp);
        a->fp = NULL;
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    }
    return NF_OK;
}

nf_status atomic_open(atomic_file *a, const char *given)
{
    memset(a, 0, sizeof *a);
    struct stat lst, st;
    char *resolved = NULL;
    const char *path = given;
    if (lstat(given, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        if (!(resolved = realpath(given, NULL)))
            return nf_fail(NF_ERR_IO, "%s: a symbolic link to nothing that can be written (%s)", given,
                           strerror(errno));
        path = resolved;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        nf_status err = NF_OK;
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
            err = open_direct(a, path);
        else
            err = nf_fail(NF_ERR_IO, "%s: is a %s, not a file", given,
                          S_ISDIR(st.st_mode) ? "folder" : S_ISBLK(st.st_mode) ? "block device" : "special file");
        free(resolved);
        return err;
    }
    remove_stale(path);
    size_t len = strlen(path);
    a->path = malloc(len + 1);
    a->tmp_path = malloc(len + 16);
    if (!a->path || !a->tmp_path) {
        release(a);
        free(resolved);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", given);
    }
    memcpy(a->path, path, len + 1);
    free(resolved);
    path = a->path;
    snprintf(a->tmp_path, len + 16, "%s.tmp.XXXXXX", path);
    int fd = -1;
#ifdef O_TMPFILE
    /* An unnamed file in the target's folder: a killed process leaves
     * nothing behind; it gets a name only at commit (via /proc). */
    if (access("/proc/self/fd", X_OK) == 0) {
        char *dir = folder_of(path);
        if (dir) {
            fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
            free(dir);
        }
        a->anonymous = fd >= 0;
    }
#endif
    if (fd < 0) { /* a named temporary file (no O_TMPFILE here) */
        fd = mkstemp(a->tmp_path);
        if (fd < 0) {
            nf_status st = nf_fail(NF_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            release(a);
            return st;
        }
        /* mkstemp makes 0600; give the file the mode a plain fopen would */
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
    }
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        nf_status st = nf_fail(NF_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        if (!a->anonymous)
            unlink(a->tmp_path);
        release(a);
        return st;
    }
    return NF_OK;
}

/* Links the unnamed file into its folder under a fresh temporary name (the
 * rename then replaces the target atomically, as for a named one). */
static int name_unnamed(atomic_file *a)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(a->fp));
    size_t len = strlen(a->tmp_path);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        /* replace the XXXXXX with the process and a counter */
        snprintf(a->tmp_path + len - 6, 7, "%06x", (unsigned)(getpid() * 31u + attempt * 7919u + (unsigned)time(NULL)) & 0xffffffu);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, a->tmp_path, AT_SYMLINK_FOLLOW) == 0) {
            a->anonymous = 0; /* named now: unlinked on failure like any other */
            return 0;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Makes the rename itself durable: fsync the folder that holds the file. */
static void sync_folder(const char *path)
{
    char *dir = folder_of(path);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

nf_status atomic_commit(atomic_file *a)
{
    if (!a->fp)
        return nf_fail(NF_ERR_INVALID, "atomic_commit without an open file");
    if (!a->tmp_path) { /* a device or a FIFO: no fsync (devices refuse it), no rename */
        int bad = ferror(a->fp) || fflush(a->fp) != 0;
        int saved = errno;
        if (fclose(a->fp) != 0 && !bad) {
            bad = 1;
            saved = errno;
        }
        a->fp = NULL;
        nf_status st = bad ? nf_fail(NF_ERR_IO, "%s: write failed: %s", a->path, strerror(saved)) : NF_OK;
        release(a);
        return st;
    }
    int bad = ferror(a->fp) || fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0;
    int saved = errno;
    if (!bad && a->anonymous && name_unnamed(a) != 0) {
        bad = 1;
        saved = errno;
    }
    /* the rename right after the link: the name lives for microseconds */
    if (!bad && rename(a->tmp_path, a->path) != 0) {
        bad = 1;
        saved = errno;
    }
    int renamed = !bad;
    fclose(a->fp); /* flushed and synced already: nothing left to fail */
    a->fp = NULL;
    if (!renamed) {
        nf_status st = nf_fail(NF_ERR_IO, "%s: write failed: %s", a->path, strerror(saved));
        if (!a->anonymous)
            unlink(a->tmp_path);
        release(a);
        return st;
    }
    sync_folder(a->path);
    release(a);
    return NF_OK;
}

void atomic_abort(atomic_file *a)
{
    if (a->fp) {
        fclose(a->fp);
        if (a->tmp_path && !a->anonymous)
            unlink(a->tmp_path);
    }
    release(a);
}

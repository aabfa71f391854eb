/* The processors this process may use: its affinity mask, one thread per
 * core where the mask holds SMT siblings, and a cgroup CPU quota (v2
 * cpu.max, v1 cfs_quota_us / cfs_period_us), read from /proc and /sys. */
#define _GNU_SOURCE
#include "core/cpus.h"

#include <dirent.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a small file, or "" (0 when unreadable). */
static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = 0;
    return ok;
}

double cpus_quota_v2(const char *cpu_max)
{
    char q[64];
    long long period = 0;
    if (sscanf(cpu_max, "%63s %lld", q, &period) != 2 || period <= 0 || !strcmp(q, "max"))
        return 0;
    char *end;
    double quota = strtod(q, &end);
    return *end || !(quota > 0) ? 0 : quota / (double)period;
}

double cpus_quota_v1(const char *quota_us, const char *period_us)
{
    double q = atof(quota_us), p = atof(period_us);
    return q > 0 && p > 0 ? q / p : 0;
}

/* The cgroup (v2: "0::PATH") of this process from /proc/self/cgroup. */
static int cgroup_v2_path(char *path, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(path, size, "%s", line + 3);
            found = 1;
        }
    fclose(f);
    return found;
}

/* The tightest quota on this process's cgroup and its parents (0: none). */
static double cgroup_quota(const char **which)
{
    double best = 0;
    char rel[1024], file[1200], text[128];
    if (cgroup_v2_path(rel, sizeof rel)) {
        for (;;) { /* from the process's own cgroup up to the root */
            snprintf(file, sizeof file, "/sys/fs/cgroup%s%scpu.max", rel, rel[strlen(rel) - 1] == '/' ? "" : "/");
            double q = read_line(file, text, sizeof text) ? cpus_quota_v2(text) : 0;
            if (q > 0 && (best == 0 || q < best)) {
                best = q;
                *which = "cgroup v2 cpu.max";
            }
            char *slash = strrchr(rel, '/');
            if (!slash || slash == rel) {
                if (strcmp(rel, "/") == 0)
                    break;
                snprintf(rel, sizeof rel, "/");
            } else
                *slash = 0;
        }
    }
    static const char *const v1[] = {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"};
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        char quota[64], period[64];
        snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", v1[i]);
        if (!read_line(file, quota, sizeof quota))
            continue;
        snprintf(file, sizeof file, "%s/cpu.cfs_period_us", v1[i]);
        double q = read_line(file, period, sizeof period) ? cpus_quota_v1(quota, period) : 0;
        if (q > 0 && (best == 0 || q < best)) {
            best = q;
            *which = "cgroup v1 cpu.cfs_quota_us";
        }
        break;
    }
    return best;
}

/* Distinct cores (package, core id) among the mask's processors; the
 * processors themselves where the topology cannot be read. */
static int cores_in(const cpu_set_t *set, int processors)
{
    enum { MAX_CORES = 4096 };
    static long long seen[MAX_CORES];
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, set))
            continue;
        char file[128], core[32], package[32];
        snprintf(file, sizeof file, "/sys/devices/system/cpu/cpu%d/topology/core_id", c);
        if (!read_line(file, core, sizeof core))
            return processors;
        snprintf(file, sizeof file, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", c);
        if (!read_line(file, package, sizeof package))
            return processors;
        long long key = atoll(package) * 1000003LL + atoll(core);
        int known = 0;
        for (int i = 0; i < n && !known; i++)
            known = seen[i] == key;
        if (!known) {
            if (n == MAX_CORES)
                return processors;
            seen[n++] = key;
        }
    }
    return n > 0 ? n : processors;
}

int cpus_usable(char *why, size_t size)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    int processors = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (processors < 1) {
        snprintf(why, size, "the affinity mask is unreadable: 1 thread");
        return 1;
    }
    int cores = cores_in(&set, processors), n = cores;
    int len = snprintf(why, size, "%d processor%s in the affinity mask", processors, processors == 1 ? "" : "s");
    if (cores < processors && len >= 0 && (size_t)len < size)
        len += snprintf(why + len, size - (size_t)len, ", %d cores (one thread per core: SMT siblings share its "
                                                       "vector units)", cores);
    const char *which = NULL;
    double quota = cgroup_quota(&which);
    if (quota > 0) {
        int q = (int)ceil(quota - 1e-9);
        if (q < 1)
            q = 1;
        if (len >= 0 && (size_t)len < size)
            snprintf(why + len, size - (size_t)len, ", a CPU quota of %.3g (%s)", quota, which);
        if (q < n)
            n = q;
    }
    return n;
}

/* Runnable threads of the whole machine (/proc/loadavg's "R/T" field). */
static int running_everywhere(void)
{
    char text[128];
    if (!read_line("/proc/loadavg", text, sizeof text))
        return -1;
    double a, b, c;
    int running, total;
    return sscanf(text, "%lf %lf %lf %d/%d", &a, &b, &c, &running, &total) == 5 ? running : -1;
}

/* Runnable threads of this process (state R in /proc/self/task/N/stat). */
static int running_here(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char file[300], text[512];
        snprintf(file, sizeof file, "/proc/self/task/%s/stat", e->d_name);
        if (!read_line(file, text, sizeof text))
            continue;
        const char *close = strrchr(text, ')'); /* the name may hold spaces and parentheses */
        n += close && close[1] == ' ' && close[2] == 'R';
    }
    closedir(d);
    return n;
}

int cpus_busy_elsewhere(void)
{
    int all = running_everywhere(), mine = running_here();
    if (all < 0 || mine < 0)
        return -1;
    return all > mine ? all - mine : 0;
}

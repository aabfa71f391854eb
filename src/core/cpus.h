/* How many threads this process should run: what its affinity mask, its
 * cores and its cgroup CPU quota allow. */
#ifndef NF_CPUS_H
#define NF_CPUS_H

#include <stddef.h>

/* The usable thread count (>= 1): the affinity mask's processors, one per
 * core when SMT siblings share it, at most the cgroup CPU quota rounded
 * up; `why` gets where it came from (a sentence for nflow info). */
int cpus_usable(char *why, size_t size);
/* Threads of other processes running now (runnable on the whole machine
 * less this process's own); -1 when /proc cannot say. */
int cpus_busy_elsewhere(void);
/* A cgroup v2 cpu.max line ("max 100000", "150000 100000") as processors;
 * 0 for no quota or a line it cannot read. */
double cpus_quota_v2(const char *cpu_max);
/* A v1 cfs_quota_us and cfs_period_us (quota -1: none) the same way. */
double cpus_quota_v1(const char *quota_us, const char *period_us);

#endif

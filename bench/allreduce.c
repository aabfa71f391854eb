/* The time of one MPI_Allreduce (sum, in place) of n floats: the per-step
 * communication of data-parallel training (docs/distributed.md).
 * usage: mpirun -np N build-mpi/bench_allreduce [n floats] [repeats]
 * prints the median and the fastest of the repeats, in milliseconds. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    long n = argc > 1 ? atol(argv[1]) : 1700000;
    int repeats = argc > 2 ? atoi(argv[2]) : 50;
    float *buf = malloc(sizeof(float) * (size_t)n);
    double *t = malloc(sizeof(double) * (size_t)repeats);
    for (long i = 0; i < n; i++)
        buf[i] = 1e-3f * (float)(i % 1000);
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
    for (int k = 0; k < repeats; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[k] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)repeats, sizeof(double), cmp);
    if (rank == 0)
        printf("allreduce of %ld floats (%.1f MB) over %d processes: median %.3f ms, fastest %.3f ms (%d repeats)\n", n,
               n * 4e-6, ranks, 1e3 * t[repeats / 2], 1e3 * t[0], repeats);
    free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}

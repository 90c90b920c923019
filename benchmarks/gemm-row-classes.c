/* Which bits does a row of OpenBLAS's sgemm get, depending on where it sits in the call?
 *
 * One sample is placed at each row of an M-row call C = X·Wᵀ (the other rows random), and
 * its output row compared across positions: rows with the same class number have the same
 * bits. The engine's portable numerics use the Haswell kernels on every CPU.
 *
 *   gcc -O2 benchmarks/gemm-row-classes.c -o /tmp/gemm-row-classes \
 *     -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas
 *   OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell /tmp/gemm-row-classes 2704 64 64
 *
 * Arguments: K (inputs), N (outputs), M (rows per call).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float uniform(void) { return rand() / (float)RAND_MAX - 0.5f; }

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s K N M\n", argv[0]);
    return 2;
  }
  int k = atoi(argv[1]), n = atoi(argv[2]), m = atoi(argv[3]);
  if (k < 1 || n < 1 || m < 1 || m > 4096) {
    fprintf(stderr, "K, N and M must be positive, M at most 4096\n");
    return 2;
  }
  float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
  float *sample = malloc(sizeof(float) * k), *c = malloc(sizeof(float) * m * n);
  float *rows = malloc(sizeof(float) * m * n);
  int *classes = malloc(sizeof(int) * m);
  srand(2);
  for (int i = 0; i < n * k; i++) w[i] = uniform() * 0.1f;
  for (int i = 0; i < k; i++) sample[i] = uniform();
  for (int position = 0; position < m; position++) {
    for (int i = 0; i < m * k; i++) x[i] = uniform();
    memcpy(x + position * k, sample, sizeof(float) * k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, c, n);
    memcpy(rows + position * n, c + position * n, sizeof(float) * n);
  }
  int count = 0;
  printf("K=%d N=%d M=%d, class of each row position:", k, n, m);
  for (int p = 0; p < m; p++) {
    classes[p] = -1;
    for (int q = 0; q < p && classes[p] < 0; q++)
      if (!memcmp(rows + p * n, rows + q * n, sizeof(float) * n)) classes[p] = classes[q];
    if (classes[p] < 0) classes[p] = count++;
    printf(" %d", classes[p]);
  }
  printf(" (%d classes)\n", count);
  return 0;
}

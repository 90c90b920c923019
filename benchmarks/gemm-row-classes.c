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
 * Arguments: K (inputs), N (outputs), M (rows per call). With a fourth argument `across`,
 * every row of every call of 1…M rows is compared with every other, for three samples, and
 * the count of pairs where the bits disagree with the three classes ExpertStream assumes
 * (BLAS.rowClasses(ofCalls:): the first or second six of a group of 12, or a tail row in
 * whole fours; the last one to three rows like the second six) is printed.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float uniform(void) { return rand() / (float)RAND_MAX - 0.5f; }

/* The class ExpertStream assumes for row p of a call of m rows: 0 and 1 for the first and
 * second six of a group of 12, 2 for a tail row in whole fours, 1 for the last 1-3 rows. */
static int assumed_class(int m, int p) {
  int grouped = m / 12 * 12;
  if (p < grouped) return p % 12 < 6 ? 0 : 1;
  return p - grouped < (m - grouped) / 4 * 4 ? 2 : 1;
}

/* Every (call size, row) pair against every other: prints the pairs whose bits disagree
 * with the assumed classes (same class, different bits, or the other way round). */
static int across(int k, int n, int maxm) {
  enum { samples = 3 };
  int total = maxm * (maxm + 1) / 2, index = 0;
  float *w = malloc(sizeof(float) * n * k), *x = malloc(sizeof(float) * maxm * k);
  float *c = malloc(sizeof(float) * maxm * n), *sample = malloc(sizeof(float) * samples * k);
  float *rows = malloc(sizeof(float) * (size_t)total * samples * n);
  int *ms = malloc(sizeof(int) * total), *ps = malloc(sizeof(int) * total);
  srand(7);
  for (int i = 0; i < n * k; i++) w[i] = uniform() * 0.1f;
  for (int i = 0; i < samples * k; i++) sample[i] = uniform();
  for (int m = 1; m <= maxm; m++) {
    for (int p = 0; p < m; p++, index++) {
      ms[index] = m;
      ps[index] = p;
      for (int s = 0; s < samples; s++) {
        for (int i = 0; i < m * k; i++) x[i] = uniform();
        memcpy(x + p * k, sample + s * k, sizeof(float) * k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, c, n);
        memcpy(rows + ((size_t)index * samples + s) * n, c + p * n, sizeof(float) * n);
      }
    }
  }
  long pairs = 0, disagreeing = 0;
  size_t row = sizeof(float) * samples * n;
  for (int a = 0; a < total; a++) {
    for (int b = a + 1; b < total; b++, pairs++) {
      int same = !memcmp(rows + (size_t)a * samples * n, rows + (size_t)b * samples * n, row);
      if (same != (assumed_class(ms[a], ps[a]) == assumed_class(ms[b], ps[b]))) disagreeing++;
    }
  }
  printf("K=%d N=%d, calls of 1 to %d rows: %ld pairs of rows, %ld disagree with the three "
         "classes\n", k, n, maxm, pairs, disagreeing);
  return disagreeing != 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[4], "across")) return across(atoi(argv[1]), atoi(argv[2]), atoi(argv[3]));
  if (argc != 4) {
    fprintf(stderr, "usage: %s K N M [across]\n", argv[0]);
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

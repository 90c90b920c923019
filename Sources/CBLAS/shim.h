// CBLAS types and a CPU-feature probe. OpenBLAS itself is loaded at run time with dlopen
// (TensorCore/BLAS.swift), so that OPENBLAS_CORETYPE can be chosen before the library's
// constructor reads it. Nothing here links against libopenblas.
#ifndef EXPERTSTREAM_CBLAS_SHIM_H
#define EXPERTSTREAM_CBLAS_SHIM_H

#include <stdint.h>

/// Row- or column-major storage, as in cblas.h.
typedef enum { ES_CblasRowMajor = 101, ES_CblasColMajor = 102 } ES_CBLAS_ORDER;
/// Transpose flags, as in cblas.h.
typedef enum { ES_CblasNoTrans = 111, ES_CblasTrans = 112 } ES_CBLAS_TRANSPOSE;

/// The CPU's vector extensions that decide OpenBLAS's kernel choice, usable by the OS.
typedef struct {
  int avx2;
  int fma;
  int avx512f;
} es_cpu_features;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static inline es_cpu_features es_probe_cpu_features(void) {
  es_cpu_features f = {0, 0, 0};
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  int osxsave = (ecx >> 27) & 1;
  int avx = (ecx >> 28) & 1;
  if (!osxsave || !avx) return f;
  unsigned int xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  int ymm_enabled = (xcr0_lo & 0x6) == 0x6;
  int zmm_enabled = (xcr0_lo & 0xE6) == 0xE6;
  f.fma = ymm_enabled && ((ecx >> 12) & 1);
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  f.avx2 = ymm_enabled && ((ebx >> 5) & 1);
  f.avx512f = zmm_enabled && ((ebx >> 16) & 1);
  return f;
}
#else
static inline es_cpu_features es_probe_cpu_features(void) {
  es_cpu_features f = {0, 0, 0};
  return f;
}
#endif

#if defined(__GLIBC__)
#include <malloc.h>
/// Keeps freed large buffers in the heap (no mmap per allocation, no trimming back to the
/// kernel), so repeated training steps reuse already-faulted pages. 1 on success.
static inline int es_keep_large_buffers_in_heap(void) {
  return mallopt(M_MMAP_THRESHOLD, 512 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
}
/// Gives the heap's free pages back to the kernel (all of them, not only the top's).
static inline void es_release_free_heap_pages(void) { malloc_trim(0); }
#else
static inline int es_keep_large_buffers_in_heap(void) { return 0; }
static inline void es_release_free_heap_pages(void) {}
#endif

#endif

import ExpertStream
import Foundation
do {
  var rng = RandomGenerator(seed: 1)
  let a = try Tensor.normal([1024, 1024], using: &rng)
  let b = try Tensor.normal([1024, 1024], using: &rng)
  let c = try Tensor.zeros([1024, 1024])
  func time(_ label: String, _ f: () throws -> Void) rethrows {
    try f()
    let t0 = Date()
    for _ in 0..<10 { try f() }
    let dt = Date().timeIntervalSince(t0) / 10
    print(label, 2.0 * 1024 * 1024 * 1024 / dt / 1e9, "GFLOP/s")
  }
  print(BLAS.coreType)
  Compute.threads = 1
  try time("engine 1 thread") { _ = try a.matmul(b) }
  Compute.threads = 2
  try time("engine 2 threads") { _ = try a.matmul(b) }
  try BLAS.setLibraryThreads(2)
  try time("openblas 2 threads") { try BLAS.sgemmSingleCall(transposeA: false, transposeB: false, m: 1024, n: 1024, k: 1024, alpha: 1, a: a.storage.pointer, lda: 1024, b: b.storage.pointer, ldb: 1024, beta: 0, c: c.storage.pointer, ldc: 1024) }
  try BLAS.setLibraryThreads(1)
  try time("openblas 1 threads") { try BLAS.sgemmSingleCall(transposeA: false, transposeB: false, m: 1024, n: 1024, k: 1024, alpha: 1, a: a.storage.pointer, lda: 1024, b: b.storage.pointer, ldb: 1024, beta: 0, c: c.storage.pointer, ldc: 1024) }
} catch { print(error) }

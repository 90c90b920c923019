/// Contiguous Float32 loops written with explicit SIMD accumulators.
///
/// LLVM does not reorder floating-point reductions on its own, so a plain `total += a[i]`
/// loop runs one element at a time; these use 64 lanes in a fixed order, so results depend
/// only on the inputs and their length.
enum VectorKernels {
  typealias Lanes = SIMD16<Float>

  /// Σ a[i]·b[i] for i < count.
  @inline(__always)
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    let rawA = UnsafeRawPointer(a)
    let rawB = UnsafeRawPointer(b)
    var s0 = Lanes(), s1 = Lanes(), s2 = Lanes(), s3 = Lanes()
    var i = 0
    let stride = MemoryLayout<Float>.stride
    while i + 64 <= count {
      s0 +=
        rawA.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
        * rawB.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
      s1 +=
        rawA.loadUnaligned(fromByteOffset: (i + 16) * stride, as: Lanes.self)
        * rawB.loadUnaligned(fromByteOffset: (i + 16) * stride, as: Lanes.self)
      s2 +=
        rawA.loadUnaligned(fromByteOffset: (i + 32) * stride, as: Lanes.self)
        * rawB.loadUnaligned(fromByteOffset: (i + 32) * stride, as: Lanes.self)
      s3 +=
        rawA.loadUnaligned(fromByteOffset: (i + 48) * stride, as: Lanes.self)
        * rawB.loadUnaligned(fromByteOffset: (i + 48) * stride, as: Lanes.self)
      i += 64
    }
    while i + 16 <= count {
      s0 +=
        rawA.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
        * rawB.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
      i += 16
    }
    var total = ((s0 + s1) + (s2 + s3)).sum()
    while i < count {
      total += a[i] * b[i]
      i += 1
    }
    return total
  }

  /// Σ a[i] for i < count.
  @inline(__always)
  static func sum(_ a: UnsafePointer<Float>, _ count: Int) -> Float {
    let raw = UnsafeRawPointer(a)
    var s0 = Lanes(), s1 = Lanes()
    var i = 0
    let stride = MemoryLayout<Float>.stride
    while i + 32 <= count {
      s0 += raw.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
      s1 += raw.loadUnaligned(fromByteOffset: (i + 16) * stride, as: Lanes.self)
      i += 32
    }
    var total = (s0 + s1).sum()
    while i < count {
      total += a[i]
      i += 1
    }
    return total
  }

  /// y[i] += alpha·x[i] for i < count.
  @inline(__always)
  static func axpy(
    _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int
  ) {
    let rawX = UnsafeRawPointer(x)
    let rawY = UnsafeMutableRawPointer(y)
    let stride = MemoryLayout<Float>.stride
    var i = 0
    while i + 16 <= count {
      let updated =
        rawY.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
        + alpha * rawX.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
      rawY.storeBytes(of: updated, toByteOffset: i * stride, as: Lanes.self)
      i += 16
    }
    while i < count {
      y[i] += alpha * x[i]
      i += 1
    }
  }

  /// Σ (a[i] − mean)² for i < count.
  @inline(__always)
  static func sumOfSquaredDeviations(_ a: UnsafePointer<Float>, _ mean: Float, _ count: Int)
    -> Float
  {
    let raw = UnsafeRawPointer(a)
    let center = Lanes(repeating: mean)
    var s0 = Lanes(), s1 = Lanes()
    var i = 0
    let stride = MemoryLayout<Float>.stride
    while i + 32 <= count {
      let d0 = raw.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self) - center
      let d1 = raw.loadUnaligned(fromByteOffset: (i + 16) * stride, as: Lanes.self) - center
      s0 += d0 * d0
      s1 += d1 * d1
      i += 32
    }
    var total = (s0 + s1).sum()
    while i < count {
      let d = a[i] - mean
      total += d * d
      i += 1
    }
    return total
  }

  /// totals[3·kh + kw] += Σ a[i]·b[i + kh·pitch + kw] for i < count and kh, kw < 3: the
  /// weight gradient of a 3×3 convolution over full-width rows, in one pass with one
  /// accumulator per tap.
  @inline(__always)
  static func addThreeByThreeCorrelation(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, pitch: Int, count: Int,
    into totals: UnsafeMutablePointer<Float>
  ) {
    let rawA = UnsafeRawPointer(a)
    let rawB = UnsafeRawPointer(b)
    let stride = MemoryLayout<Float>.stride
    let (o3, o6) = (pitch, 2 * pitch)
    var s0 = Lanes(), s1 = Lanes(), s2 = Lanes(), s3 = Lanes(), s4 = Lanes()
    var s5 = Lanes(), s6 = Lanes(), s7 = Lanes(), s8 = Lanes()
    var i = 0
    @inline(__always) func load(_ offset: Int) -> Lanes {
      rawB.loadUnaligned(fromByteOffset: (i + offset) * stride, as: Lanes.self)
    }
    while i + 16 <= count {
      let x = rawA.loadUnaligned(fromByteOffset: i * stride, as: Lanes.self)
      s0 += x * load(0)
      s1 += x * load(1)
      s2 += x * load(2)
      s3 += x * load(o3)
      s4 += x * load(o3 + 1)
      s5 += x * load(o3 + 2)
      s6 += x * load(o6)
      s7 += x * load(o6 + 1)
      s8 += x * load(o6 + 2)
      i += 16
    }
    // The nine lane sums on the stack (this runs once per convolved plane).
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 9) { results in
      (results[0], results[1], results[2]) = (s0.sum(), s1.sum(), s2.sum())
      (results[3], results[4], results[5]) = (s3.sum(), s4.sum(), s5.sum())
      (results[6], results[7], results[8]) = (s6.sum(), s7.sum(), s8.sum())
      while i < count {
        for tap in 0..<9 { results[tap] += a[i] * b[i + (tap / 3) * pitch + tap % 3] }
        i += 1
      }
      for tap in 0..<9 { totals[tap] += results[tap] }
    }
  }
}

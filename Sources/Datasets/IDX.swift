/// An array read from an IDX file (the MNIST format): unsigned bytes with dimensions.
public struct IDXArray: Equatable, Sendable {
  /// The dimensions, outermost first (e.g. [60000, 28, 28]).
  public let dimensions: [Int]
  /// The values, row-major.
  public let bytes: [UInt8]

  /// Parses IDX bytes (type 0x08, unsigned byte; big-endian dimensions).
  ///
  /// - Parameters:
  ///   - bytes: The decompressed file.
  ///   - file: The file's path, for errors.
  ///   - rank: The expected number of dimensions (3 for images, 1 for labels).
  /// - Throws: ``DatasetError`` naming the file and byte offset: a wrong magic number, a
  ///   header or body shorter than declared, or bytes after the data.
  public init(parsing bytes: consuming [UInt8], file: String, rank: Int) throws {
    guard bytes.count >= 4 else {
      throw DatasetError.truncated(
        file: file, offset: 0, expectedBytes: 4, actualBytes: bytes.count)
    }
    let magic =
      UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8
      | UInt32(bytes[3])
    let expectedMagic = UInt32(0x0800) | UInt32(rank)
    guard magic == expectedMagic else {
      throw DatasetError.badMagic(
        file: file, found: magic,
        expected: "0x\(String(expectedMagic, radix: 16)) (unsigned bytes, \(rank) dimensions)")
    }
    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else {
      throw DatasetError.truncated(
        file: file, offset: bytes.count, expectedBytes: headerSize, actualBytes: bytes.count)
    }
    var dimensions: [Int] = []
    var total = 1
    for axis in 0..<rank {
      let offset = 4 + 4 * axis
      let size =
        Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16
        | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
      dimensions.append(size)
      // Sizes come from the file: cap the product before it can overflow.
      total = total.multipliedReportingOverflow(by: size).overflow ? Int.max : total * size
    }
    let expected = total == Int.max ? Int.max : headerSize + total
    guard bytes.count >= expected else {
      throw DatasetError.truncated(
        file: file, offset: bytes.count, expectedBytes: expected, actualBytes: bytes.count)
    }
    guard bytes.count == expected else {
      throw DatasetError.trailingBytes(file: file, offset: expected, actualBytes: bytes.count)
    }
    self.dimensions = dimensions
    // The header is moved out of the caller's buffer when the caller gave it up, so a file
    // of 50 MB is not held twice.
    var values = consume bytes
    values.removeFirst(headerSize)
    self.bytes = values
  }

  /// Reads an IDX file, raw or gzip-compressed (`.gz`).
  public init(contentsOf path: String, rank: Int) throws {
    try self.init(parsing: try readFileBytes(path), file: path, rank: rank)
  }

  /// The IDX encoding of unsigned bytes with `dimensions` (for writing test files).
  public static func encode(_ bytes: [UInt8], dimensions: [Int]) -> [UInt8] {
    var header: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for size in dimensions {
      header += [
        UInt8(size >> 24 & 0xff), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff),
        UInt8(size & 0xff),
      ]
    }
    return header + bytes
  }
}

/// Which CIFAR-100 labels to use.
public enum CIFARLabels: String, Sendable, CaseIterable {
  /// The 100 fine classes.
  case fine
  /// The 20 superclasses.
  case coarse

  /// The number of classes: 100 fine, 20 coarse.
  public var classCount: Int { self == .fine ? 100 : 20 }
}

/// Reads the CIFAR-100 binary version: records of a coarse label byte, a fine label byte
/// and 3072 pixel bytes (1024 red, 1024 green, 1024 blue; rows of 32).
public enum CIFAR100Reader {
  /// Bytes per record.
  public static let recordSize = 3074

  /// Parses a whole `train.bin` or `test.bin`.
  ///
  /// - Returns: N·3072 pixel bytes (channel-major per sample) and N labels.
  /// - Throws: ``DatasetError`` naming the file: no records, a size that is not a multiple
  ///   of 3074, or a label out of range (with its byte offset).
  public static func parse(_ bytes: [UInt8], file: String, labels kind: CIFARLabels) throws
    -> (pixels: [UInt8], labels: [UInt8])
  {
    guard !bytes.isEmpty else { throw DatasetError.empty(file: file) }
    guard bytes.count % recordSize == 0 else {
      throw DatasetError.badRecordSize(file: file, size: bytes.count, recordSize: recordSize)
    }
    let count = bytes.count / recordSize
    var pixels = [UInt8](repeating: 0, count: count * 3072)
    var labels = [UInt8](repeating: 0, count: count)
    let classes = kind.classCount
    for record in 0..<count {
      let offset = record * recordSize + (kind == .fine ? 1 : 0)
      let label = bytes[offset]
      guard Int(label) < classes else {
        throw DatasetError.labelOutOfRange(
          file: file, offset: offset, label: Int(label), classes: classes)
      }
      labels[record] = label
      let start = record * recordSize + 2
      pixels.replaceSubrange(
        (record * 3072)..<((record + 1) * 3072), with: bytes[start..<(start + 3072)])
    }
    return (pixels, labels)
  }

  /// The record encoding of samples (for writing test files).
  public static func encode(pixels: [UInt8], fine: [UInt8], coarse: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(fine.count * recordSize)
    for index in 0..<fine.count {
      bytes += [coarse[index], fine[index]]
      bytes += pixels[(index * 3072)..<((index + 1) * 3072)]
    }
    return bytes
  }
}

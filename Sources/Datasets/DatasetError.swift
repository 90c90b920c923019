/// An error reading a dataset: which file, where in it, and what was expected.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
  /// The file does not exist or cannot be read.
  case unreadable(file: String, reason: String)
  /// A file or directory of a dataset being written (``DatasetDescriptor/writeIDXSplit(_:images:labels:imageHeight:imageWidth:into:)``)
  /// cannot be.
  case unwritable(file: String, reason: String)
  /// The gzip stream is corrupt or truncated.
  case corruptGzip(file: String, reason: String)
  /// The IDX header's magic number is not the expected one (bytes 0–3).
  case badMagic(file: String, found: UInt32, expected: String)
  /// The file ends before the size its header declares.
  case truncated(file: String, offset: Int, expectedBytes: Int, actualBytes: Int)
  /// The file has bytes after the data its header declares.
  case trailingBytes(file: String, offset: Int, actualBytes: Int)
  /// An image file and its label file hold different numbers of samples.
  case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
  /// A label outside the dataset's classes.
  case labelOutOfRange(file: String, offset: Int, label: Int, classes: Int)
  /// A CIFAR file whose size is not a whole number of 3074-byte records.
  case badRecordSize(file: String, size: Int, recordSize: Int)
  /// Images of an unexpected shape.
  case unexpectedShape(file: String, found: [Int], expected: [Int])
  /// The decompressed file's SHA-256 differs from the official one.
  case checksumMismatch(file: String, expected: String, found: String)
  /// The file is another registered dataset's file of the same name (its SHA-256 matches
  /// that dataset's), such as FashionMNIST's in a directory searched for MNIST.
  case otherDataset(file: String, found: String, wanted: String)
  /// A file holding no samples.
  case empty(file: String)
  /// A directory the user named (`--data-dir`, `EXPERTSTREAM_DATA`) that cannot be used.
  case badDataDirectory(directory: String, setting: String, reason: String)
  /// The dataset was not found anywhere it was looked for.
  case notFound(dataset: String, searched: [String], howToGet: String)
  /// No dataset has this name.
  case unknownDataset(String, known: [String])
  /// A download failed.
  case downloadFailed(dataset: String, url: String, reason: String)
  /// A dataset a program tried to register that cannot be (see
  /// ``DatasetRegistry/register(_:)``).
  case badRegistration(dataset: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let file, let reason):
      return "\(file): cannot read: \(reason)"
    case .unwritable(let file, let reason):
      return "\(file): cannot write: \(reason)"
    case .corruptGzip(let file, let reason):
      return "\(file): corrupt gzip data: \(reason)"
    case .badMagic(let file, let found, let expected):
      return "\(file): byte offset 0: magic number 0x\(String(found, radix: 16)) is not \(expected)"
    case .truncated(let file, let offset, let expected, let actual):
      return
        "\(file): byte offset \(offset): file is truncated: the header declares \(expected) bytes, "
        + "the file has \(actual)"
    case .trailingBytes(let file, let offset, let actual):
      return "\(file): byte offset \(offset): \(actual - offset) unexpected bytes after the data"
    case .countMismatch(let images, let imageCount, let labels, let labelCount):
      return
        "\(images) holds \(imageCount) images but \(labels) holds \(labelCount) labels; "
        + "they must match"
    case .labelOutOfRange(let file, let offset, let label, let classes):
      return "\(file): byte offset \(offset): label \(label) is outside 0..<\(classes)"
    case .badRecordSize(let file, let size, let recordSize):
      return
        "\(file): size \(size) bytes is not a multiple of the \(recordSize)-byte CIFAR record "
        + "(byte offset \(size - size % recordSize) starts an incomplete record)"
    case .unexpectedShape(let file, let found, let expected):
      return "\(file): byte offset 4: images have shape \(found), expected \(expected)"
    case .checksumMismatch(let file, let expected, let found):
      return
        "\(file): SHA-256 of the decompressed bytes is \(found), not the official \(expected); "
        + "the file is damaged or not the official release"
    case .otherDataset(let file, let found, let wanted):
      return
        "\(file): this is the \(found) file, not \(wanted) (its SHA-256 is \(found)'s); put the "
        + "\(wanted) files there, or set dataset.name to \(found) to use these"
    case .empty(let file):
      return
        "\(file): holds no samples; a dataset needs at least one training and one test sample"
    case .badDataDirectory(let directory, let setting, let reason):
      return
        "\(setting) \(directory): \(reason); give a directory that holds the dataset (or its "
        + "sub-directory named after it)"
    case .notFound(let dataset, let searched, let howToGet):
      return
        "dataset '\(dataset)' was not found (looked in: \(searched.joined(separator: ", "))). "
        + howToGet
    case .unknownDataset(let name, let known):
      return "unknown dataset '\(name)'; known datasets: \(known.joined(separator: ", "))"
    case .downloadFailed(let dataset, let url, let reason):
      return
        "downloading '\(dataset)' from \(url) failed: \(reason). Nothing was written; copy the "
        + "files into the data directory by hand, or retry on a machine with internet access"
    case .badRegistration(let dataset, let reason):
      return "dataset '\(dataset)' cannot be registered: \(reason)"
    }
  }
}

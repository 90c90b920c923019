import Datasets
import Foundation
import TensorCore
import Testing
import _TestSupport

@Test func sha256MatchesTheStandardVectors() {
  #expect(
    SHA256.hexDigest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  #expect(
    SHA256.hexDigest(Array("abc".utf8))
      == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  #expect(
    SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
      == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  var hash = SHA256()
  let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
  for _ in 0..<1000 { hash.update(chunk) }
  #expect(hash.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
}

/// Writes `bytes` to `name` in `directory`, gzip-compressed when the name ends in `.gz`.
@discardableResult
func write(_ bytes: [UInt8], _ name: String, in directory: TemporaryDirectory) throws -> String {
  let path = directory.url.appendingPathComponent(name).path
  let content = name.hasSuffix(".gz") ? gzipCompress(bytes) : bytes
  try Data(content).write(to: URL(fileURLWithPath: path))
  return path
}

@Test func idxFilesRoundTripRawAndCompressed() throws {
  let directory = try TemporaryDirectory()
  let images = (0..<(3 * 28 * 28)).map { UInt8($0 % 251) }
  for name in ["images-idx3-ubyte", "images-idx3-ubyte.gz"] {
    let path = try write(IDXArray.encode(images, dimensions: [3, 28, 28]), name, in: directory)
    let array = try IDXArray(contentsOf: path, rank: 3)
    #expect(array.dimensions == [3, 28, 28])
    #expect(array.bytes == images)
  }
}

@Test func regularFilesAreReadWholeWhetherOrNotTheSystemKnowsTheirSize() throws {
  let directory = try TemporaryDirectory()
  let content = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 7) }
  #expect(try readRegularFile(try write(content, "bytes", in: directory)) == content)
  #expect(try readRegularFile(try write([], "empty", in: directory)) == [])
  // procfs reports a size of 0 for files that have content.
  let status = try readRegularFile("/proc/self/status")
  #expect(String(decoding: status, as: UTF8.self).contains("VmRSS:"))
}

@Test func idxReaderRejectsBadFilesNamingFileAndOffset() throws {
  let directory = try TemporaryDirectory()
  let valid = IDXArray.encode([1, 2, 3, 4], dimensions: [4])
  var wrongMagic = valid
  wrongMagic[2] = 0x09
  let magicPath = try write(wrongMagic, "magic-idx1-ubyte", in: directory)
  #expect(
    throws: DatasetError.badMagic(
      file: magicPath, found: 0x0901, expected: "0x801 (unsigned bytes, 1 dimensions)")
  ) {
    try IDXArray(contentsOf: magicPath, rank: 1)
  }
  let truncatedPath = try write(Array(valid.dropLast(2)), "short-idx1-ubyte.gz", in: directory)
  do {
    _ = try IDXArray(contentsOf: truncatedPath, rank: 1)
    Issue.record("expected a truncation error")
  } catch let error as DatasetError {
    #expect(
      error == .truncated(file: truncatedPath, offset: 10, expectedBytes: 12, actualBytes: 10))
    #expect(error.description.contains(truncatedPath) && error.description.contains("offset 10"))
  }
  let cutGzip = gzipCompress(valid)
  let cutPath = directory.url.appendingPathComponent("cut-idx1-ubyte.gz").path
  try Data(cutGzip.prefix(cutGzip.count - 6)).write(to: URL(fileURLWithPath: cutPath))
  #expect(throws: DatasetError.self) { try IDXArray(contentsOf: cutPath, rank: 1) }
  let missing = directory.url.appendingPathComponent("absent").path
  #expect(throws: DatasetError.unreadable(file: missing, reason: "no such file or directory")) {
    try IDXArray(contentsOf: missing, rank: 1)
  }
}

@Test func unreadableFilesSayWhyInTheSystemsWords() throws {
  let directory = try TemporaryDirectory()
  let fifo = directory.path("fifo-idx1-ubyte")
  #expect(mkfifo(fifo, 0o600) == 0)
  let longName = directory.path(String(repeating: "x", count: 300))
  for (path, reason) in [
    (directory.url.path, "is a directory, not a file"),
    (fifo, "is not a regular file"),
    (longName, "file name too long"),
    (directory.path("absent/idx"), "no such file or directory"),
  ] {
    #expect(throws: DatasetError.unreadable(file: path, reason: reason)) {
      try IDXArray(contentsOf: path, rank: 1)
    }
  }
  #expect(
    DatasetError.unreadable(file: fifo, reason: "is not a regular file").description
      == "\(fifo): cannot read: is not a regular file")
}

@Test func aGzipFileOfSeveralMembersReadsAsTheirConcatenation() throws {
  let directory = try TemporaryDirectory()
  let encoded = IDXArray.encode(Array(0..<200).map { UInt8($0) }, dimensions: [200])
  let path = directory.path("members-idx1-ubyte.gz")
  let members =
    gzipCompress(Array(encoded[..<50])) + gzipCompress(Array(encoded[50..<51]))
    + gzipCompress(Array(encoded[51...]))
  try Data(members).write(to: URL(fileURLWithPath: path))
  #expect(try IDXArray(contentsOf: path, rank: 1).bytes == Array(0..<200).map { UInt8($0) })
  // Bytes after the last member that do not start another one are named, with their offset.
  try Data(members + [0, 0, 0]).write(to: URL(fileURLWithPath: path))
  #expect(
    throws: DatasetError.corruptGzip(
      file: path,
      reason: "byte offset \(members.count): the 3 bytes after the compressed data are not "
        + "another gzip member")
  ) {
    try IDXArray(contentsOf: path, rank: 1)
  }
}

@Test func aDatasetWithoutSamplesIsAnErrorNamingTheFile() throws {
  let directory = try TemporaryDirectory()
  try writeSmallMNIST(in: directory.url.path, gzip: false, testCount: 0)
  let images = directory.path("t10k-images-idx3-ubyte")
  #expect(throws: DatasetError.empty(file: images)) {
    try DatasetRegistry.load(
      "mnist", split: .test, dataDirectory: directory.url.path, environment: [:])
  }
  #expect(
    DatasetError.empty(file: images).description
      == "\(images): holds no samples; a dataset needs at least one training and one test sample")
  #expect(throws: DatasetError.empty(file: "train.bin")) {
    try CIFAR100Reader.parse([], file: "train.bin", labels: .fine)
  }
}

@Test func imagesAndLabelsMustHaveTheSameCount() throws {
  let images = try IDXArray(
    parsing: IDXArray.encode([UInt8](repeating: 0, count: 2 * 784), dimensions: [2, 28, 28]),
    file: "i", rank: 3)
  let labels = try IDXArray(
    parsing: IDXArray.encode([1, 2, 3], dimensions: [3]), file: "l", rank: 1)
  #expect(
    throws: DatasetError.countMismatch(images: "i", imageCount: 2, labels: "l", labelCount: 3)
  ) {
    try DatasetRegistry.makeIDXDataset(
      name: "t", split: .train, images: images, imagesPath: "i", labels: labels, labelsPath: "l",
      descriptor: DatasetRegistry.mnist)
  }
  let badLabels = try IDXArray(
    parsing: IDXArray.encode([1, 12], dimensions: [2]), file: "l", rank: 1)
  #expect(throws: DatasetError.labelOutOfRange(file: "l", offset: 9, label: 12, classes: 10)) {
    try DatasetRegistry.makeIDXDataset(
      name: "t", split: .train, images: images, imagesPath: "i", labels: badLabels,
      labelsPath: "l", descriptor: DatasetRegistry.mnist)
  }
}

@Test func cifarRecordsRoundTripWithFineOrCoarseLabels() throws {
  let pixels = (0..<(3 * 3072)).map { UInt8($0 % 256) }
  let bytes = CIFAR100Reader.encode(pixels: pixels, fine: [5, 99, 0], coarse: [1, 19, 7])
  let fine = try CIFAR100Reader.parse(bytes, file: "train.bin", labels: .fine)
  #expect(fine.pixels == pixels && fine.labels == [5, 99, 0])
  let coarse = try CIFAR100Reader.parse(bytes, file: "train.bin", labels: .coarse)
  #expect(coarse.labels == [1, 19, 7])
  #expect(
    throws: DatasetError.badRecordSize(file: "train.bin", size: bytes.count - 1, recordSize: 3074)
  ) {
    try CIFAR100Reader.parse(Array(bytes.dropLast()), file: "train.bin", labels: .fine)
  }
  var badLabel = bytes
  badLabel[3074 + 1] = 100
  #expect(throws: DatasetError.labelOutOfRange(file: "f", offset: 3075, label: 100, classes: 100)) {
    try CIFAR100Reader.parse(badLabel, file: "f", labels: .fine)
  }
}

@Test func randomBytesNeverCrashTheReaders() throws {
  var generator = RandomGenerator(seed: 99)
  let valid = IDXArray.encode((0..<(2 * 784)).map { UInt8($0 % 256) }, dimensions: [2, 28, 28])
  let validCIFAR = CIFAR100Reader.encode(
    pixels: [UInt8](repeating: 7, count: 3072), fine: [3], coarse: [2])
  var outcomes = (accepted: 0, rejected: 0)
  let scratch = try TemporaryDirectory()
  for trial in 0..<3000 {
    var bytes: [UInt8]
    switch trial % 4 {
    case 0:
      bytes = (0..<Int(generator.next() % 64)).map { _ in
        UInt8(truncatingIfNeeded: generator.next())
      }
    case 1:
      // A valid file, half the time cut short, with one byte changed anywhere.
      bytes = valid
      if generator.next() & 1 == 0 {
        bytes = Array(bytes.prefix(Int(generator.next() % UInt64(valid.count))))
      }
      if !bytes.isEmpty { bytes[Int(generator.next() % UInt64(bytes.count))] ^= 0xff }
    case 2:
      // A valid file as two gzip members, or one holding no samples, with one byte changed.
      let cut = Int(generator.next() % UInt64(valid.count))
      bytes =
        generator.next() & 1 == 0
        ? gzipCompress(Array(valid[..<cut])) + gzipCompress(Array(valid[cut...]))
        : gzipCompress(IDXArray.encode([], dimensions: [0, 28, 28]))
      bytes[Int(generator.next() % UInt64(bytes.count))] ^= UInt8(
        truncatingIfNeeded: generator.next() | 1)
    default:
      bytes = validCIFAR
      if generator.next() & 1 == 0 {
        bytes = Array(bytes.prefix(Int(generator.next() % UInt64(validCIFAR.count))))
      }
      if !bytes.isEmpty {
        bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(
          truncatingIfNeeded: generator.next())
      }
    }
    for attempt in [
      { _ = try IDXArray(parsing: bytes, file: "fuzz", rank: 3) },
      { _ = try IDXArray(parsing: bytes, file: "fuzz", rank: 1) },
      { _ = try CIFAR100Reader.parse(bytes, file: "fuzz", labels: .fine) },
      { _ = try gunzipForFuzzing(bytes, in: scratch) },
    ] {
      do {
        try attempt()
        outcomes.accepted += 1
      } catch is DatasetError {
        outcomes.rejected += 1
      }
    }
  }
  #expect(outcomes.rejected > 0 && outcomes.accepted > 0, "\(outcomes)")
}

/// Random bytes through the gzip path, as a `.gz` file would be read.
private func gunzipForFuzzing(_ bytes: [UInt8], in directory: TemporaryDirectory) throws {
  let path = directory.path("fuzz-idx1-ubyte.gz")
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  _ = try IDXArray(contentsOf: path, rank: 1)
}

@Test func batchesNormalisePerChannelAndAugmentationIsSeeded() throws {
  let pixels = (0..<(2 * 3 * 4 * 4)).map { UInt8($0 * 2) }
  let dataset = try Dataset(
    name: "tiny", split: .train, sampleShape: [3, 4, 4], pixels: pixels, labels: [1, 0],
    classCount: 2, mean: [0.5, 0.25, 0], standardDeviation: [0.5, 0.25, 1])
  let (input, labels) = try dataset.batch([1, 0])
  #expect(labels == [0, 1])
  #expect(input.shape == [2, 3, 4, 4])
  let value = input.values[48 + 16 + 3]  // row 1 (dataset index 0), channel 1, pixel 3
  #expect(abs(value - (Float(pixels[16 + 3]) / 255 - 0.25) / 0.25) < 1e-5)
  var first = RandomGenerator(seed: 5)
  var second = RandomGenerator(seed: 5)
  let augmentation = Augmentation(padding: 1, flips: true)
  let a = try dataset.batch([0, 1, 0, 1], augmentation: augmentation, using: &first).input.values
  let b = try dataset.batch([0, 1, 0, 1], augmentation: augmentation, using: &second).input.values
  #expect(a == b)
  #expect(a != (try dataset.batch([0, 1, 0, 1]).input.values))
  #expect(throws: TensorError.self) { try dataset.batch([2]) }
}

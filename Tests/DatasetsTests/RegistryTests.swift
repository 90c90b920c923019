import Datasets
import Foundation
import Testing
import _TestSupport

/// Writes a small MNIST-format dataset (train 6, test 4 samples) into `directory`.
func writeSmallMNIST(in directory: String, gzip: Bool, trainCount: Int = 6, testCount: Int = 4)
  throws
{
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  func put(_ bytes: [UInt8], _ name: String) throws {
    let path = (directory as NSString).appendingPathComponent(name + (gzip ? ".gz" : ""))
    try Data(gzip ? gzipCompress(bytes) : bytes).write(to: URL(fileURLWithPath: path))
  }
  for (prefix, count) in [("train", trainCount), ("t10k", testCount)] {
    let pixels: [UInt8] = (0..<(count * 784)).map { (index: Int) -> UInt8 in
      UInt8(truncatingIfNeeded: index / 784 * 37 + index)
    }
    try put(IDXArray.encode(pixels, dimensions: [count, 28, 28]), "\(prefix)-images-idx3-ubyte")
    try put(
      IDXArray.encode((0..<count).map { UInt8($0 % 10) }, dimensions: [count]),
      "\(prefix)-labels-idx1-ubyte")
  }
}

@Test func lookupOrderIsDataDirThenEnvironmentThenDefaults() throws {
  let root = try TemporaryDirectory()
  let first = root.url.appendingPathComponent("first").path
  let second = root.url.appendingPathComponent("second").path
  try writeSmallMNIST(in: first, gzip: false)
  try writeSmallMNIST(in: (second as NSString).appendingPathComponent("mnist"), gzip: true)
  let environment = ["EXPERTSTREAM_DATA": second]
  #expect(
    try DatasetRegistry.locate(
      DatasetRegistry.mnist, dataDirectory: first, environment: environment)
      == first)
  #expect(
    try DatasetRegistry.locate(DatasetRegistry.mnist, dataDirectory: nil, environment: environment)
      == (second as NSString).appendingPathComponent("mnist"))
  let test = try DatasetRegistry.load(
    "mnist", split: .test, dataDirectory: nil, verifyChecksums: false, environment: environment)
  #expect(test.count == 4 && test.sampleShape == [1, 28, 28])
  #expect(test.labels == [0, 1, 2, 3])
}

@Test func aMissingDatasetNamesTheDirectoryItWasLookedFor() throws {
  let empty = try TemporaryDirectory()
  do {
    _ = try DatasetRegistry.load(
      "mnist", split: .train, dataDirectory: empty.url.path, environment: [:])
    Issue.record("expected a not-found error")
  } catch let error as DatasetError {
    #expect(error.description.contains("holds no mnist files"))
    #expect(error.description.contains(empty.url.path))
    #expect(error.description.contains("--data-dir"))
  }
  // The built-in names first; datasets other tests register may follow.
  do {
    _ = try DatasetRegistry.descriptor(named: "mnsit")
    Issue.record("expected an unknown-dataset error")
  } catch {
    #expect(
      "\(error)".hasPrefix(
        "unknown dataset 'mnsit'; known datasets: fashion-mnist, mnist, cifar100"))
  }
}

@Test func filesOfTheOfficialSizeMustHaveTheOfficialChecksum() throws {
  let directory = try TemporaryDirectory()
  try writeSmallMNIST(in: directory.url.path, gzip: true, testCount: 10_000)
  // Small generated files are the user's own data: accepted, marked not official.
  let train = try DatasetRegistry.load(
    "mnist", split: .train, dataDirectory: directory.url.path, environment: [:])
  #expect(train.source?.isOfficial == false)
  // The test files have the official sizes but other bytes: damaged.
  do {
    _ = try DatasetRegistry.load(
      "mnist", split: .test, dataDirectory: directory.url.path, environment: [:])
    Issue.record("expected a checksum mismatch")
  } catch let error as DatasetError {
    guard case .checksumMismatch(let file, _, _) = error else {
      Issue.record("unexpected \(error)")
      return
    }
    #expect(file.hasSuffix("t10k-images-idx3-ubyte.gz"))
  }
}

@Test func aDataDirectoryWithoutTheWholeDatasetIsAnErrorNotAFallBack() throws {
  let root = try TemporaryDirectory()
  // Empty: the Debian FashionMNIST must not be read instead.
  try FileManager.default.createDirectory(
    atPath: root.path("empty"), withIntermediateDirectories: true)
  #expect(
    throws: DatasetError.badDataDirectory(
      directory: root.path("empty"), setting: "--data-dir",
      reason: "holds no fashion-mnist files, nor does its sub-directory fashion-mnist")
  ) {
    try DatasetRegistry.locate(DatasetRegistry.fashionMNIST, dataDirectory: root.path("empty"))
  }
  // Part of it, in the sub-directory: the missing file is named.
  let partial = root.path("data/mnist")
  try writeSmallMNIST(in: partial, gzip: true)
  try FileManager.default.removeItem(atPath: "\(partial)/t10k-labels-idx1-ubyte.gz")
  for (setting, directory, environment) in [
    ("--data-dir", Optional(root.path("data")), [String: String]()),
    ("EXPERTSTREAM_DATA", nil, ["EXPERTSTREAM_DATA": root.path("data")]),
  ] {
    #expect(
      throws: DatasetError.badDataDirectory(
        directory: root.path("data"), setting: setting,
        reason:
          "\(partial) holds part of mnist: t10k-labels-idx1-ubyte(.gz) missing (or a broken link)")
    ) {
      try DatasetRegistry.locate(
        DatasetRegistry.mnist, dataDirectory: directory, environment: environment)
    }
  }
}

@Test func aDataDirectoryThatIsNotThereIsAnErrorNotAFallBack() throws {
  let root = try TemporaryDirectory()
  let missing = root.path("nonexistent")
  #expect(
    throws: DatasetError.badDataDirectory(
      directory: missing, setting: "--data-dir", reason: "no such directory")
  ) {
    try DatasetRegistry.locate(DatasetRegistry.fashionMNIST, dataDirectory: missing)
  }
  #expect(
    DatasetError.badDataDirectory(
      directory: missing, setting: "--data-dir", reason: "no such directory"
    ).description
      == "--data-dir \(missing): no such directory; give a directory that holds the dataset "
      + "(or its sub-directory named after it)")
  let file = try write([1], "plain-file", in: root)
  #expect(
    throws: DatasetError.badDataDirectory(
      directory: file, setting: "EXPERTSTREAM_DATA", reason: "is a file, not a directory")
  ) {
    try DatasetRegistry.load(
      "mnist", split: .test, environment: ["EXPERTSTREAM_DATA": file])
  }
  // The directory used is recorded with the dataset.
  try writeSmallMNIST(in: root.path("mnist"), gzip: true)
  let found = try DatasetRegistry.load(
    "mnist", split: .test, dataDirectory: root.url.path, environment: [:])
  #expect(found.source?.directory == root.path("mnist"))
}

private let fashionDirectory = "/usr/share/datasets/fashion-mnist"

@Test(
  .enabled(
    if: FileManager.default.fileExists(atPath: fashionDirectory),
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"))
func anotherDatasetsFilesAreNamedAsSuch() throws {
  let directory = try TemporaryDirectory()
  for file in DatasetRegistry.fashionMNIST.files {
    try FileManager.default.createSymbolicLink(
      atPath: directory.path(file.name + ".gz"),
      withDestinationPath: "\(fashionDirectory)/\(file.name).gz")
  }
  let images = directory.path("t10k-images-idx3-ubyte.gz")
  #expect(throws: DatasetError.otherDataset(file: images, found: "fashion-mnist", wanted: "mnist"))
  {
    try DatasetRegistry.load(
      "mnist", split: .test, dataDirectory: directory.url.path, environment: [:])
  }
  #expect(
    DatasetError.otherDataset(file: images, found: "fashion-mnist", wanted: "mnist").description
      == "\(images): this is the fashion-mnist file, not mnist (its SHA-256 is fashion-mnist's); "
      + "put the mnist files there, or set dataset.name to fashion-mnist to use these")
}

@Test(
  .enabled(
    if: FileManager.default.fileExists(atPath: fashionDirectory),
    "needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"))
func readsTheRealFashionMNISTWithItsOfficialChecksums() throws {
  let train = try DatasetRegistry.load("fashion-mnist", split: .train, environment: [:])
  let test = try DatasetRegistry.load("fashion-mnist", split: .test, environment: [:])
  #expect(train.count == 60_000 && test.count == 10_000)
  #expect(train.indicesByClass().map(\.count) == [Int](repeating: 6000, count: 10))
  #expect(train.classNames[9] == "Ankle boot")
  #expect(train.source?.isOfficial == true && test.source?.isOfficial == true)
}

private let mnistDirectory = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().appendingPathComponent("../../../shared/datasets/mnist")
  .standardized.path

@Test(
  .enabled(
    if: FileManager.default.fileExists(atPath: mnistDirectory),
    "needs the real MNIST in ../shared/datasets/mnist beside the repository"))
func readsTheRealMNISTGivenByDataDir() throws {
  let train = try DatasetRegistry.load(
    "mnist", split: .train, dataDirectory: mnistDirectory, environment: [:])
  #expect(train.count == 60_000)
  #expect(Array(train.labels.prefix(10)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
  #expect(
    train.indicesByClass().map(\.count) == [
      5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ])
}

@Test func fetchFailsCleanlyWithoutAReachableMirror() throws {
  let directory = try TemporaryDirectory()
  let environment = ["EXPERTSTREAM_MIRROR": "file:///nonexistent/expertstream-mirror"]
  do {
    _ = try DatasetRegistry.fetch(
      DatasetRegistry.mnist, into: directory.url.path, environment: environment)
    Issue.record("expected the download to fail")
  } catch let error as DatasetError {
    guard case .downloadFailed(let dataset, let url, _) = error else {
      Issue.record("unexpected \(error)")
      return
    }
    #expect(dataset == "mnist" && url.hasPrefix("file:///nonexistent"))
    #expect(error.description.contains("Nothing was written"))
  }
  #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
}

@Test(
  .enabled(
    if: FileManager.default.fileExists(atPath: mnistDirectory),
    "needs the real MNIST in ../shared/datasets/mnist to serve as a local mirror"))
func fetchDownloadsChecksAndMovesIntoPlace() throws {
  let directory = try TemporaryDirectory()
  let target = try DatasetRegistry.fetch(
    DatasetRegistry.mnist, into: directory.url.path,
    environment: ["EXPERTSTREAM_MIRROR": "file://" + mnistDirectory])
  #expect(target == directory.url.appendingPathComponent("mnist").path)
  #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["mnist"])
  let test = try DatasetRegistry.load(
    "mnist", split: .test, dataDirectory: directory.url.path, environment: [:])
  #expect(test.count == 10_000)
}

/// Writes an MNIST-format dataset of `classes` classes (two training and one test sample
/// each) into `directory`, with `badTestLabel` as the last test label when given.
private func writeIDX(classes: Int, in directory: String, badTestLabel: UInt8? = nil) throws {
  for (split, count) in [(DatasetSplit.train, 2 * classes), (.test, classes)] {
    var labels = (0..<count).map { UInt8($0 % classes) }
    if split == .test, let badTestLabel { labels[count - 1] = badTestLabel }
    try DatasetDescriptor.writeIDXSplit(
      split, images: (0..<(count * 784)).map { UInt8(truncatingIfNeeded: $0 * 7) },
      labels: labels, imageHeight: 28, imageWidth: 28, into: directory)
  }
}

private func twelveClasses(in directory: String, name: String) -> DatasetDescriptor {
  DatasetDescriptor(
    idxNamed: name, title: "twelve classes", imageHeight: 28, imageWidth: 28,
    classNames: (0..<12).map { "c\($0)" }, mean: 0.5, standardDeviation: 0.25,
    directories: [directory], howToGet: "written by the test")
}

@Test func aRegisteredIDXDatasetLoadsWithItsOwnClassesFromItsDirectory() throws {
  let root = try TemporaryDirectory()
  try writeIDX(classes: 12, in: root.url.path)
  try DatasetRegistry.register(twelveClasses(in: root.url.path, name: "test-twelve-classes"))
  #expect(DatasetRegistry.all.map(\.name).contains("test-twelve-classes"))
  #expect(try DatasetRegistry.descriptor(named: "test-twelve-classes").classCount == 12)
  let train = try DatasetRegistry.load("test-twelve-classes", split: .train, environment: [:])
  let test = try DatasetRegistry.load("test-twelve-classes", split: .test, environment: [:])
  #expect(train.classCount == 12 && train.count == 24 && test.count == 12)
  #expect(Set(train.labels) == Set((0..<12).map(UInt8.init)))
  #expect(train.source?.directory == root.url.path)
  let lines = try DatasetRegistry.availability(
    of: DatasetRegistry.descriptor(named: "test-twelve-classes"), dataDirectory: nil)
  #expect(lines.last?.contains("files (not checked)") == true)
}

@Test func aRegisteredDatasetsLabelsMustLieInItsClasses() throws {
  let root = try TemporaryDirectory()
  try writeIDX(classes: 12, in: root.url.path, badTestLabel: 12)
  try DatasetRegistry.register(twelveClasses(in: root.url.path, name: "test-twelve-bad-label"))
  do {
    _ = try DatasetRegistry.load("test-twelve-bad-label", split: .test, environment: [:])
    Issue.record("a label outside the classes was loaded")
  } catch let error as DatasetError {
    #expect(
      "\(error)".contains("t10k-labels-idx1-ubyte: byte offset 19: label 12 is outside 0..<12"))
  }
}

@Test func registrationRefusesBuiltInNamesAndDescriptorsItCannotRead() {
  func refusal(_ descriptor: DatasetDescriptor) -> String {
    do {
      try DatasetRegistry.register(descriptor)
      return "registered"
    } catch {
      return "\(error)"
    }
  }
  func descriptor(
    name: String = "test-refused", height: Int = 28, classes: Int = 12, deviation: Float = 0.3
  ) -> DatasetDescriptor {
    DatasetDescriptor(
      idxNamed: name, title: "refused", imageHeight: height, imageWidth: 28,
      classNames: (0..<classes).map { "c\($0)" }, mean: 0.5, standardDeviation: deviation,
      howToGet: "")
  }
  #expect(
    refusal(descriptor(name: "mnist")).contains("'mnist' cannot be registered: it is a built-in"))
  #expect(refusal(descriptor(name: "two words")).contains("no comma or white space"))
  #expect(refusal(descriptor(name: "")).contains("no comma or white space"))
  #expect(refusal(descriptor(height: 0)).contains("[1, 0, 28]"))
  #expect(refusal(descriptor(classes: 1)).contains("1 class names: a dataset needs 2 to 256"))
  #expect(refusal(descriptor(classes: 257)).contains("257 class names"))
  #expect(refusal(descriptor(deviation: 0)).contains("standard deviation finite and positive"))
  #expect(refusal(DatasetRegistry.cifar100).contains("built-in"))
  #expect(!DatasetRegistry.all.map(\.name).contains("test-refused"))
}

@Test func fetchingARegisteredDatasetSaysItHasNoDownloadSource() throws {
  let root = try TemporaryDirectory()
  let descriptor = twelveClasses(in: root.url.path, name: "test-twelve-no-source")
  do {
    _ = try DatasetRegistry.fetch(descriptor, into: root.url.path, environment: [:])
    Issue.record("fetch succeeded")
  } catch {
    #expect("\(error)".contains("registered by a program and has no download source"))
  }
  #expect(try FileManager.default.contentsOfDirectory(atPath: root.url.path).isEmpty)
}

@Test func anIDXSplitWhoseImagesDoNotMatchItsLabelsIsNotWritten() throws {
  let root = try TemporaryDirectory()
  for (images, height) in [(5, 2), (8, 0), (8, -2)] {
    do {
      try DatasetDescriptor.writeIDXSplit(
        .test, images: [UInt8](repeating: 0, count: images), labels: [0, 1], imageHeight: height,
        imageWidth: 2, into: root.url.path)
      Issue.record("written: \(images) bytes, height \(height)")
    } catch {
      #expect(
        "\(error)".contains(
          "t10k-images-idx3-ubyte: cannot write: \(images) image bytes are not 2 images of"))
    }
  }
  #expect(try FileManager.default.contentsOfDirectory(atPath: root.url.path).isEmpty)
  // A directory that does not exist yet is created.
  let directory = root.url.appendingPathComponent("new/split").path
  try DatasetDescriptor.writeIDXSplit(
    .test, images: [UInt8](repeating: 7, count: 8), labels: [0, 1], imageHeight: 2,
    imageWidth: 2, into: directory)
  let written = try IDXArray(contentsOf: directory + "/t10k-images-idx3-ubyte", rank: 3)
  #expect(written.dimensions == [2, 2, 2] && written.bytes == [UInt8](repeating: 7, count: 8))
}

import Foundation

/// What the registry knows about one dataset: its files, their checksums, where it is
/// usually installed and how to get it.
public struct DatasetDescriptor: Sendable {
  /// One file of the dataset.
  public struct File: Sendable {
    /// The file name without `.gz` (both forms are accepted).
    public let name: String
    /// SHA-256 of the decompressed bytes, or `nil` where no official value is known (then
    /// only the size is checked).
    public let sha256: String?
    /// The decompressed size in bytes.
    public let size: Int
  }

  /// The registry name.
  public let name: String
  /// A one-line description.
  public let title: String
  /// The files, training first.
  public let files: [File]
  /// Directories searched after `--data-dir` and `EXPERTSTREAM_DATA`.
  public let defaultDirectories: [String]
  /// The download source: base URL of the files (or of the archive).
  public let mirror: String
  /// What to do when the dataset is missing.
  public let howToGet: String
  /// [C, H, W].
  public let sampleShape: [Int]
  /// K (fine labels for CIFAR-100).
  public let classCount: Int
  /// The class names.
  public let classNames: [String]
  /// Per-channel normalisation.
  public let mean: [Float]
  /// Per-channel normalisation.
  public let standardDeviation: [Float]
}

/// The datasets ExpertStream reads, and where it finds them.
///
/// A dataset is looked for in this order: the `--data-dir` directory, `$EXPERTSTREAM_DATA`,
/// then the descriptor's default directories; in each, the files may sit directly in the
/// directory or in a sub-directory named after the dataset (`mnist/`, `cifar-100-binary/`).
public enum DatasetRegistry {
  /// FashionMNIST (Zalando), the default dataset.
  public static let fashionMNIST = DatasetDescriptor(
    name: "fashion-mnist", title: "FashionMNIST: 60000 + 10000 grey 28×28 images, 10 classes",
    files: idxFiles(
      trainImages: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
      trainLabels: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
      testImages: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
      testLabels: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    defaultDirectories: ["/usr/share/datasets/fashion-mnist"],
    mirror: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    howToGet:
      "Install it with `apt-get install dataset-fashion-mnist` (Debian), or run "
      + "`expertstream data fetch fashion-mnist --data-dir DIR` on a machine with internet.",
    sampleShape: [1, 28, 28], classCount: 10,
    classNames: [
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
      "Ankle boot",
    ],
    mean: [0.2860], standardDeviation: [0.3530])

  /// MNIST (LeCun, Cortes & Burges).
  public static let mnist = DatasetDescriptor(
    name: "mnist", title: "MNIST: 60000 + 10000 grey 28×28 digits, 10 classes",
    files: idxFiles(
      trainImages: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
      trainLabels: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
      testImages: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
      testLabels: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    defaultDirectories: [],
    mirror: "https://ossci-datasets.s3.amazonaws.com/mnist",
    howToGet:
      "Put the four IDX files (train-images-idx3-ubyte[.gz], …) in a directory and pass "
      + "`--data-dir DIR` or set EXPERTSTREAM_DATA, or run `expertstream data fetch mnist "
      + "--data-dir DIR` on a machine with internet.",
    sampleShape: [1, 28, 28], classCount: 10, classNames: (0..<10).map(String.init),
    mean: [0.1307], standardDeviation: [0.3081])

  /// CIFAR-100, binary version.
  public static let cifar100 = DatasetDescriptor(
    name: "cifar100", title: "CIFAR-100: 50000 + 10000 colour 32×32 images, 100 (or 20) classes",
    files: [
      .init(name: "train.bin", sha256: nil, size: 50_000 * CIFAR100Reader.recordSize),
      .init(name: "test.bin", sha256: nil, size: 10_000 * CIFAR100Reader.recordSize),
    ],
    defaultDirectories: [],
    mirror: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    howToGet:
      "Unpack cifar-100-binary.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) into a "
      + "directory and pass `--data-dir DIR` or set EXPERTSTREAM_DATA, or run `expertstream "
      + "data fetch cifar100 --data-dir DIR` on a machine with internet.",
    sampleShape: [3, 32, 32], classCount: 100, classNames: cifar100FineNames,
    mean: [0.5071, 0.4865, 0.4409], standardDeviation: [0.2673, 0.2564, 0.2762])

  /// The datasets ExpertStream ships with.
  public static let builtIn = [fashionMNIST, mnist, cifar100]

  /// Every dataset: the built-in ones, then those the program registered (see
  /// ``register(_:)``) in order of registration.
  public static var all: [DatasetDescriptor] { builtIn + registered.withLock { $0 } }

  /// The descriptor named `name`.
  public static func descriptor(named name: String) throws -> DatasetDescriptor {
    guard let found = all.first(where: { $0.name == name }) else {
      throw DatasetError.unknownDataset(name, known: all.map(\.name))
    }
    return found
  }

  /// What `expertstream data list` says about `descriptor`: its title, where it was found
  /// (or where it was looked for and how to get it) and its files, one line each.
  ///
  /// - Throws: ``DatasetError`` other than a dataset not found or a data directory not usable.
  public static func availability(of descriptor: DatasetDescriptor, dataDirectory: String?)
    throws -> [String]
  {
    var lines = ["\(descriptor.name): \(descriptor.title)"]
    do {
      lines.append("  found in \(try locate(descriptor, dataDirectory: dataDirectory))")
    } catch let error as DatasetError {
      switch error {
      case .notFound(_, let searched, let howToGet):
        lines += [
          "  not found; looked in \(searched.joined(separator: ", "))", "  to get it: \(howToGet)",
        ]
      case .badDataDirectory(let directory, let setting, let reason):
        lines += [
          "  not usable from \(setting) \(directory): \(reason)",
          "  to get it: \(descriptor.howToGet)",
        ]
      default:
        throw error
      }
    }
    let checks =
      descriptor.files.allSatisfy { $0.sha256 != nil }
      ? "SHA-256 checked"
      : descriptor.files.allSatisfy { $0.size > 0 } ? "sizes checked" : "not checked"
    return lines + ["  files (\(checks)): " + descriptor.files.map(\.name).joined(separator: ", ")]
  }

  /// The directories searched for `descriptor`, in order.
  public static func searchDirectories(
    for descriptor: DatasetDescriptor, dataDirectory: String?,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> [String] {
    let roots = [dataDirectory, environment["EXPERTSTREAM_DATA"]].compactMap { $0 }
    return roots.flatMap { directories(under: $0, for: descriptor) } + descriptor.defaultDirectories
      + [
        (cacheDirectory(environment: environment) as NSString).appendingPathComponent(
          descriptor.name)
      ]
  }

  /// Where `descriptor`'s files may be in a directory the user named: the directory itself,
  /// its sub-directory named after the dataset (and CIFAR-100's own folder name).
  static func directories(under root: String, for descriptor: DatasetDescriptor) -> [String] {
    [root, (root as NSString).appendingPathComponent(descriptor.name)]
      + (descriptor.name == "cifar100"
        ? [(root as NSString).appendingPathComponent("cifar-100-binary")] : [])
  }

  /// Where `data fetch` stores datasets when no directory is given:
  /// `$XDG_CACHE_HOME/expertstream` or `~/.cache/expertstream`.
  public static func cacheDirectory(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> String {
    let base =
      environment["XDG_CACHE_HOME"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
    return (base as NSString).appendingPathComponent("expertstream")
  }

  /// Whether `root` (or its sub-directory named after the dataset) holds any file of the
  /// dataset `name`; `false` for an unknown name.
  public static func holdsFiles(of name: String, in root: String) -> Bool {
    guard let descriptor = try? descriptor(named: name) else { return false }
    return directories(under: root, for: descriptor).contains { directory in
      descriptor.files.contains { path(of: $0, in: directory) != nil }
    }
  }

  /// The path of `file` in `directory`, raw or `.gz`, if present.
  static func path(of file: DatasetDescriptor.File, in directory: String) -> String? {
    let base = (directory as NSString).appendingPathComponent(file.name)
    return [base, base + ".gz"].first { FileManager.default.fileExists(atPath: $0) }
  }

  /// The first searched directory holding every file of `descriptor`.
  ///
  /// A directory the user named (`dataDirectory`, `$EXPERTSTREAM_DATA`) must exist: a
  /// mistyped one is an error, never a silent fall-back to the default directories.
  /// - Throws: ``DatasetError/badDataDirectory(directory:setting:reason:)`` for a named
  ///   directory that does not exist or is not a directory;
  ///   ``DatasetError/notFound(dataset:searched:howToGet:)`` naming the dataset, the places
  ///   searched and how to get it.
  public static func locate(
    _ descriptor: DatasetDescriptor, dataDirectory: String?,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> String {
    for (setting, directory) in [
      ("--data-dir", dataDirectory), ("EXPERTSTREAM_DATA", environment["EXPERTSTREAM_DATA"]),
    ] {
      guard let directory else { continue }
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
        throw DatasetError.badDataDirectory(
          directory: directory, setting: setting, reason: "no such directory")
      }
      guard isDirectory.boolValue else {
        throw DatasetError.badDataDirectory(
          directory: directory, setting: setting, reason: "is a file, not a directory")
      }
    }
    func missing(in directory: String) -> [DatasetDescriptor.File] {
      descriptor.files.filter { path(of: $0, in: directory) == nil }
    }
    // A directory the user named that holds part of the dataset is an error, and so is a
    // --data-dir without it: the run must not quietly read another copy.
    for (setting, root) in [
      ("--data-dir", dataDirectory), ("EXPERTSTREAM_DATA", environment["EXPERTSTREAM_DATA"]),
    ] {
      guard let root else { continue }
      let candidates = directories(under: root, for: descriptor)
      if let complete = candidates.first(where: { missing(in: $0).isEmpty }) { return complete }
      if let partial = candidates.first(where: { missing(in: $0).count < descriptor.files.count }) {
        let names = missing(in: partial).map { "\($0.name)(.gz)" }.joined(separator: ", ")
        throw DatasetError.badDataDirectory(
          directory: root, setting: setting,
          reason: "\(partial) holds part of \(descriptor.name): \(names) missing (or a broken link)"
        )
      }
      if setting == "--data-dir" {
        throw DatasetError.badDataDirectory(
          directory: root, setting: setting,
          reason: "holds no \(descriptor.name) files, nor does its sub-directory \(descriptor.name)"
        )
      }
    }
    let directories = searchDirectories(
      for: descriptor, dataDirectory: dataDirectory, environment: environment)
    if let found = directories.first(where: { missing(in: $0).isEmpty }) { return found }
    throw DatasetError.notFound(
      dataset: descriptor.name, searched: directories.isEmpty ? ["(nowhere)"] : directories,
      howToGet: descriptor.howToGet)
  }

  /// Loads one split of the dataset named `name`.
  ///
  /// - Parameters:
  ///   - dataDirectory: `--data-dir`, searched first.
  ///   - labels: Fine or coarse labels (CIFAR-100 only).
  ///   - verifyChecksums: Whether to check each file's SHA-256 (or size) against the
  ///     official value.
  /// - Throws: ``DatasetError`` naming the dataset or file.
  public static func load(
    _ name: String, split: DatasetSplit, dataDirectory: String? = nil,
    labels: CIFARLabels = .fine, verifyChecksums: Bool = true,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> Dataset {
    let descriptor = try descriptor(named: name)
    let directory = try locate(descriptor, dataDirectory: dataDirectory, environment: environment)
    var official = true
    func read(_ file: DatasetDescriptor.File) throws -> (path: String, bytes: [UInt8]) {
      let path = path(of: file, in: directory)!
      let bytes = try readFileBytes(path)
      if verifyChecksums {
        official = try verify(bytes, file: file, path: path, dataset: descriptor.name) && official
      }
      return (path, bytes)
    }
    if descriptor.name == "cifar100" {
      let (path, bytes) = try read(descriptor.files[split == .train ? 0 : 1])
      let parsed = try CIFAR100Reader.parse(bytes, file: path, labels: labels)
      var dataset = try Dataset(
        name: name, split: split, sampleShape: descriptor.sampleShape, pixels: parsed.pixels,
        labels: parsed.labels, classCount: labels == .fine ? 100 : 20,
        classNames: labels == .fine ? descriptor.classNames : cifar100CoarseNames,
        mean: descriptor.mean, standardDeviation: descriptor.standardDeviation)
      dataset.source = DatasetSource(directory: directory, isOfficial: official && verifyChecksums)
      return dataset
    }
    let offset = split == .train ? 0 : 2
    let (imagesPath, imageBytes) = try read(descriptor.files[offset])
    let (labelsPath, labelBytes) = try read(descriptor.files[offset + 1])
    var dataset = try makeIDXDataset(
      name: name, split: split,
      images: try IDXArray(parsing: consume imageBytes, file: imagesPath, rank: 3),
      imagesPath: imagesPath,
      labels: try IDXArray(parsing: consume labelBytes, file: labelsPath, rank: 1),
      labelsPath: labelsPath, descriptor: descriptor)
    dataset.source = DatasetSource(directory: directory, isOfficial: official && verifyChecksums)
    return dataset
  }

  /// A dataset from parsed IDX images and labels, checked against each other.
  ///
  /// - Throws: ``DatasetError`` naming a file: images of the wrong shape, counts that
  ///   differ, no samples at all, or a label out of range.
  public static func makeIDXDataset(
    name: String, split: DatasetSplit, images: IDXArray, imagesPath: String, labels: IDXArray,
    labelsPath: String, descriptor: DatasetDescriptor
  ) throws -> Dataset {
    let expected = Array(descriptor.sampleShape.dropFirst())
    guard Array(images.dimensions.dropFirst()) == expected else {
      throw DatasetError.unexpectedShape(
        file: imagesPath, found: Array(images.dimensions.dropFirst()), expected: expected)
    }
    guard images.dimensions[0] == labels.dimensions[0] else {
      throw DatasetError.countMismatch(
        images: imagesPath, imageCount: images.dimensions[0], labels: labelsPath,
        labelCount: labels.dimensions[0])
    }
    guard images.dimensions[0] > 0 else { throw DatasetError.empty(file: imagesPath) }
    if let bad = labels.bytes.firstIndex(where: { Int($0) >= descriptor.classCount }) {
      throw DatasetError.labelOutOfRange(
        file: labelsPath, offset: 8 + bad, label: Int(labels.bytes[bad]),
        classes: descriptor.classCount)
    }
    return try Dataset(
      name: name, split: split, sampleShape: descriptor.sampleShape, pixels: images.bytes,
      labels: labels.bytes, classCount: descriptor.classCount, classNames: descriptor.classNames,
      mean: descriptor.mean, standardDeviation: descriptor.standardDeviation)
  }

  /// Checks decompressed bytes against a file's official SHA-256.
  ///
  /// A file of the official size must have the official checksum (else it is damaged, or
  /// another registered dataset's file of the same name, which the error says); a file of
  /// another size is the user's own data in the same format (a subset, generated test
  /// data) and is accepted.
  /// - Parameter dataset: The name of the dataset `file` belongs to.
  /// - Returns: Whether the file is the official one.
  @discardableResult
  static func verify(
    _ bytes: [UInt8], file: DatasetDescriptor.File, path: String, dataset: String
  ) throws -> Bool {
    guard bytes.count == file.size else { return false }
    guard let expected = file.sha256 else { return true }
    let found = SHA256.hexDigest(bytes)
    guard found == expected else {
      if let other = all.first(where: { descriptor in
        descriptor.files.contains { $0.name == file.name && $0.sha256 == found }
      }) {
        throw DatasetError.otherDataset(file: path, found: other.name, wanted: dataset)
      }
      throw DatasetError.checksumMismatch(file: path, expected: expected, found: found)
    }
    return true
  }

  /// Checks a downloaded file of `dataset`: it must be the official one.
  static func verifyDownload(
    _ bytes: [UInt8], file: DatasetDescriptor.File, url: String, dataset: String
  ) throws {
    guard try verify(bytes, file: file, path: url, dataset: dataset) else {
      throw DatasetError.downloadFailed(
        dataset: file.name, url: url,
        reason: "the file has \(bytes.count) bytes, the official one \(file.size)")
    }
  }

  private static func idxFiles(
    trainImages: String, trainLabels: String, testImages: String, testLabels: String
  ) -> [DatasetDescriptor.File] {
    DatasetDescriptor.idxFileNames.enumerated().map { index, name in
      .init(
        name: name, sha256: [trainImages, trainLabels, testImages, testLabels][index],
        size: [47_040_016, 60_008, 7_840_016, 10_008][index])
    }
  }
}

/// CIFAR-100's fine class names, in label order.
let cifar100FineNames =
  """
  apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus \
  butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch \
  crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo \
  keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse \
  mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy \
  porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper \
  snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television \
  tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm
  """.split(separator: " ").map(String.init)

/// CIFAR-100's coarse (superclass) names, in label order.
let cifar100CoarseNames =
  """
  aquatic_mammals fish flowers food_containers fruit_and_vegetables \
  household_electrical_devices household_furniture insects large_carnivores \
  large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores \
  medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1 \
  vehicles_2
  """.split(separator: " ").map(String.init)

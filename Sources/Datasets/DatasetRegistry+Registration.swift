import Foundation
import Synchronization

extension DatasetDescriptor {
  /// MNIST's four file names, training images first: the names every IDX dataset uses.
  public static let idxFileNames = [
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
  ]

  /// Writes one split of an IDX dataset into `directory` (created if missing) as its two raw
  /// files, named as MNIST's (``idxFileNames``): `labels.count` images of
  /// `imageHeight` × `imageWidth` bytes each, row-major in `images`, and their labels.
  ///
  /// - Throws: ``DatasetError/unwritable(file:reason:)`` naming the images file, before
  ///   anything is written, unless `images` holds `labels.count · imageHeight · imageWidth`
  ///   bytes; the same naming the directory or a file that cannot be written.
  public static func writeIDXSplit(
    _ split: DatasetSplit, images: [UInt8], labels: [UInt8], imageHeight: Int, imageWidth: Int,
    into directory: String
  ) throws {
    let first = split == .train ? 0 : 2
    let imageSize = imageHeight.multipliedReportingOverflow(by: imageWidth)
    guard imageHeight > 0, imageWidth > 0, !imageSize.overflow,
      images.count.quotientAndRemainder(dividingBy: imageSize.partialValue)
        == (labels.count, 0)
    else {
      throw DatasetError.unwritable(
        file: (directory as NSString).appendingPathComponent(idxFileNames[first]),
        reason: "\(images.count) image bytes are not \(labels.count) images of "
          + "\(imageHeight) × \(imageWidth)")
    }
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw DatasetError.unwritable(file: directory, reason: systemReason(error))
    }
    for (name, bytes) in [
      (
        idxFileNames[first],
        IDXArray.encode(images, dimensions: [labels.count, imageHeight, imageWidth])
      ),
      (idxFileNames[first + 1], IDXArray.encode(labels, dimensions: [labels.count])),
    ] {
      let path = (directory as NSString).appendingPathComponent(name)
      do {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
      } catch {
        throw DatasetError.unwritable(file: path, reason: systemReason(error))
      }
    }
  }

  /// A dataset of the program's own in MNIST's IDX format, for ``DatasetRegistry/register(_:)``:
  /// grey images with one byte per pixel and one byte per label, in four files named as
  /// MNIST's (``idxFileNames``, each raw or `.gz`).
  ///
  /// Its files have no official checksum or size: any IDX files of the declared image size
  /// are accepted, and their labels must lie in `0..<classNames.count`.
  /// - Parameters:
  ///   - name: The name scenarios give as `dataset.name`.
  ///   - title: A one-line description (`expertstream data list`).
  ///   - imageHeight: H of every [1, H, W] image.
  ///   - imageWidth: W of every [1, H, W] image.
  ///   - classNames: One name per class, in label order; their count is the class count.
  ///   - mean: The pixels' mean on the [0, 1] scale, for normalisation.
  ///   - standardDeviation: The pixels' standard deviation on the [0, 1] scale.
  ///   - directories: Searched after `--data-dir` and `EXPERTSTREAM_DATA`.
  ///   - howToGet: What the error of a missing dataset tells the user to do.
  public init(
    idxNamed name: String, title: String, imageHeight: Int, imageWidth: Int,
    classNames: [String], mean: Float, standardDeviation: Float, directories: [String] = [],
    howToGet: String
  ) {
    self.init(
      name: name, title: title,
      files: Self.idxFileNames.map { File(name: $0, sha256: nil, size: 0) },
      defaultDirectories: directories, mirror: "", howToGet: howToGet,
      sampleShape: [1, imageHeight, imageWidth], classCount: classNames.count,
      classNames: classNames, mean: [mean], standardDeviation: [standardDeviation])
  }
}

extension DatasetRegistry {
  /// The datasets a program registered, in order.
  static let registered = Mutex<[DatasetDescriptor]>([])

  /// Makes an IDX dataset of the program's own (see
  /// ``DatasetDescriptor/init(idxNamed:title:imageHeight:imageWidth:classNames:mean:standardDeviation:directories:howToGet:)``)
  /// a name scenarios may give as `dataset.name`, found and read as MNIST is.
  ///
  /// Registration is process-wide and safe from any thread; register before parsing the
  /// scenarios that name the dataset, and before restoring their checkpoints. Registering
  /// a name again replaces its descriptor.
  ///
  /// - Throws: ``DatasetError/badRegistration(dataset:reason:)`` for a built-in dataset's
  ///   name, a name that is empty or holds a comma or white space, images that are not
  ///   [1, H, W] with H, W in 1…4096, fewer than 2 or more than 256 classes, or a standard
  ///   deviation that is not positive.
  public static func register(_ descriptor: DatasetDescriptor) throws {
    func refuse(_ reason: String) -> DatasetError {
      .badRegistration(dataset: descriptor.name, reason: reason)
    }
    let name = descriptor.name
    guard !builtIn.contains(where: { $0.name == name }) else {
      throw refuse("it is a built-in dataset's name")
    }
    guard !name.isEmpty, !name.contains(","), !name.contains(where: \.isWhitespace) else {
      throw refuse("a name must be non-empty, with no comma or white space")
    }
    guard descriptor.files.map(\.name) == DatasetDescriptor.idxFileNames,
      descriptor.sampleShape.count == 3, descriptor.sampleShape[0] == 1,
      descriptor.sampleShape.dropFirst().allSatisfy({ (1...4096).contains($0) })
    else {
      throw refuse(
        "only IDX datasets of [1, H, W] images (H, W in 1…4096) can be registered; found "
          + "\(descriptor.sampleShape)")
    }
    guard (2...256).contains(descriptor.classCount),
      descriptor.classNames.count == descriptor.classCount
    else {
      throw refuse(
        "\(descriptor.classNames.count) class names: a dataset needs 2 to 256 classes, one "
          + "name each")
    }
    guard descriptor.mean.count == 1, descriptor.mean[0].isFinite,
      descriptor.standardDeviation.count == 1, descriptor.standardDeviation[0].isFinite,
      descriptor.standardDeviation[0] > 0
    else {
      throw refuse("the mean must be finite and the standard deviation finite and positive")
    }
    registered.withLock { entries in
      if let index = entries.firstIndex(where: { $0.name == name }) {
        entries[index] = descriptor
      } else {
        entries.append(descriptor)
      }
    }
  }
}

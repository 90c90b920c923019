import TensorCore

/// Which half of a dataset.
public enum DatasetSplit: String, Sendable, CaseIterable {
  /// The training samples.
  case train
  /// The test samples.
  case test
}

/// Labelled images kept as bytes, normalised batch by batch.
///
/// Samples are stored channel-major ([C, H, W] per sample, as PyTorch), so a batch is
/// [B, C, H, W] after normalisation `(pixel / 255 − mean[c]) / std[c]`.
public struct Dataset: Sendable {
  /// The registry name (`fashion-mnist`, `mnist`, `cifar100`) or a test's own.
  public let name: String
  /// Train or test.
  public let split: DatasetSplit
  /// [C, H, W] of one sample.
  public let sampleShape: [Int]
  /// N × C·H·W bytes.
  public let pixels: [UInt8]
  /// N labels in 0..<classCount.
  public let labels: [UInt8]
  /// K, the number of classes.
  public let classCount: Int
  /// A readable name per class (FashionMNIST's "T-shirt/top", …).
  public let classNames: [String]
  /// The per-channel mean subtracted after scaling pixels to [0, 1].
  public let mean: [Float]
  /// The per-channel standard deviation divided by.
  public let standardDeviation: [Float]
  /// Where the registry found the files, and whether they are the official release;
  /// `nil` for datasets built in memory.
  public var source: DatasetSource?

  /// A dataset from its parts.
  ///
  /// - Throws: ``DatasetError/unexpectedShape(file:found:expected:)`` when the byte count
  ///   does not match the labels and sample shape, or a label is out of range.
  public init(
    name: String, split: DatasetSplit, sampleShape: [Int], pixels: [UInt8], labels: [UInt8],
    classCount: Int, classNames: [String]? = nil, mean: [Float], standardDeviation: [Float]
  ) throws {
    let sampleSize = sampleShape.reduce(1, *)
    guard pixels.count == labels.count * sampleSize, mean.count == sampleShape.first,
      standardDeviation.count == sampleShape.first
    else {
      throw DatasetError.unexpectedShape(
        file: name, found: [pixels.count / max(sampleSize, 1)] + sampleShape,
        expected: [labels.count] + sampleShape)
    }
    if let bad = labels.firstIndex(where: { Int($0) >= classCount }) {
      throw DatasetError.labelOutOfRange(
        file: name, offset: bad, label: Int(labels[bad]), classes: classCount)
    }
    self.name = name
    self.split = split
    self.sampleShape = sampleShape
    self.pixels = pixels
    self.labels = labels
    self.classCount = classCount
    self.classNames = classNames ?? (0..<classCount).map(String.init)
    self.mean = mean
    self.standardDeviation = standardDeviation
  }

  /// N, the number of samples.
  public var count: Int { labels.count }

  /// The indices of the samples of each class, in dataset order.
  public func indicesByClass() -> [[Int]] {
    var result = [[Int]](repeating: [], count: classCount)
    for (index, label) in labels.enumerated() { result[Int(label)].append(index) }
    return result
  }

  /// The samples at `indices`, normalised, as [B, C, H, W], and their labels.
  ///
  /// - Parameters:
  ///   - augmentation: Random crops and flips applied per sample, drawn from `generator`
  ///     in sample order; `nil` for none.
  /// - Throws: ``TensorError/indexOutOfRange(operation:index:axis:shape:)`` for a bad index.
  public func batch(
    _ indices: [Int], augmentation: Augmentation? = nil,
    using generator: inout RandomGenerator
  ) throws -> (input: Tensor, labels: [Int]) {
    let sampleSize = sampleShape.reduce(1, *)
    let (channels, height, width) = (sampleShape[0], sampleShape[1], sampleShape[2])
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
      throw TensorError.indexOutOfRange(
        operation: "Dataset.batch", index: bad, axis: 0, shape: [count] + sampleShape)
    }
    let scales = standardDeviation.map { 1 / (255 * $0) }
    let shifts = zip(mean, standardDeviation).map { -$0 / $1 }
    // The draws in row order, as the generator gives them; then the rows on every thread.
    let placements = indices.map { _ in
      augmentation?.draw(height: height, width: width, using: &generator)
    }
    // Every element is written: each row's planes in full, padding as zero pixels.
    let input = try Tensor(shape: [indices.count] + sampleShape) { target in
      pixels.withUnsafeBufferPointer { source in
        Compute.parallelRanges(indices.count, minimumChunk: 32) { rows in
          for row in rows {
            let placement = placements[row]
            let from = source.baseAddress! + indices[row] * sampleSize
            let to = target.baseAddress! + row * sampleSize
            for channel in 0..<channels {
              let (scale, shift) = (scales[channel], shifts[channel])
              let plane = channel * height * width
              guard let placement else {
                for i in 0..<(height * width) {
                  to[plane + i] = Float(from[plane + i]) * scale + shift
                }
                continue
              }
              for y in 0..<height {
                let sourceY = y + placement.offsetY
                for x in 0..<width {
                  let sourceX =
                    placement.flipped ? width - 1 - x + placement.offsetX : x + placement.offsetX
                  let inside = sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width
                  // Padding is zero in pixel space, as torchvision pads before normalising.
                  let pixel = inside ? Float(from[plane + sourceY * width + sourceX]) : 0
                  to[plane + y * width + x] = pixel * scale + shift
                }
              }
            }
          }
        }
      }
    }
    return (input, indices.map { Int(labels[$0]) })
  }

  /// The samples at `indices`, normalised, without augmentation.
  public func batch(_ indices: [Int]) throws -> (input: Tensor, labels: [Int]) {
    var unused = RandomGenerator(seed: 0)
    return try batch(indices, augmentation: nil, using: &unused)
  }
}

/// Where a registry dataset was read from.
public struct DatasetSource: Sendable, Equatable {
  /// The directory holding the files.
  public let directory: String
  /// Whether every file matched the official release's checksum (false for subsets or
  /// generated files in the same format, and when checking was turned off).
  public let isOfficial: Bool
}

/// CIFAR-style augmentation: a random crop of the image padded by `padding` zero pixels
/// on every side, and a horizontal flip with probability one half.
public struct Augmentation: Sendable, Equatable {
  /// Zero pixels added on each side before cropping back to the original size.
  public var padding: Int
  /// Whether to flip horizontally half of the time.
  public var flips: Bool

  /// The paper's CIFAR augmentation: 4-pixel padding and flips.
  public init(padding: Int = 4, flips: Bool = true) {
    self.padding = padding
    self.flips = flips
  }

  /// Where one sample's crop starts (relative to the unpadded image) and whether it flips.
  struct Placement {
    let offsetY: Int
    let offsetX: Int
    let flipped: Bool
  }

  func draw(height: Int, width: Int, using generator: inout RandomGenerator) -> Placement {
    let span = UInt64(2 * padding + 1)
    let offsetY = Int(generator.next() % span) - padding
    let offsetX = Int(generator.next() % span) - padding
    let flipped = flips && generator.next() & 1 == 1
    return Placement(offsetY: offsetY, offsetX: offsetX, flipped: flipped)
  }
}

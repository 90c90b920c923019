import Foundation
import MoE
import TensorCore

/// The metrics of one paper run (a method and a seed), as the `--metrics-json` file's
/// `runs` and a sweep's records hold them: errors as fractions, entropies and mutual
/// information in bits, over the test set unless named `train_…`.
///
/// Non-finite numbers are written as `null` and read back as NaN.
public struct PaperMetrics: Codable, Sendable, Equatable {
  /// The method's name (``PaperMethod``).
  public var method: String
  /// The run's seed.
  public var seed: Int
  /// The numerics that produced the run (``BLAS/numericsDescription``).
  public var numerics: String
  /// The dataset's registry name; `nil` in records written before it was recorded.
  public var dataset: String?
  /// The most training samples the run held for later use: 0, as a paper run trains on
  /// one task; `nil` in records written before it was recorded.
  public var storedSamples: Int?
  /// Error on the whole training set, after training.
  public var trainError: Double
  /// Error on the test set.
  public var testError: Double
  /// Mean per-sample gate entropy, H_s.
  public var sampleEntropy: Double
  /// Entropy of the mean gate usage, H_u.
  public var usageEntropy: Double
  /// Mean entropy of p(expert | class).
  public var classEntropy: Double
  /// I(E;Y) with the true labels.
  public var mutualInformationTrue: Double
  /// I(E;Y) with the predicted labels.
  public var mutualInformationPredicted: Double
  /// p(expert | class): [experts, classes].
  public var decomposition: [[Double]]
  /// Samples per expert (top-1) and class: [experts, classes].
  public var counts: [[Int]]
  /// A timing: `nil` in a sweep record's metrics (the record keeps it under `timing`).
  public var secondsPerEpoch: Double?
  /// A timing, like ``secondsPerEpoch``.
  public var samplesPerSecond: Double?
  /// The mean training loss of every epoch.
  public var epochLosses: [Double]

  enum CodingKeys: String, CodingKey {
    case method, seed, numerics, decomposition, counts, dataset
    case storedSamples = "stored_samples"
    case trainError = "train_error"
    case testError = "test_error"
    case sampleEntropy = "H_s"
    case usageEntropy = "H_u"
    case classEntropy = "class_entropy"
    case mutualInformationTrue = "mi_true"
    case mutualInformationPredicted = "mi_pred"
    case secondsPerEpoch = "seconds_per_epoch"
    case samplesPerSecond = "samples_per_second"
    case epochLosses = "epoch_losses"
  }

  /// The metrics of `result`, with the numerics of this process.
  public init(_ result: PaperRunResult) {
    method = result.method.rawValue
    seed = Int(result.seed)
    numerics = BLAS.numericsDescription
    dataset = result.dataset
    storedSamples = 0
    trainError = result.train.error
    testError = result.test.error
    sampleEntropy = result.test.sampleEntropy
    usageEntropy = result.test.usageEntropy
    classEntropy = result.test.classEntropy
    mutualInformationTrue = result.test.mutualInformationTrue
    mutualInformationPredicted = result.test.mutualInformationPredicted
    decomposition = result.test.decomposition
    counts = result.test.counts
    secondsPerEpoch = result.secondsPerEpoch
    samplesPerSecond = result.samplesPerSecond
    epochLosses = result.epochLosses
  }

  // MARK: - Codable

  public init(from decoder: Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    method = try container.decode(String.self, forKey: .method)
    seed = try container.decode(Int.self, forKey: .seed)
    numerics = try container.decode(String.self, forKey: .numerics)
    dataset = try container.decodeIfPresent(String.self, forKey: .dataset)
    storedSamples = try container.decodeIfPresent(Int.self, forKey: .storedSamples)
    trainError = try container.decodeNumber(.trainError)
    testError = try container.decodeNumber(.testError)
    sampleEntropy = try container.decodeNumber(.sampleEntropy)
    usageEntropy = try container.decodeNumber(.usageEntropy)
    classEntropy = try container.decodeNumber(.classEntropy)
    mutualInformationTrue = try container.decodeNumber(.mutualInformationTrue)
    mutualInformationPredicted = try container.decodeNumber(.mutualInformationPredicted)
    decomposition = try container.decodeNumbers(.decomposition)
    counts = try container.decode([[Int]].self, forKey: .counts)
    secondsPerEpoch = try container.decodeIfPresent(Double.self, forKey: .secondsPerEpoch)
    samplesPerSecond = try container.decodeIfPresent(Double.self, forKey: .samplesPerSecond)
    epochLosses = try container.decodeNumbers(.epochLosses)
  }
}

import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

extension Checkpoint {
  // MARK: - Reading

  /// What `expertstream inspect` shows of a checkpoint.
  public struct Summary: Sendable {
    /// One expert.
    public struct ExpertSummary: Sendable {
      public var name: String
      public var kind: String
      public var parameterCount: Int
      public var frozen: Bool
      public var spawnedAtTask: Int
      public var frozenAtTask: Int?
      public var classes: [Int]
    }

    /// One task's record.
    public struct TaskSummary: Sendable {
      public var task: Int
      public var accuracyTaskIL: [Double]
      public var accuracyClassIL: [Double]
      public var decomposition: [[Double]]
      public var usageEntropy: Double
      public var classEntropy: Double
      public var routingForgetting: Double
      /// The share of test samples whose highest-weight expert holds their class (`nil` in
      /// files written before tool version 0.3).
      public var routingAccuracy: Double?
      public var events: String
      /// Class-IL accuracy with oracle routing on each task seen.
      public var oracleAccuracyClassIL: [Double]
      /// The share of test samples whose highest-weight expert is each expert.
      public var expertUsage: [Double]
      /// The mean training loss of each epoch of the task (empty in files written before
      /// tool version 0.2).
      public var epochLosses: [Double]
      /// Seconds spent training the task.
      public var trainingSeconds: Double
    }

    public var path: String
    public var formatVersion: Int
    public var toolVersion: String
    public var scenario: String
    public var scenarioHash: String
    public var policy: String
    /// The numerics that produced the file, such as `portable (OpenBLAS Haswell kernels)`;
    /// `nil` in files written before it was recorded.
    public var numerics: String?
    public var taskClasses: [[Int]]
    public var experts: [ExpertSummary]
    public var tasks: [TaskSummary]
  }

  /// Reads the summary of the checkpoint at `path`.
  ///
  /// Every part is checked before it is used: dimensions against the file's size and
  /// against each other (history tables against the task and expert counts), indices
  /// against what they index, probabilities against 0…1.
  ///
  /// - Throws: ``HDF5Error`` naming the file and object when it is not an HDF5 file, not an
  ///   ExpertStream checkpoint, of a newer format, missing a part, damaged (checksum
  ///   mismatch) or inconsistent.
  public static func summary(of path: String) throws -> Summary {
    try CheckpointReader(file: HDF5File.open(path)).summary()
  }
}

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
      /// Its key prefix in the model state, such as `experts.2`.
      public var name: String
      /// Its expert kind (`model.expert`, or the type of an expert added by hand).
      public var kind: String
      /// Its parameters, frozen or not.
      public var parameterCount: Int
      /// Whether its parameters were frozen when the file was written.
      public var frozen: Bool
      /// The task it was spawned for (from 0).
      public var spawnedAtTask: Int
      /// The last task finished when it was frozen (−1: before the first); `nil` while
      /// trainable.
      public var frozenAtTask: Int?
      /// The classes it may predict.
      public var classes: [Int]
    }

    /// One task's record.
    public struct TaskSummary: Sendable {
      /// The task (from 0).
      public var task: Int
      /// Task-IL accuracy on each task seen, after this one.
      public var accuracyTaskIL: [Double]
      /// Class-IL accuracy on each task seen, after this one.
      public var accuracyClassIL: [Double]
      /// p(expert | class) after the task, [experts][classes].
      public var decomposition: [[Double]]
      /// Entropy of the mean expert usage, in bits.
      public var usageEntropy: Double
      /// Mean entropy of p(expert | class), in bits.
      public var classEntropy: Double
      /// How far earlier classes' routing moved since their own task ended (mean total
      /// variation distance, in [0, 1]).
      public var routingForgetting: Double
      /// The share of test samples whose highest-weight expert holds their class (`nil` in
      /// files written before tool version 0.3).
      public var routingAccuracy: Double?
      /// The task's lifecycle events as text, such as `task 1: expert 1 spawned`.
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

    /// The file read.
    public var path: String
    /// The checkpoint format's version.
    public var formatVersion: Int
    /// The `expertstream` version that wrote it.
    public var toolVersion: String
    /// The scenario's name.
    public var scenario: String
    /// SHA-256 of the resolved scenario.
    public var scenarioHash: String
    /// The lifecycle policy's name.
    public var policy: String
    /// The numerics that produced the file, such as `portable (OpenBLAS Haswell kernels)`;
    /// `nil` in files written before it was recorded.
    public var numerics: String?
    /// The classes of every task of the stream, in order.
    public var taskClasses: [[Int]]
    /// The experts, in the mixture's order.
    public var experts: [ExpertSummary]
    /// The finished tasks, in order.
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

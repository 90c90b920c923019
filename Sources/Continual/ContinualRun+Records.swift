import Datasets
import Foundation
import MoE
import NN
import TensorCore

/// One expert's history in a continual run.
public struct ExpertRecord: Sendable, Equatable {
  /// The expert's index in the mixture.
  public var id: Int
  /// The first task it takes part in (0 for the initial experts; tasks count from 0).
  public var spawnedAtTask: Int
  /// The last task finished when it was frozen (-1: frozen before the first task), or `nil`
  /// while trainable.
  public var frozenAtTask: Int?
  /// The classes it was trained on (and may predict).
  public var classes: [Int]

  /// A record from its parts.
  public init(id: Int, spawnedAtTask: Int, frozenAtTask: Int?, classes: [Int]) {
    self.id = id
    self.spawnedAtTask = spawnedAtTask
    self.frozenAtTask = frozenAtTask
    self.classes = classes
  }
}

/// What happened after one task: the row of every accuracy matrix and the routing.
public struct TaskReport: Sendable {
  /// The task just trained.
  public var task: Int
  /// Task-incremental accuracy on each task seen so far.
  public var accuracyTaskIL: [Double]
  /// Class-incremental accuracy on each task seen so far.
  public var accuracyClassIL: [Double]
  /// Class-incremental accuracy with oracle routing (each sample sent to the experts that
  /// held its class when its task ended), per task seen so far.
  public var oracleAccuracyClassIL: [Double]
  /// Routing statistics on the test samples of every task seen so far (class-IL head).
  public var routing: RoutingStatistics
  /// Routing forgetting: the mean total-variation distance between each old class's
  /// p(e|y) when its task ended and now (0 after the first task).
  public var routingForgetting: Double
  /// Routing accuracy on the test samples of every task seen so far: the fraction whose
  /// highest-weight expert was trained on their class (their own task's expert).
  public var routingAccuracy: Double = 0
  /// Seconds spent training the task.
  public var trainingSeconds: Double
  /// The mean training loss of the task's last epoch.
  public var finalLoss: Double
  /// The mean training loss of each of the task's epochs, in order.
  public var epochLosses: [Double] = []
  /// Lifecycle events of this task.
  public var events: [LifecycleEvent]
  /// Task-IL accuracy on this task just before training on it, and of the untrained
  /// initial model: the two terms of forward transfer.
  public var forwardTransferTerms: (beforeTraining: Double, initialModel: Double) = (0, 0)

  /// A report from its parts (as restored from a checkpoint).
  public init(
    task: Int, accuracyTaskIL: [Double], accuracyClassIL: [Double],
    oracleAccuracyClassIL: [Double], routing: RoutingStatistics, routingForgetting: Double,
    trainingSeconds: Double, finalLoss: Double, events: [LifecycleEvent]
  ) {
    self.task = task
    self.accuracyTaskIL = accuracyTaskIL
    self.accuracyClassIL = accuracyClassIL
    self.oracleAccuracyClassIL = oracleAccuracyClassIL
    self.routing = routing
    self.routingForgetting = routingForgetting
    self.trainingSeconds = trainingSeconds
    self.finalLoss = finalLoss
    self.events = events
  }
}

/// Everything a continual run measured.
public struct ContinualResult: Sendable {
  /// The scenario's name.
  public var scenario: String
  /// The resolved scenario's hash.
  public var scenarioHash: String
  /// The policy run.
  public var policy: PolicyName
  /// The training seed.
  public var seed: Int
  /// The dataset's registry name (`fashion-mnist`, `mnist`, `cifar100`).
  public var dataset: String
  /// The most training samples of other tasks than the one being trained that the run held
  /// at once (its replay buffer, or the earlier tasks a joint run trains on again); 0 for a
  /// run that stores no sample.
  public var storedSamples: Int
  /// The classes of each task, in order.
  public var tasks: [[Int]]
  /// One report per task.
  public var reports: [TaskReport]
  /// The experts at the end.
  public var experts: [ExpertRecord]

  /// R[i][j]: task-IL accuracy on task j after task i (j ≤ i).
  public var accuracyMatrixTaskIL: [[Double]] { reports.map(\.accuracyTaskIL) }
  /// R[i][j]: class-IL accuracy on task j after task i (j ≤ i).
  public var accuracyMatrixClassIL: [[Double]] { reports.map(\.accuracyClassIL) }

  /// The mean accuracy over all tasks after the last.
  public static func averageAccuracy(_ matrix: [[Double]]) -> Double {
    guard let last = matrix.last, !last.isEmpty else { return 0 }
    return last.reduce(0, +) / Double(last.count)
  }

  /// Backward transfer: mean over earlier tasks of (final accuracy − accuracy just after
  /// the task); negative means forgetting. 0 for one task.
  public static func backwardTransfer(_ matrix: [[Double]]) -> Double {
    let count = matrix.count
    guard count > 1 else { return 0 }
    let terms = (0..<(count - 1)).map { matrix[count - 1][$0] - matrix[$0][$0] }
    return terms.reduce(0, +) / Double(terms.count)
  }

  /// Forward transfer (task-IL): mean over tasks after the first of (accuracy just before
  /// training on the task − accuracy of the untrained initial model on it). 0 for one task.
  public var forwardTransferTaskIL: Double {
    let terms = reports.dropFirst().map {
      $0.forwardTransferTerms.beforeTraining - $0.forwardTransferTerms.initialModel
    }
    return terms.isEmpty ? 0 : terms.reduce(0, +) / Double(terms.count)
  }

  /// Average forgetting: mean over earlier tasks of (best earlier accuracy − final).
  public static func forgetting(_ matrix: [[Double]]) -> Double {
    let count = matrix.count
    guard count > 1 else { return 0 }
    let terms = (0..<(count - 1)).map { task in
      (task..<(count - 1)).map { matrix[$0][task] }.max()! - matrix[count - 1][task]
    }
    return terms.reduce(0, +) / Double(terms.count)
  }
}

/// What a continual run reports while it works.
public enum ContinualProgress {
  /// A task started: index, count, its classes, the lifecycle events of the policy.
  case taskStarted(task: Int, of: Int, classes: [Int], events: [LifecycleEvent])
  /// A batch ended: task, epoch (from 1), batches done and per epoch, samples done in the
  /// epoch, running mean loss, seconds since the epoch started.
  case batch(
    task: Int, epoch: Int, done: Int, of: Int, samples: Int, loss: Double, seconds: Double)
  /// An epoch ended: task, epoch (from 1), epochs, mean loss, seconds, samples/s.
  case epoch(
    task: Int, epoch: Int, of: Int, loss: Double, seconds: Double, samplesPerSecond: Double)
  /// A task's evaluation is done.
  case taskFinished(TaskReport)
}

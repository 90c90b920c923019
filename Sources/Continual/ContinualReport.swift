import Foundation
import MoE
import TensorCore

extension ContinualResult {
  /// The `--metrics-json` record of this run, with the numerics that produced it.
  public var record: [String: Any] {
    let last = reports.last
    let oracle = last?.oracleAccuracyClassIL ?? []
    let isMixture = !PolicyName.baselines.contains(policy)
    return [
      "scenario": scenario,
      "scenario_hash": scenarioHash,
      "numerics": BLAS.numericsDescription,
      "policy": policy.rawValue,
      "seed": seed,
      "tasks": tasks,
      "accuracy_matrix_task_il": accuracyMatrixTaskIL,
      "accuracy_matrix_class_il": accuracyMatrixClassIL,
      "oracle_accuracy_matrix_class_il": reports.map(\.oracleAccuracyClassIL),
      "average_accuracy_task_il": Self.averageAccuracy(accuracyMatrixTaskIL),
      "average_accuracy_class_il": Self.averageAccuracy(accuracyMatrixClassIL),
      "bwt_task_il": Self.backwardTransfer(accuracyMatrixTaskIL),
      "bwt_class_il": Self.backwardTransfer(accuracyMatrixClassIL),
      "forgetting_task_il": Self.forgetting(accuracyMatrixTaskIL),
      "fwt_task_il": forwardTransferTaskIL,
      "forgetting_class_il": Self.forgetting(accuracyMatrixClassIL),
      "routing_forgetting": reports.map(\.routingForgetting).reduce(0, +)
        / Double(max(reports.count - 1, 1)),
      "routing_forgetting_per_task": reports.map(\.routingForgetting),
      "oracle_accuracy_class_il": oracle.isEmpty ? 0 : oracle.reduce(0, +) / Double(oracle.count),
      "routing_accuracy": isMixture ? (last?.routingAccuracy ?? 0) as Any : NSNull(),
      "routing_accuracy_per_task": isMixture ? reports.map(\.routingAccuracy) as Any : NSNull(),
      "experts": experts.map { expert -> [String: Any] in
        [
          "id": expert.id, "spawned_at_task": expert.spawnedAtTask,
          "frozen_at_task": expert.frozenAtTask.map { $0 as Any } ?? NSNull(),
          "classes": expert.classes,
        ]
      },
      "decompositions": reports.map(\.routing.decomposition),
      "expert_usage": reports.map(\.routing.usage),
      "usage_entropy": reports.map(\.routing.usageEntropy),
      "class_entropy": reports.map(\.routing.classEntropy),
      "training_seconds": reports.map(\.trainingSeconds),
      "lifecycle_events": reports.flatMap(\.events).map {
        ["task": $0.task, "expert": $0.expert, "event": $0.kind.rawValue] as [String: Any]
      },
    ]
  }
}

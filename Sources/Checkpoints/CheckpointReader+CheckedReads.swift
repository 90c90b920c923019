import Continual
import Datasets
import Foundation
import MoE
import NN
import TensorCore

extension CheckpointReader {
  // MARK: - Checked reads

  /// Float64 dataset `name` of `group`, of `shape` (any one-dimensional length when `nil`).
  func doubles(_ group: HDF5Group, _ name: String, shape: [Int]?, _ meaning: String)
    throws -> [Double]
  {
    let (found, values) = try group.readDoubles(name, exactType: true)
    try checkShape(found, shape, group.childPath(name), meaning)
    return values
  }

  /// Int64 dataset `name` of `group`, of `shape` (any one-dimensional length when `nil`).
  func integers(_ group: HDF5Group, _ name: String, shape: [Int]?, _ meaning: String)
    throws -> [Int]
  {
    let (found, values) = try group.readIntegers(name, exactType: true)
    try checkShape(found, shape, group.childPath(name), meaning)
    return values.map(Int.init)
  }

  /// The float64 dataset `name` when present (a part added to the schema after the file was
  /// written), else none: one-dimensional.
  func optionalDoubles(_ group: HDF5Group, _ name: String) throws -> [Double] {
    try group.memberNames().contains(name) ? doubles(group, name, shape: nil, "") : []
  }

  func checkShape(_ found: [Int], _ expected: [Int]?, _ path: String, _ meaning: String)
    throws
  {
    guard let expected else {
      guard found.count == 1 else {
        throw error(path, "has shape \(found), expected one dimension")
      }
      return
    }
    guard found != expected else { return }
    if found.count == 1, expected.count == 1 {
      throw error(path, "has \(found[0]) values, expected \(expected[0]) (\(meaning))")
    }
    throw error(path, "has shape \(found), expected \(expected) (\(meaning))")
  }

  func checkRange(_ values: [Int], _ range: Range<Int>, _ path: String, _ what: String)
    throws
  {
    if let bad = values.firstIndex(where: { !range.contains($0) }) {
      throw error(path, "value \(values[bad]) at index \(bad) is not \(what)")
    }
  }

  /// Checks that `values` are probabilities (or accuracies): within 0…1 up to rounding.
  func checkProbabilities(_ values: [Double], _ path: String) throws {
    let range = -Self.probabilityTolerance...(1 + Self.probabilityTolerance)
    if let bad = values.firstIndex(where: { !range.contains($0) }) {
      throw error(path, "value \(values[bad]) at index \(bad) is outside 0…1")
    }
  }

  /// Numeric attribute `name` of `group`, a probability.
  func probability(_ group: HDF5Group, _ name: String) throws -> Double {
    let value = try group.doubleAttribute(name)
    let range = -Self.probabilityTolerance...(1 + Self.probabilityTolerance)
    guard range.contains(value) else {
      throw error(group.path, "attribute \(name) is \(value), outside 0…1")
    }
    return value
  }
}

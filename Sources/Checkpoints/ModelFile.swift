import Foundation
import NN
import TensorCore

/// A trained model's file, `model.h5`: its state (weights and batch-norm statistics) as
/// `state/<key>` per tensor, and what produced it as root attributes.
///
/// The root holds the caller's attributes (strings), then `seed`, `test_error`,
/// `stored_samples`, `tool_version` and `numerics` (``BLAS/numericsDescription``). A sweep
/// writes one per paper run (see `SweepRunner`).
public enum ModelFile {
  /// Writes `model`'s state and the attributes to an HDF5 file at `path`, atomically.
  ///
  /// A file already at `path` is replaced whole, never left half-written.
  /// - Throws: ``HDF5Error`` naming `path` when the file cannot be written.
  public static func write(
    _ model: Module, to path: String, attributes: [String: String], seed: Int,
    testError: Double, storedSamples: Int, toolVersion: String
  ) throws {
    try HDF5File.createAtomically(path) { root in
      for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
        try root.setAttribute(name, value)
      }
      try root.setAttribute("seed", seed)
      try root.setAttribute("test_error", testError)
      try root.setAttribute("stored_samples", storedSamples)
      try root.setAttribute("tool_version", toolVersion)
      try root.setAttribute("numerics", BLAS.numericsDescription)
      let state = try root.group("state")
      for (key, tensor) in model.state() {
        try state.write(key, floats: tensor.values, shape: tensor.shape)
      }
    }
  }
}

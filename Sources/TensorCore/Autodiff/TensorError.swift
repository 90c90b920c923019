/// An error from a tensor operation: what the operation was given and what it expected.
public enum TensorError: Error, CustomStringConvertible, Equatable {
  /// Two operands whose shapes do not fit together.
  case shapeMismatch(operation: String, lhs: [Int], rhs: [Int], expected: String)
  /// One operand whose shape the operation cannot take.
  case invalidShape(operation: String, shape: [Int], expected: String)
  /// An index outside the range of its axis.
  case indexOutOfRange(operation: String, index: Int, axis: Int, shape: [Int])
  /// Any other argument the operation cannot take.
  case invalidArgument(operation: String, message: String)
  /// `backward()` called where it cannot run.
  case gradient(String)
  /// OpenBLAS could not be loaded.
  case blasUnavailable(String)

  public var description: String {
    switch self {
    case .shapeMismatch(let operation, let lhs, let rhs, let expected):
      return "\(operation): shapes \(lhs) and \(rhs) do not match (\(expected))"
    case .invalidShape(let operation, let shape, let expected):
      return "\(operation): shape \(shape) is invalid (\(expected))"
    case .indexOutOfRange(let operation, let index, let axis, let shape):
      return
        "\(operation): index \(index) is out of range for axis \(axis) of shape \(shape)"
    case .invalidArgument(let operation, let message):
      return "\(operation): \(message)"
    case .gradient(let message):
      return "backward: \(message)"
    case .blasUnavailable(let message):
      return message
    }
  }
}

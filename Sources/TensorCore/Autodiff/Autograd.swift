/// How an operation's result passes its gradient back to the operation's inputs.
struct GradientFunction {
  /// The operation's name, for error messages.
  let name: String
  /// The operation's inputs, in the order `backward` returns their gradients.
  let inputs: [Tensor]
  /// Given the gradient of the result, the gradient of each input (`nil` for inputs that
  /// do not require one). Runs with gradients disabled.
  let backward: (Tensor) throws -> [Tensor?]
}

/// Whether operations record themselves for ``Tensor/backward(_:)``.
public enum GradientMode {
  @TaskLocal static var enabled = true

  /// Whether operations on the current thread record themselves.
  public static var isEnabled: Bool { enabled }
}

/// Runs `body` with gradient recording off: results of operations inside have no history,
/// as for evaluation.
public func withGradientsDisabled<Result>(_ body: () throws -> Result) rethrows -> Result {
  try GradientMode.$enabled.withValue(false, operation: body)
}

extension Tensor {
  /// Wraps a freshly computed result, recording its gradient function when any input
  /// requires a gradient and recording is on.
  static func result(
    _ shape: [Int], _ storage: TensorStorage, inputs: [Tensor], name: String,
    backward: @escaping (Tensor) throws -> [Tensor?]
  ) -> Tensor {
    guard GradientMode.enabled, inputs.contains(where: { $0.requiresGrad }) else {
      return Tensor(shape: shape, storage: storage)
    }
    return Tensor(
      shape: shape, storage: storage,
      gradientFunction: GradientFunction(name: name, inputs: inputs, backward: backward))
  }

  /// Computes the gradient of this tensor with respect to every leaf that requires one,
  /// adding it to the leaf's ``grad``.
  ///
  /// Walks the recorded graph once, in reverse topological order. Gradients accumulate
  /// across calls; optimizers clear them.
  ///
  /// - Parameter seed: The gradient of some scalar with respect to this tensor; omit it
  ///   when this tensor is itself a one-element loss.
  /// - Throws: ``TensorError/gradient(_:)`` when this tensor has several elements and no
  ///   seed is given, or the seed's shape differs.
  public func backward(_ seed: Tensor? = nil) throws {
    let start: Tensor
    if let seed {
      guard seed.shape == shape else {
        throw TensorError.shapeMismatch(
          operation: "backward", lhs: shape, rhs: seed.shape,
          expected: "the seed must have the tensor's shape")
      }
      start = seed
    } else {
      guard count == 1 else {
        throw TensorError.gradient(
          "the tensor has shape \(shape); give a seed gradient for non-scalar tensors")
      }
      start = try Tensor(shape: shape, repeating: 1)
    }
    guard requiresGrad else {
      throw TensorError.gradient(
        "the tensor does not require a gradient: no input of its computation does")
    }
    let order = topologicalOrder()
    try withGradientsDisabled {
      var gradients: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): start]
      for node in order.reversed() {
        guard let gradient = gradients.removeValue(forKey: ObjectIdentifier(node)) else {
          continue
        }
        guard let function = node.gradientFunction else {
          node.grad = try node.grad.map { try $0 + gradient } ?? gradient
          continue
        }
        let inputGradients = try function.backward(gradient)
        for (input, inputGradient) in zip(function.inputs, inputGradients) {
          guard input.requiresGrad, let inputGradient else { continue }
          let key = ObjectIdentifier(input)
          gradients[key] = try gradients[key].map { try $0 + inputGradient } ?? inputGradient
        }
      }
    }
  }

  /// The tensors that lead to this one and require gradients, inputs before results.
  private func topologicalOrder() -> [Tensor] {
    var order: [Tensor] = []
    var visited: Set<ObjectIdentifier> = [ObjectIdentifier(self)]
    var stack: [(tensor: Tensor, nextInput: Int)] = [(self, 0)]
    while let (tensor, nextInput) = stack.last {
      let inputs = tensor.gradientFunction?.inputs ?? []
      if nextInput < inputs.count {
        stack[stack.count - 1].nextInput += 1
        let input = inputs[nextInput]
        if input.requiresGrad, visited.insert(ObjectIdentifier(input)).inserted {
          stack.append((input, 0))
        }
      } else {
        order.append(tensor)
        stack.removeLast()
      }
    }
    return order
  }

  /// The number of recorded operations behind this tensor (for leak checks and tests).
  public var graphSize: Int {
    var visited: Set<ObjectIdentifier> = []
    var pending = [self]
    while let tensor = pending.popLast() {
      guard let function = tensor.gradientFunction,
        visited.insert(ObjectIdentifier(tensor)).inserted
      else { continue }
      pending.append(contentsOf: function.inputs)
    }
    return visited.count
  }
}

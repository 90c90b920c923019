import Foundation
import TensorCore

#if arch(x86_64)
  import _Builtin_intrinsics.intel
#endif

/// An optimizer's complete state as a plain value: the step count and, per slot (such as
/// Adam's `"m"` and `"v"`), one buffer per parameter key.
///
/// Save it beside the model (checkpoints store it under the same dotted keys) and give it
/// back with ``Optimizer/state`` to resume exactly where training stopped.
public struct OptimizerState: Equatable, Sendable {
  /// The number of updates taken.
  public var step: Int
  /// Slot name → parameter key → buffer with the parameter's element count.
  public var slots: [String: [String: [Float]]]

  /// A state with `step` updates taken and the given buffers.
  public init(step: Int = 0, slots: [String: [String: [Float]]] = [:]) {
    self.step = step
    self.slots = slots
  }
}

/// Updates a model's trainable parameters from their gradients.
///
/// Only parameters that are trainable (not frozen) and have a gradient are touched; a
/// frozen parameter gets neither an update nor state.
public protocol Optimizer: AnyObject {
  /// The complete state; setting it restores a saved one.
  var state: OptimizerState { get set }
  /// Takes one step on `model`'s trainable parameters, using their gradients.
  func update(_ model: Module) throws
}

/// Stochastic gradient descent with optional momentum and weight decay, as PyTorch's
/// `torch.optim.SGD` (no dampening, no Nesterov).
///
/// With gradient g, g ← g + λ·p; buffer b ← g on the first step, else b ← μ·b + g;
/// p ← p − lr·b (or lr·g without momentum).
public final class SGD: Optimizer {
  /// The step size.
  public var learningRate: Float
  /// μ; 0 turns momentum off.
  public let momentum: Float
  /// λ, L2 weight decay added to the gradient.
  public let weightDecay: Float
  public var state = OptimizerState()

  /// An optimizer with the given settings.
  public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
  }

  public func update(_ model: Module) throws {
    state.step += 1
    for (key, parameter) in model.trainableParameters() {
      guard let gradient = parameter.grad else { continue }
      try checkGradient(gradient, of: parameter, key: key)
      let p = parameter.storage.pointer
      let g = gradient.storage.pointer
      let count = parameter.count
      let (lr, decay, mu) = (learningRate, weightDecay, momentum)
      if mu == 0 {
        for i in 0..<count { p[i] -= lr * (g[i] + decay * p[i]) }
        continue
      }
      let isNew = state.slots["momentum", default: [:]][key] == nil
      state.slots["momentum", default: [:]][key, default: [Float](repeating: 0, count: count)]
        .withUnsafeMutableBufferPointer { buffer in
          for i in 0..<count {
            let direction = g[i] + decay * p[i]
            buffer[i] = isNew ? direction : mu * buffer[i] + direction
            p[i] -= lr * buffer[i]
          }
        }
    }
  }
}

/// Adam, as PyTorch's `torch.optim.Adam` (L2 weight decay added to the gradient, not
/// decoupled).
///
/// With gradient g and step t: g ← g + λ·p; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
public final class Adam: Optimizer {
  /// The step size.
  public var learningRate: Float
  /// β₁, the first moment's decay.
  public let beta1: Float
  /// β₂, the second moment's decay.
  public let beta2: Float
  /// ε, added to the denominator.
  public let epsilon: Float
  /// λ, L2 weight decay added to the gradient.
  public let weightDecay: Float
  public var state = OptimizerState()

  /// An optimizer with PyTorch's defaults unless given.
  public init(
    learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
    epsilon: Float = 1e-8, weightDecay: Float = 0
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
  }

  public func update(_ model: Module) throws {
    state.step += 1
    let t = Float(state.step)
    let correction1 = 1 - Float.pow(beta1, t)
    let rootCorrection2 = (1 - Float.pow(beta2, t)).squareRoot()
    let stepSize = learningRate / correction1
    let (b1, b2, eps, decay) = (beta1, beta2, epsilon, weightDecay)
    for (key, parameter) in model.trainableParameters() {
      guard let gradient = parameter.grad else { continue }
      try checkGradient(gradient, of: parameter, key: key)
      let p = parameter.storage.pointer
      let g = gradient.storage.pointer
      let count = parameter.count
      var first =
        state.slots["m", default: [:]].removeValue(forKey: key)
        ?? [Float](repeating: 0, count: count)
      var second =
        state.slots["v", default: [:]].removeValue(forKey: key)
        ?? [Float](repeating: 0, count: count)
      first.withUnsafeMutableBufferPointer { m in
        second.withUnsafeMutableBufferPointer { v in
          let pointers = AdamBuffers(
            parameter: p, gradient: g, first: m.baseAddress!, second: v.baseAddress!)
          // Element-wise, so any split gives the same bits; four lanes at a time.
          Compute.parallelRanges(count, minimumChunk: 65_536) { range in
            typealias Lanes = SIMD4<Float>
            let (p, g, m, v) = (
              pointers.parameter, pointers.gradient, pointers.first, pointers.second
            )
            func load(_ pointer: UnsafeMutablePointer<Float>, _ i: Int) -> Lanes {
              UnsafeRawPointer(pointer + i).loadUnaligned(as: Lanes.self)
            }
            func store(_ lanes: Lanes, _ pointer: UnsafeMutablePointer<Float>, _ i: Int) {
              UnsafeMutableRawPointer(pointer + i).storeBytes(of: lanes, as: Lanes.self)
            }
            var i = range.lowerBound
            while i + Lanes.scalarCount <= range.upperBound {
              let weight = load(p, i)
              let direction = load(g, i) + decay * weight
              let moment = b1 * load(m, i) + (1 - b1) * direction
              let square = b2 * load(v, i) + (1 - b2) * direction * direction
              store(moment, m, i)
              store(square, v, i)
              store(
                weight - stepSize * moment / (squareRoot(square) / rootCorrection2 + eps), p, i)
              i += Lanes.scalarCount
            }
            while i < range.upperBound {
              let direction = g[i] + decay * p[i]
              m[i] = b1 * m[i] + (1 - b1) * direction
              v[i] = b2 * v[i] + (1 - b2) * direction * direction
              p[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
              i += 1
            }
          }
        }
      }
      state.slots["m"]![key] = first
      state.slots["v"]![key] = second
    }
  }
}

/// The lane-wise square root of `lanes` as one instruction where there is one: SIMD's own
/// `squareRoot()` compiles to a library call per lane. Correctly rounded either way.
@inline(__always)
private func squareRoot(_ lanes: SIMD4<Float>) -> SIMD4<Float> {
  #if arch(x86_64)
    _mm_sqrt_ps(lanes)
  #else
    lanes.squareRoot()
  #endif
}

/// The buffers one Adam update reads and writes, handed to the engine's threads (each
/// writes only its own range).
private struct AdamBuffers: @unchecked Sendable {
  let parameter: UnsafeMutablePointer<Float>
  let gradient: UnsafeMutablePointer<Float>
  let first: UnsafeMutablePointer<Float>
  let second: UnsafeMutablePointer<Float>
}

private func checkGradient(_ gradient: Tensor, of parameter: Tensor, key: String) throws {
  guard gradient.shape == parameter.shape else {
    throw ModuleError.shapeMismatch(key: key, expected: parameter.shape, found: gradient.shape)
  }
}

extension Float {
  fileprivate static func pow(_ base: Float, _ exponent: Float) -> Float {
    Float(Foundation.pow(Double(base), Double(exponent)))
  }
}

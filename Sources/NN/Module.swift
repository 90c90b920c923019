import TensorCore

/// A layer or model: owns tensors (parameters and statistics) and sub-modules, found by
/// walking its stored properties.
///
/// Subclass it and store layers and tensors as properties; nothing is registered by hand.
/// The walk follows `Tensor` and `Module` properties, arrays of them (so
/// `experts: [any Expert]` yields `experts.0.…`, `experts.1.…`) and optionals, through
/// superclasses too; properties whose names start with `_` are skipped. Keys are dotted
/// paths such as `experts.3.hidden.weight`, the names checkpoints and optimizer state use.
///
/// The walk is cached per module. A module whose ``reportsStructureChanges`` is true (every
/// built-in one) keeps its cache until it calls ``structureDidChange()``; any other module,
/// such as a user's expert, has its own properties re-read on every walk, so replacing one
/// of its sub-modules needs no call. A parent's cache is current only while every
/// sub-module's is, so a change anywhere in the tree reaches the walks above it.
///
/// Freezing clears `requiresGrad` on parameters: a frozen parameter gets no gradient, no
/// update and no optimizer state, and costs no gradient work.
open class Module {
  /// Whether the module is in training mode (batch statistics, running-statistics updates)
  /// rather than evaluation mode. Set it for a whole tree with ``train(_:)``.
  public private(set) var isTraining = true

  private var structureVersion = 0
  private var cachedWalk: Walk?
  private var walkGeneration = 0

  /// A module with no tensors yet; subclasses declare theirs as stored properties.
  public init() {}

  /// The names of this module's own tensors that are state but not parameters, such as
  /// batch normalisation's running statistics: saved and loaded, never trained.
  open var statisticNames: Set<String> { [] }

  /// Whether this module calls ``structureDidChange()`` whenever it replaces one of its own
  /// stored sub-modules or tensors, or changes an array of them, after its initialiser.
  ///
  /// True lets the walk trust its cache; false (the default) makes every walk re-read this
  /// module's properties, which finds any replacement at the cost of a reflection. Built-in
  /// modules return true; a module whose sub-modules and tensors are all `let` can too.
  open var reportsStructureChanges: Bool { false }

  /// Marks this module's cached walk, and so those of the modules holding it, as stale;
  /// call after replacing one of its stored sub-modules or tensors, or changing an array of
  /// them.
  public func structureDidChange() {
    structureVersion &+= 1
  }

  // MARK: - Discovery

  /// One tensor found by the walk.
  struct Entry {
    let key: String
    let tensor: Tensor
    let isParameter: Bool
  }

  /// A module's walk: its direct children, its tensors with dotted keys, and what it was
  /// built from, to tell when it is stale.
  private struct Walk {
    let children: [(name: String, child: Child)]
    let entries: [Entry]
    let structureVersion: Int
    /// Each sub-module's walk generation when this walk was built.
    let subWalkGenerations: [Int]
    let generation: Int
  }

  /// Every tensor of the tree in walk order (property declaration order, superclass first),
  /// with dotted keys.
  func entries() -> [Entry] {
    currentWalk().entries
  }

  /// This module's walk, rebuilt if this module or a sub-module changed since it was cached.
  private func currentWalk() -> Walk {
    if let walk = cachedWalk, isCurrent(walk) { return walk }
    let children = directChildren()
    var entries: [Entry] = []
    var subWalkGenerations: [Int] = []
    for (name, child) in children {
      switch child {
      case .tensor(let tensor):
        entries.append(
          Entry(key: name, tensor: tensor, isParameter: !statisticNames.contains(name)))
      case .module(let module):
        let subWalk = module.currentWalk()
        subWalkGenerations.append(subWalk.generation)
        for entry in subWalk.entries {
          entries.append(
            Entry(
              key: name + "." + entry.key, tensor: entry.tensor, isParameter: entry.isParameter))
        }
      }
    }
    walkGeneration &+= 1
    let walk = Walk(
      children: children, entries: entries, structureVersion: structureVersion,
      subWalkGenerations: subWalkGenerations, generation: walkGeneration)
    cachedWalk = walk
    return walk
  }

  private func isCurrent(_ walk: Walk) -> Bool {
    if reportsStructureChanges {
      guard walk.structureVersion == structureVersion else { return false }
    } else {
      let children = directChildren()
      guard children.count == walk.children.count,
        zip(children, walk.children).allSatisfy({ $0.name == $1.name && $0.child === $1.child })
      else { return false }
    }
    var generations = walk.subWalkGenerations.makeIterator()
    for case (_, .module(let module)) in walk.children {
      guard module.currentWalk().generation == generations.next() else { return false }
    }
    return true
  }

  private enum Child {
    case tensor(Tensor)
    case module(Module)

    static func === (lhs: Child, rhs: Child) -> Bool {
      switch (lhs, rhs) {
      case (.tensor(let a), .tensor(let b)): return a === b
      case (.module(let a), .module(let b)): return a === b
      default: return false
      }
    }
  }

  /// This module's own tensors and sub-modules, with their local (dotted for arrays) names.
  private func directChildren() -> [(name: String, child: Child)] {
    var mirrors: [Mirror] = []
    var mirror: Mirror? = Mirror(reflecting: self)
    while let current = mirror {
      mirrors.append(current)
      mirror = current.superclassMirror
    }
    var children: [(name: String, child: Child)] = []
    for mirror in mirrors.reversed() {
      for case (let label?, let value) in mirror.children where !label.hasPrefix("_") {
        Module.collect(value, name: label, into: &children)
      }
    }
    return children
  }

  private static func collect(
    _ value: Any, name: String, into children: inout [(name: String, child: Child)]
  ) {
    if let tensor = value as? Tensor {
      children.append((name, .tensor(tensor)))
    } else if let module = value as? Module {
      children.append((name, .module(module)))
    } else if let tensors = value as? [Tensor] {
      for (index, tensor) in tensors.enumerated() {
        children.append(("\(name).\(index)", .tensor(tensor)))
      }
    } else if let modules = value as? [Module] {
      for (index, module) in modules.enumerated() {
        children.append(("\(name).\(index)", .module(module)))
      }
    } else {
      let mirror = Mirror(reflecting: value)
      if mirror.displayStyle == .optional, let wrapped = mirror.children.first {
        collect(wrapped.value, name: name, into: &children)
      }
    }
  }

  /// The direct and indirect sub-modules, with their dotted keys; this module is `""`.
  public func namedModules() -> [(key: String, module: Module)] {
    var result: [(key: String, module: Module)] = [("", self)]
    for case (let name, .module(let module)) in currentWalk().children {
      for (key, descendant) in module.namedModules() {
        result.append((key.isEmpty ? name : name + "." + key, descendant))
      }
    }
    return result
  }

  // MARK: - Parameters and state

  /// The trainable-or-frozen parameters (weights, biases), with dotted keys.
  public func parameters() -> [(key: String, tensor: Tensor)] {
    entries().filter(\.isParameter).map { ($0.key, $0.tensor) }
  }

  /// The parameters that are not frozen: those an optimizer updates.
  public func trainableParameters() -> [(key: String, tensor: Tensor)] {
    entries().filter { $0.isParameter && $0.tensor.requiresGrad }.map { ($0.key, $0.tensor) }
  }

  /// Every tensor a checkpoint saves: parameters and statistics, with dotted keys.
  public func state() -> [(key: String, tensor: Tensor)] {
    entries().map { ($0.key, $0.tensor) }
  }

  /// The number of parameter elements (frozen ones included).
  public var parameterCount: Int {
    parameters().reduce(0) { $0 + $1.tensor.count }
  }

  /// Copies `values` into this module's tensors, key by key.
  ///
  /// Nothing is written unless every key matches: a key of the module with no value, a
  /// value with no key in the module, or a shape mismatch throws ``ModuleError`` naming
  /// the key.
  public func loadState(_ values: [String: Tensor]) throws {
    let entries = entries()
    let known = Set(entries.map(\.key))
    if let missing = entries.first(where: { values[$0.key] == nil }) {
      throw ModuleError.missingKey(missing.key)
    }
    if let unused = values.keys.sorted().first(where: { !known.contains($0) }) {
      throw ModuleError.unusedKey(unused)
    }
    for entry in entries where values[entry.key]!.shape != entry.tensor.shape {
      throw ModuleError.shapeMismatch(
        key: entry.key, expected: entry.tensor.shape, found: values[entry.key]!.shape)
    }
    for entry in entries {
      try entry.tensor.assign(values[entry.key]!)
    }
  }

  /// Clears the gradients of every parameter.
  public func zeroGradients() {
    for entry in entries() { entry.tensor.grad = nil }
  }

  // MARK: - Copying

  /// An independent copy: the same type, keys, shapes, values, frozen parameters and modes,
  /// with storage of its own, so training one leaves the other unchanged.
  ///
  /// Gradients and the autodiff graph are not copied.
  /// - Throws: ``ModuleError/notCopyable(_:)`` naming the first module of the tree that
  ///   does not override ``makeCopy()``.
  public func copy() throws -> Self {
    let made = try makeCopy()
    guard let copy = made as? Self else {
      throw ModuleError.invalidConfiguration(
        "\(type(of: self)).makeCopy() made a \(type(of: made)), not a \(type(of: self))")
    }
    let (source, target) = (entries(), copy.entries())
    guard source.map(\.key) == target.map(\.key),
      zip(source, target).allSatisfy({ $0.tensor.shape == $1.tensor.shape })
    else {
      throw ModuleError.invalidConfiguration(
        "\(type(of: self)).makeCopy() made a module with other keys or shapes")
    }
    for (from, to) in zip(source, target) {
      try to.tensor.assign(from.tensor)
      to.tensor.requiresGrad = from.tensor.requiresGrad
    }
    for (from, to) in zip(namedModules(), copy.namedModules()) {
      to.module.isTraining = from.module.isTraining
    }
    return copy
  }

  /// A new module of this one's type and structure (the same keys and shapes), built from
  /// copies of its sub-modules; ``copy()`` then gives it this module's values and flags.
  ///
  /// Every built-in module overrides it. Override it in your own module to make it, and
  /// mixtures holding it, copyable; the default throws ``ModuleError/notCopyable(_:)``.
  open func makeCopy() throws -> Module {
    throw ModuleError.notCopyable(String(describing: type(of: self)))
  }

  // MARK: - Freezing and mode

  /// Freezes every parameter of this module and its sub-modules: no gradients, no updates.
  ///
  /// The mode is ``train(_:)``'s alone: a frozen module in training mode still moves its
  /// batch-normalisation statistics; call `train(false)` to fix them too.
  public func freeze() {
    for (_, parameter) in parameters() {
      parameter.requiresGrad = false
      parameter.grad = nil
    }
  }

  /// Makes every parameter of this module and its sub-modules trainable again.
  public func unfreeze() {
    for (_, parameter) in parameters() { parameter.requiresGrad = true }
  }

  /// Whether every parameter of this module is frozen (true for a module without any).
  public var isFrozen: Bool {
    parameters().allSatisfy { !$0.tensor.requiresGrad }
  }

  /// Puts this module and its sub-modules in training (`true`: batch statistics, which
  /// batch normalisation also accumulates) or evaluation mode (running statistics).
  ///
  /// Whether parameters are frozen is ``freeze()``'s alone.
  open func train(_ training: Bool = true) {
    for (_, module) in namedModules() { module.isTraining = training }
  }
}

/// A module that maps one tensor to one tensor.
public protocol UnaryLayer: Module {
  /// Applies the layer.
  func callAsFunction(_ input: Tensor) throws -> Tensor
}

/// An error loading or building a module.
public enum ModuleError: Error, CustomStringConvertible, Equatable {
  /// The module has a tensor at `key` that the loaded values lack.
  case missingKey(String)
  /// The loaded values have `key`, which the module does not.
  case unusedKey(String)
  /// The loaded tensor at `key` has the wrong shape.
  case shapeMismatch(key: String, expected: [Int], found: [Int])
  /// A layer was configured with a value it cannot take.
  case invalidConfiguration(String)
  /// The module type named does not override ``Module/makeCopy()``.
  case notCopyable(String)

  public var description: String {
    switch self {
    case .missingKey(let key): return "no value for the module's tensor '\(key)'"
    case .unusedKey(let key): return "'\(key)' is not a tensor of the module"
    case .shapeMismatch(let key, let expected, let found):
      return "'\(key)': shape \(found) does not match the module's \(expected)"
    case .invalidConfiguration(let message): return message
    case .notCopyable(let type):
      return "\(type) cannot be copied: it does not override makeCopy()"
    }
  }
}

import Continual
import Datasets
import Foundation
import MoE

/// What went wrong with a sweep: its file, its output directory or its processes.
public enum SweepError: Error, CustomStringConvertible, Equatable {
  /// The sweep file is wrong at `field`.
  case invalid(file: String, field: String, message: String)
  /// Another sweep holds the output directory.
  case locked(directory: String, message: String)
  /// MPI failed.
  case messagePassing(String)

  public var description: String {
    switch self {
    case .invalid(let file, let field, let message):
      return field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)"
    case .locked(let directory, let message):
      return "\(directory): \(message)"
    case .messagePassing(let message):
      return "MPI: \(message)"
    }
  }
}

/// One run of a sweep: a method or policy, a seed and scenario overrides.
public struct SweepRun: Sendable, Equatable {
  /// The run's position in the grid (the order of `results.jsonl`).
  public let index: Int
  /// Stable across processes, ranks and restarts: a readable prefix and the first 8 hex
  /// digits of SHA-256 over the resolved scenario's hash and the method.
  public let id: String
  /// The paper method (paper scenarios) or lifecycle policy (continual scenarios).
  public let variant: String
  /// `training.seed`.
  public let seed: Int
  /// The sweep's `set` and this run's axis values, as `key.path=JSON` overrides (the
  /// seed and policy included), in a fixed order.
  public let overrides: [String]
  /// The axis values other than method, policy and seed, by field.
  public let axisValues: [(field: String, value: String)]
  /// The named variant of the sweep's `variants` the run belongs to, if it has any.
  public var configuration: String? = nil
  /// The run's scenario: the sweep's scenario with the run's overrides, seed and policy
  /// (what `Scenario.load` gives for the scenario file and ``overrides``).
  public let scenario: Scenario

  public static func == (a: SweepRun, b: SweepRun) -> Bool {
    a.index == b.index && a.id == b.id && a.overrides == b.overrides
  }

  /// The settings that define the run, as `results.jsonl` records them.
  public var settings: [String: Any] {
    var object: [String: Any] = ["seed": seed, "variant": variant]
    if let configuration { object["configuration"] = configuration }
    object["set"] = Dictionary(uniqueKeysWithValues: axisValues.map { ($0.field, $0.value) })
    return object
  }

  /// The settings without the seed: runs that differ only in seed share a group.
  public var group: String {
    ([configuration == variant ? nil : configuration, variant].compactMap { $0 }
      + axisValues.map { "\($0.field)=\($0.value)" }).joined(separator: ", ")
  }
}

/// A sweep file, validated and expanded into its grid of runs.
///
/// ```json
/// {
///   "name": "sweep-quick",
///   "scenario": "quick.json",
///   "set": {"training.epochs": 1},
///   "axes": {"policy": ["spawn-and-freeze", "shared"], "seed": [0, 1],
///            "training.optimizer.learning_rate": [0.001, 0.002]}
/// }
/// ```
/// `scenario` is relative to the sweep file. `variants` (optional) names configurations
/// that are not a grid, each an object of field paths and values like `set`; every axis
/// is crossed with each of them, and a variant that sets `lifecycle.policy` (or
/// `paper.methods`) runs that policy unless the `policy` axis is given. Axes: `seed` (a list, or a count n for
/// training.seed + 0..<n), `method` (paper scenarios) or `policy` (continual scenarios),
/// and any scenario field with a list of values. The grid is the product of the axes:
/// method or policy outermost, other fields by name, seed innermost.
public struct SweepPlan {
  /// The sweep's name (default: the file's name without `.json`).
  public let name: String
  /// The sweep file.
  public let file: String
  /// The base scenario file, resolved against the sweep file's directory.
  public let scenarioPath: String
  /// The base scenario with the sweep's `set` applied.
  public let base: Scenario
  /// Whether the runs are continual or paper comparisons.
  public var mode: Scenario.Mode { base.mode }
  /// The runs, in grid order.
  public let runs: [SweepRun]

  static let topLevelKeys = ["name", "scenario", "set", "variants", "axes"]

  /// Reads, validates and expands the sweep file at `path`.
  ///
  /// The scenario file is read once; every run's scenario is decoded from it here, with
  /// the run's overrides, seed and policy, so a bad axis field or value fails before
  /// anything starts.
  /// - Throws: ``SweepError/invalid(file:field:message:)`` naming the file and field.
  public static func load(_ path: String) throws -> SweepPlan {
    let root: Any
    do {
      root = try JSONFile.read(path)
    } catch let error as ScenarioError {
      let location = error.line.map { "\(path):\($0):\(error.column ?? 1)" } ?? path
      throw SweepError.invalid(file: location, field: error.path, message: error.message)
    }
    func fail(_ field: String, _ message: String) -> SweepError {
      .invalid(file: path, field: field, message: message)
    }
    guard let object = root as? [String: Any] else {
      throw fail("", "expected a JSON object")
    }
    for key in object.keys.sorted() where !topLevelKeys.contains(key) {
      throw fail(key, "unknown field; expected one of \(topLevelKeys.joined(separator: ", "))")
    }
    guard let scenarioName = object["scenario"] as? String else {
      throw fail("scenario", "expected the path of a scenario file (relative to the sweep file)")
    }
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
    let scenarioPath =
      scenarioName.hasPrefix("/")
      ? scenarioName : directory.appendingPathComponent(scenarioName).relativePath
    let name =
      try (object["name"]).map { value -> String in
        guard let name = value as? String, !name.isEmpty, !name.contains("/") else {
          throw fail("name", "expected a non-empty string without '/'")
        }
        return name
      } ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    guard let fixed = (object["set"] ?? [String: Any]()) as? [String: Any] else {
      throw fail("set", "expected an object of field paths and values")
    }
    /// `fields` as `key.path=JSON` overrides in key order; errors name `field.key`.
    func overrides(_ fields: [String: Any], field: String) throws -> [String] {
      try fields.keys.sorted().map { key in
        "\(key)=\(try jsonText(fields[key]!, field: "\(field).\(key)", fail: fail))"
      }
    }
    let fixedOverrides = try overrides(fixed, field: "set")
    let document: Scenario.Document
    let base: Scenario
    do {
      document = try Scenario.Document(contentsOf: scenarioPath)
      base = try document.scenario(overrides: fixedOverrides)
    } catch let error as ScenarioError {
      throw fail(error.file == "--set" ? "set" : "scenario", error.description)
    }
    guard let axes = (object["axes"] ?? [String: Any]()) as? [String: Any] else {
      throw fail("axes", "expected an object of axis names and lists of values")
    }
    let variantKey = base.mode == .paper ? "method" : "policy"
    let wrongVariant = base.mode == .paper ? "policy" : "method"
    if axes[wrongVariant] != nil {
      throw fail(
        "axes.\(wrongVariant)",
        "\(base.mode.rawValue) scenarios vary the \(variantKey), not the \(wrongVariant)")
    }
    func list(_ key: String) throws -> [Any]? {
      guard let value = axes[key] else { return nil }
      guard let values = value as? [Any] else {
        throw fail("axes.\(key)", "expected a list of values")
      }
      guard !values.isEmpty else {
        throw fail("axes.\(key)", "the list is empty, so the grid has no runs")
      }
      return values
    }
    let known =
      base.mode == .paper
      ? PaperMethod.allCases.map(\.rawValue) : PolicyName.known.map(\.rawValue)
    let listedVariants: [String]? =
      try (list(variantKey)).map { values in
        try values.enumerated().map { index, value in
          guard let name = value as? String, known.contains(name) else {
            throw fail(
              "axes.\(variantKey)[\(index)]",
              "expected one of \(known.joined(separator: ", ")), got \(value)")
          }
          return name
        }
      }
    /// The methods or policies a configuration runs: the axis's, else its scenario's own.
    func variants(of scenario: Scenario) -> [String] {
      listedVariants
        ?? (base.mode == .paper
          ? scenario.paper.methods.map(\.rawValue) : [scenario.lifecycle.policy.rawValue])
    }
    guard let namedObject = (object["variants"] ?? [String: Any]()) as? [String: Any] else {
      throw fail("variants", "expected an object of names and objects of field paths and values")
    }
    var configurations: [(name: String?, overrides: [String], variants: [String])] = []
    for name in namedObject.keys.sorted() {
      guard let fields = namedObject[name] as? [String: Any] else {
        throw fail("variants.\(name)", "expected an object of field paths and values")
      }
      let variantOverrides = try fixedOverrides + overrides(fields, field: "variants.\(name)")
      let scenario: Scenario
      do {
        scenario = try document.scenario(overrides: variantOverrides)
      } catch let error as ScenarioError {
        throw fail("variants.\(name)", error.description)
      }
      configurations.append((name, variantOverrides, variants(of: scenario)))
    }
    if configurations.isEmpty {
      configurations = [(nil, fixedOverrides, variants(of: base))]
    }
    let seeds: [Int]
    if let count = integer(axes["seed"]) {
      guard count >= 1 else { throw fail("axes.seed", "a count of seeds must be ≥ 1") }
      seeds = (0..<count).map { base.training.seed + $0 }
    } else if let values = try list("seed") {
      seeds = try values.enumerated().map { index, value in
        guard let seed = integer(value), seed >= 0 else {
          throw fail("axes.seed[\(index)]", "expected an integer ≥ 0, got \(value)")
        }
        return seed
      }
    } else {
      seeds = [base.training.seed]
    }
    let fields = axes.keys.filter { $0 != "seed" && $0 != variantKey }.sorted()
    var fieldValues: [[(field: String, value: String)]] = []
    for field in fields {
      let values = try list(field)!
      fieldValues.append(
        try values.enumerated().map { index, value in
          (field, try jsonText(value, field: "axes.\(field)[\(index)]", fail: fail))
        })
    }
    var combinations: [[(field: String, value: String)]] = [[]]
    for values in fieldValues {
      combinations = combinations.flatMap { prefix in values.map { prefix + [$0] } }
    }
    var runs: [SweepRun] = []
    var seen: [String: Int] = [:]
    for configuration in configurations {
      for variant in configuration.variants {
        for combination in combinations {
          for seed in seeds {
            let settings = configuration.overrides + combination.map { "\($0.field)=\($0.value)" }
            var overrides = settings + ["training.seed=\(seed)"]
            if base.mode != .paper { overrides.append("lifecycle.policy=\"\(variant)\"") }
            var scenario: Scenario
            do {
              scenario = try document.scenario(overrides: settings)
              let allowed = Scenario.TrainingSettings.seeds
              guard allowed.contains(seed) else {
                throw ScenarioError.outOfRange(
                  seed, allowed, file: scenarioPath, path: "training.seed")
              }
              scenario.training.seed = seed
              if base.mode != .paper { scenario.lifecycle.policy = PolicyName(rawValue: variant) }
            } catch let error as ScenarioError {
              let field = combination.first { error.path.hasPrefix($0.field) }?.field
              throw fail(
                field.map { "axes.\($0)" } ?? "axes",
                "\(error.description) (run \(configuration.name.map { "\($0), " } ?? "")\(variant), seed \(seed)"
                  + combination.map { ", \($0.field)=\($0.value)" }.joined() + ")")
            }
            let readable =
              ([configuration.name == variant ? nil : configuration.name, variant, "seed\(seed)"]
              .compactMap { $0 }
              + combination.map { "\($0.field)=\($0.value)" })
              .joined(separator: "_")
            let digest = SHA256.hexDigest(Array("\(scenario.hash) \(variant)".utf8))
            let id = safeName(readable) + "_" + String(digest.prefix(8))
            if let earlier = seen[id] {
              throw fail(
                "axes",
                "duplicate run id \(id): runs \(earlier + 1) and \(runs.count + 1) have the same "
                  + "settings (a value repeated in an axis?)")
            }
            seen[id] = runs.count
            runs.append(
              SweepRun(
                index: runs.count, id: id, variant: variant, seed: seed, overrides: overrides,
                axisValues: combination, configuration: configuration.name, scenario: scenario))
          }
        }
      }
    }
    return SweepPlan(
      name: name, file: path, scenarioPath: scenarioPath, base: base, runs: runs)
  }

  /// `value` as an integer, or `nil` for anything else (booleans and fractions included).
  private static func integer(_ value: Any?) -> Int? {
    guard let number = value as? NSNumber, String(cString: number.objCType) != "c",
      let integer = Int(exactly: number.doubleValue)
    else { return nil }
    return integer
  }

  /// `value` as JSON text (a `--set` value).
  private static func jsonText(
    _ value: Any, field: String, fail: (String, String) -> SweepError
  ) throws -> String {
    guard
      let data = try? JSONSerialization.data(
        withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]),
      let text = String(data: data, encoding: .utf8)
    else {
      throw fail(field, "not a JSON value")
    }
    return text
  }

  /// `text` with every character other than letters, digits and `.+-=` replaced by `-`.
  private static func safeName(_ text: String) -> String {
    String(
      text.map { character in
        character.isLetter || character.isNumber || ".+-=_".contains(character) ? character : "-"
      })
  }
}

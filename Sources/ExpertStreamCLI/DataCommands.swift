import Checkpoints
import Continual
import Datasets
import ExpertStream
import Foundation
import MoE
import NN
import TensorCore

extension DatasetError: UserInputError {}
extension ScenarioError: UserInputError {}
extension HDF5Error: UserInputError {}

/// `expertstream data list`: each dataset, where it was found or how to get it.
struct DataListCommand: Command {
  static let configuration = CommandConfiguration(
    name: "data list",
    summary: "Show each dataset, where it was found, or what to do to get it.",
    usage: ["data list [--data-dir DIR]"],
    options: [
      .option("--data-dir", "DIR", "Look here first (then $EXPERTSTREAM_DATA, then defaults).")
    ],
    examples: ["expertstream data list --data-dir ~/datasets"])

  let dataDirectory: String?

  init(_ arguments: ParsedArguments) throws {
    dataDirectory = arguments.value("--data-dir")
  }

  func run(_ console: Console) throws {
    for descriptor in DatasetRegistry.all {
      console.print("\(descriptor.name): \(descriptor.title)")
      do {
        let directory = try DatasetRegistry.locate(descriptor, dataDirectory: dataDirectory)
        console.print("  found in \(directory)")
      } catch let error as DatasetError {
        switch error {
        case .notFound(_, let searched, let howToGet):
          console.print("  not found; looked in \(searched.joined(separator: ", "))")
          console.print("  to get it: \(howToGet)")
        case .badDataDirectory(let directory, let setting, let reason):
          console.print("  not usable from \(setting) \(directory): \(reason)")
          console.print("  to get it: \(descriptor.howToGet)")
        default:
          throw error
        }
      }
      let checks =
        descriptor.files.allSatisfy { $0.sha256 != nil } ? "SHA-256 checked" : "sizes checked"
      console.print("  files (\(checks)): " + descriptor.files.map(\.name).joined(separator: ", "))
    }
  }
}

/// `expertstream data fetch NAME`: downloads a dataset from its usual mirror.
struct DataFetchCommand: Command {
  static let configuration = CommandConfiguration(
    name: "data fetch",
    summary: "Download a dataset from its public mirror into the data directory.",
    usage: ["data fetch NAME [--data-dir DIR]"],
    options: [
      .option(
        "--data-dir", "DIR",
        "Where to put it (default $EXPERTSTREAM_DATA, else ~/.cache/expertstream).")
    ],
    examples: ["expertstream data fetch mnist --data-dir ~/data"],
    positionals: 1...1)

  let descriptor: DatasetDescriptor
  let directory: String

  init(_ arguments: ParsedArguments) throws {
    let name = arguments.positionals[0]
    do {
      descriptor = try DatasetRegistry.descriptor(named: name)
    } catch {
      throw UsageError(
        "unknown dataset '\(name)'",
        hint: "one of: " + DatasetRegistry.all.map(\.name).joined(separator: ", "))
    }
    directory =
      arguments.value("--data-dir") ?? ProcessInfo.processInfo.environment["EXPERTSTREAM_DATA"]
      ?? DatasetRegistry.cacheDirectory()
  }

  func run(_ console: Console) throws {
    let target = try DatasetRegistry.fetch(descriptor, into: directory) { console.print($0) }
    console.print("\(descriptor.name): downloaded and checked into \(target)")
  }
}

/// `expertstream scenario check FILE`: validates a scenario and shows it resolved.
struct ScenarioCheckCommand: Command {
  static let configuration = CommandConfiguration(
    name: "scenario check",
    summary: "Validate a scenario file and show the resolved task stream.",
    usage: ["scenario check FILE [--set KEY=VALUE]... [--data-dir DIR]"],
    options: [
      .option("--set", "KEY=VALUE", "Override a field, e.g. training.epochs=2.", repeatable: true),
      .option("--data-dir", "DIR", "Where to look for the dataset first."),
    ],
    examples: [
      "expertstream scenario check tasks/split-fashion-mnist.json --set training.epochs=2"
    ],
    positionals: 1...1)

  let path: String
  let overrides: [String]
  let dataDirectory: String?

  init(_ arguments: ParsedArguments) throws {
    path = arguments.positionals[0]
    overrides = arguments.allValues("--set")
    dataDirectory = arguments.value("--data-dir")
  }

  func run(_ console: Console) throws {
    let scenario = try Scenario.load(path, overrides: overrides)
    console.print("\(path): valid (\(scenario.mode) scenario '\(scenario.name)')")
    console.print("scenario hash: \(scenario.hash)")
    let descriptor = try DatasetRegistry.descriptor(named: scenario.dataset.name)
    do {
      let directory = try DatasetRegistry.locate(descriptor, dataDirectory: dataDirectory)
      console.print("dataset: \(descriptor.name), found in \(directory)")
    } catch let error as DatasetError {
      console.print("dataset: \(descriptor.name), NOT FOUND: \(error)")
    }
    let names =
      scenario.dataset.labels == .coarse
      ? nil : descriptor.classNames
    console.print("tasks (class order as run):")
    for (index, classes) in scenario.classGroups.enumerated() {
      let labels = classes.map { label in names.map { "\(label) \($0[label])" } ?? "\(label)" }
      console.print("  task \(index): " + labels.joined(separator: ", "))
    }
    let text = String(
      decoding: try JSONSerialization.data(
        withJSONObject: scenario.resolvedObject,
        options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
      as: UTF8.self)
    console.print("resolved scenario:")
    console.print(text)
  }
}

import Checkpoints
import Continual
import Datasets
import Foundation

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
      for line in try DatasetRegistry.availability(of: descriptor, dataDirectory: dataDirectory) {
        console.print(line)
      }
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
    console.print("tasks (class order as run):")
    for line in scenario.taskLines(classNames: descriptor.classNames) { console.print(line) }
    console.print("resolved scenario:")
    console.print(scenario.resolvedText)
  }
}

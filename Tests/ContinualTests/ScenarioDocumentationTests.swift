import Continual
import Datasets
import Foundation
import Testing

// tasks/README.md documents every field of a scenario file: these tests ask the decoder
// which fields, names and ranges it accepts (from its own error messages) and check that
// the README's row for each field says so, so the document cannot drift from the code.

private let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../../tasks/README.md").standardized

/// The rows of the README's "Fields" tables: dotted field path (`training.optimizer.name`,
/// `mode` at the top level) to the row's text.
private func documentedRows() throws -> [String: String] {
  let text = try String(contentsOf: readme, encoding: .utf8)
  guard let start = text.range(of: "\n## Fields\n") else { return [:] }
  let fields = text[start.upperBound...].prefix { _ in true }
  let end = fields.range(of: "\n## ")?.lowerBound ?? fields.endIndex
  var rows: [String: String] = [:]
  var section = ""
  for line in fields[..<end].split(separator: "\n") {
    if line.hasPrefix("### ") {
      // "### top level", "### `dataset`", "### `paper` (mode `paper` only)"
      let parts = line.split(separator: "`")
      section = parts.count > 1 ? String(parts[1]) : ""
    } else if line.hasPrefix("| `") {
      let name = line.dropFirst(3).prefix { $0 != "`" }
      rows[section.isEmpty ? String(name) : "\(section).\(name)"] = String(line)
    }
  }
  return rows
}

/// The error a scenario of defaults with `overrides` gives, or `nil`.
private func error(_ overrides: [String]) -> String? {
  do {
    _ = try Scenario.parse(Data("{}".utf8), file: "test.json", overrides: overrides)
    return nil
  } catch {
    return "\(error)"
  }
}

/// The overrides that let a field be read at all: some fields belong to a kind of expert
/// or gate, and are rejected otherwise before their value is looked at.
private let contexts: [[String]] = [
  [], ["model.expert=conv"],
  ["lifecycle.policy=spawn-and-freeze", "lifecycle.gate=evidence"],
  ["lifecycle.policy=spawn-and-freeze", "lifecycle.gate=hybrid"],
  ["training.optimizer.name=sgd"],
]

/// The first message containing `phrase` that a context's error at `path` gives for
/// `value`, without the file and path.
private func errorMessage(_ path: String, _ value: String, containing phrase: String) -> String? {
  for context in contexts {
    guard let text = error(context + ["\(path)=\(value)"]) else { continue }
    for start in ["test.json: \(path): ", "test.json: \(path)[0]: "] where text.hasPrefix(start) {
      let message = String(text.dropFirst(start.count))
      if message.contains(phrase) { return message }
    }
  }
  return nil
}

/// Every field a scenario file accepts, as dotted paths, found through the decoder's
/// "allowed:" list for an unknown key; objects (such as `training.optimizer`) are followed
/// and listed too.
private func acceptedFields(under parent: String = "") -> [(path: String, isObject: Bool)] {
  let probe = parent.isEmpty ? "zz_probe" : "\(parent).zz_probe"
  guard let text = error(["\(probe)=1"]), let range = text.range(of: "; allowed: ") else {
    return []
  }
  let names = text[range.upperBound...].split(separator: ", ").map(String.init)
  return names.flatMap { name -> [(path: String, isObject: Bool)] in
    let path = parent.isEmpty ? name : "\(parent).\(name)"
    let isObject = errorMessage(path, "\"?!\"", containing: "expected an object") != nil
    return [(path, isObject)] + (isObject ? acceptedFields(under: path) : [])
  }
}

/// The README row of `path`, or of the nearest enclosing field that has one (the fields of
/// `regularizers.sample_similarity` are described in its row).
private func documentedRow(of path: String, in rows: [String: String]) -> String? {
  var parts = path.split(separator: ".")
  while !parts.isEmpty {
    if let row = rows[parts.joined(separator: ".")] { return row }
    parts.removeLast()
  }
  return nil
}

@Test func everyFieldOfAScenarioHasItsRowInTasksREADMEAndEveryRowIsAField() throws {
  let rows = try documentedRows()
  let fields = acceptedFields()
  #expect(fields.count > 50, "found \(fields)")
  // A section (`dataset`) or an object of fields (`training.optimizer`) is documented by
  // its fields' rows; an object with a row of its own (`regularizers.sample_similarity`)
  // describes its fields there.
  for (field, isObject) in fields where !isObject || rows[field] != nil {
    let row = documentedRow(of: field, in: rows)
    #expect(row != nil, "tasks/README.md has no row for \(field)")
    if let row, rows[field] == nil {
      #expect(row.contains("`\(field.split(separator: ".").last!)`"), "\(field) in \(row)")
    }
  }
  let paths = fields.map(\.path)
  for documented in rows.keys.sorted() {
    #expect(paths.contains(documented), "tasks/README.md documents \(documented), not a field")
  }
}

@Test func everyAcceptedNameOfEveryFieldIsInItsRowOfTasksREADME() throws {
  let rows = try documentedRows()
  var choices = 0
  for (field, _) in acceptedFields() {
    var names: [String] = []
    for value in ["\"?!\"", "[\"?!\"]"] {
      guard let message = errorMessage(field, value, containing: " is not one of "),
        let range = message.range(of: " is not one of ")
      else { continue }
      let list = message[range.upperBound...].split(separator: " (did you mean")[0]
      names = list.split(separator: ", ").map(String.init)
      break
    }
    guard !names.isEmpty else { continue }
    choices += 1
    // A program's own registered names are listed by the decoder too; the README lists the
    // built-in ones.
    if field == "lifecycle.policy" {
      names = PolicyName.builtIn.map(\.rawValue)
    } else if field == "model.expert" {
      names = ExpertKind.builtIn.map(\.rawValue)
    } else if field == "dataset.name" {
      names = DatasetRegistry.builtIn.map(\.name)
    }
    let row = try #require(documentedRow(of: field, in: rows), "no row for \(field)")
    for name in names {
      #expect(
        row.contains("\"\(name)\"") || row.contains("`\(name)`"),
        "tasks/README.md's row of \(field) does not list '\(name)'")
    }
  }
  // mode, scenario, dataset.name, labels, evaluate_on, split.order, model.expert, model.gate,
  // training.loss, optimizer.name, placement, policy, lifecycle.gate, expert_granularity,
  // evidence_kind, evidence_calibration, paper.methods, distill_from.
  #expect(choices >= 18)
}

@Test func everyFieldsRangeIsInItsRowOfTasksREADME() throws {
  let rows = try documentedRows()
  var ranges = 0
  for (field, _) in acceptedFields() {
    let phrase = " is out of range "
    guard
      let message = errorMessage(field, "1000000000000000000", containing: phrase)
        ?? errorMessage(field, "[1000000000000000000]", containing: phrase),
      let range = message.range(of: phrase)
    else { continue }
    ranges += 1
    let bounds = message[range.upperBound...].components(separatedBy: "...").compactMap {
      Double($0)
    }
    let row = try #require(documentedRow(of: field, in: rows), "no row for \(field)")
    // The numbers the row's type column names ("integer in [1, 1000]", "number in [0, 0.9]"),
    // or for a field inside another's row (`beta_same`), that row's.
    let type = rows[field] == nil ? Substring(row) : row.split(separator: "|")[1]
    let numbers = type.split(whereSeparator: { !"0123456789.e-+".contains($0) }).compactMap {
      Double($0)
    }
    for bound in bounds {
      #expect(numbers.contains(bound), "tasks/README.md's \(field) row does not give \(bound)")
    }
  }
  #expect(ranges >= 28)
}

@Test func notebook04NamesEveryBuiltInExpertKindAndPolicyInItsProse() throws {
  let notebook = readme.deletingLastPathComponent()
    .appendingPathComponent("../notebooks-md/04-custom-experts.md").standardized
  var prose = ""
  var inBlock = false
  for line in try String(contentsOf: notebook, encoding: .utf8).split(separator: "\n") {
    if line.hasPrefix("```") {
      inBlock.toggle()
    } else if !inBlock {
      prose += line + "\n"
    }
  }
  for name in ExpertKind.builtIn.map(\.rawValue) + PolicyName.builtIn.map(\.rawValue) {
    #expect(prose.contains("`\(name)`"), "notebook 04's prose does not name '\(name)'")
  }
}

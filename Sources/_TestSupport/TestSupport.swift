// Helpers shared by the test targets: tolerance comparisons, finite-difference gradient
// checks and temporary directories. Not part of the public library.
import Foundation
import TensorCore

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Whether every pair of elements satisfies |a − b| ≤ absolute + relative·|b|.
public func allClose(
  _ actual: [Float], _ expected: [Float], relative: Float = 1e-5, absolute: Float = 1e-6
) -> Bool {
  actual.count == expected.count
    && zip(actual, expected).allSatisfy { a, b in abs(a - b) <= absolute + relative * abs(b) }
}

/// The largest |a − b| / (absolute + relative·|b|) over the elements; ≤ 1 means close.
public func closeness(
  _ actual: [Float], _ expected: [Float], relative: Float = 1e-5, absolute: Float = 1e-6
) -> Float {
  guard actual.count == expected.count else { return .infinity }
  return zip(actual, expected).map { a, b in abs(a - b) / (absolute + relative * abs(b)) }
    .max() ?? 0
}

/// The outcome of ``gradientCheck(_:epsilon:seed:_:)``: the worst disagreement between the
/// analytic and the central-difference gradient, over all inputs.
public struct GradientCheckResult: CustomStringConvertible {
  /// max |analytic − numeric| / max(1, |numeric|), over every element of every input.
  public let worstError: Double
  /// Where the worst disagreement is: input index and element index.
  public let worstPlace: (input: Int, element: Int)
  /// The analytic and numeric values there.
  public let worstValues: (analytic: Double, numeric: Double)

  public var description: String {
    "worst error \(worstError) at input \(worstPlace.input) element \(worstPlace.element): "
      + "analytic \(worstValues.analytic), numeric \(worstValues.numeric)"
  }
}

/// Checks `function`'s gradients by central differences.
///
/// The scalar checked is Σ f(inputs) ⊙ R for a fixed random R, so every output element's
/// gradient is exercised. Each input element is moved by ±`epsilon` (in Float32; the
/// scalar is summed in Double), and the difference quotient is compared with the gradient
/// `backward()` leaves on the input. With Float32 evaluation, `epsilon` 1e-2 and smooth
/// functions the error is normally below 1e-2; tests state their tolerance.
///
/// - Parameter inputs: Leaves; each gets `requiresGrad` set for the check.
public func gradientCheck(
  _ inputs: [Tensor], epsilon: Float = 1e-2, seed: UInt64 = 7,
  _ function: ([Tensor]) throws -> Tensor
) throws -> GradientCheckResult {
  for input in inputs {
    input.requiresGrad = true
    input.grad = nil
  }
  let output = try function(inputs)
  var generator = RandomGenerator(seed: seed)
  let projection = try Tensor.uniform(output.shape, low: -1, high: 1, using: &generator)
  let scalar = try (output * projection).sum()
  try scalar.backward()

  func evaluate() throws -> Double {
    let values = try withGradientsDisabled { try function(inputs).values }
    return zip(values, projection.values).reduce(0) { $0 + Double($1.0) * Double($1.1) }
  }

  var worst = (error: 0.0, input: 0, element: 0, analytic: 0.0, numeric: 0.0)
  for (index, input) in inputs.enumerated() {
    let analytic = input.grad?.values ?? Array(repeating: 0, count: input.count)
    let pointer = input.storage.pointer
    for element in 0..<input.count {
      let original = pointer[element]
      pointer[element] = original + epsilon
      let plus = try evaluate()
      pointer[element] = original - epsilon
      let minus = try evaluate()
      pointer[element] = original
      let numeric = (plus - minus) / (2 * Double(epsilon))
      let error = abs(Double(analytic[element]) - numeric) / max(1, abs(numeric))
      if error > worst.error {
        worst = (error, index, element, Double(analytic[element]), numeric)
      }
    }
  }
  return GradientCheckResult(
    worstError: worst.error, worstPlace: (worst.input, worst.element),
    worstValues: (worst.analytic, worst.numeric))
}

/// A fresh directory under the system's temporary directory, removed with everything in it
/// when the last reference goes away.
public final class TemporaryDirectory {
  /// The directory's URL.
  public let url: URL

  /// Creates a new, empty directory.
  public init(prefix: String = "expertstream-test") throws {
    url = FileManager.default.temporaryDirectory
      .appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  /// The path of `name` inside the directory.
  public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

  deinit { try? FileManager.default.removeItem(at: url) }
}

/// A tensor of the given shape with values drawn uniformly from [low, high).
public func randomTensor(
  _ shape: [Int], low: Float = -1, high: Float = 1, seed: UInt64 = 1
) throws -> Tensor {
  var generator = RandomGenerator(seed: seed)
  return try Tensor.uniform(shape, low: low, high: high, using: &generator)
}

/// Parses `document` as XML with Foundation's XMLParser; returns the error, if any, and the
/// element names seen.
public func parseXML(_ document: String) -> (error: Error?, elements: [String]) {
  final class Collector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    func parser(
      _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String] = [:]
    ) {
      elements.append(elementName)
    }
  }
  let parser = XMLParser(data: Data(document.utf8))
  let collector = Collector()
  parser.delegate = collector
  let ok = parser.parse()
  return (ok ? nil : parser.parserError ?? CocoaError(.fileReadCorruptFile), collector.elements)
}

/// Whether the JSON file at `path` is a sweep file (it has `axes` or `variants`) rather
/// than a scenario.
public func isSweepFile(_ path: String) -> Bool {
  guard let data = FileManager.default.contents(atPath: path),
    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
  else { return false }
  return object["axes"] != nil || object["variants"] != nil
}

import Foundation

/// JSON as the tool writes it (metrics files, sweep records, JSON log lines): sorted keys,
/// unescaped slashes, and every non-finite number as `null`, since JSON has no NaN (a run
/// whose loss diverged still gets its metrics written).
public enum JSONOutput {
  /// `value` with every non-finite `Double` or `Float` replaced by `NSNull`, recursively
  /// through arrays and dictionaries.
  public static func sanitized(_ value: Any) -> Any {
    switch value {
    case let number as Double: return number.isFinite ? number : NSNull()
    case let number as Float: return number.isFinite ? Double(number) : NSNull()
    case let array as [Any]: return array.map(sanitized)
    case let object as [String: Any]: return object.mapValues(sanitized)
    default: return value
    }
  }

  /// The JSON text of `object` (sanitized), pretty-printed or on one line.
  public static func data(_ object: Any, pretty: Bool) throws -> Data {
    var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
    if pretty { options.insert(.prettyPrinted) }
    return try JSONSerialization.data(withJSONObject: sanitized(object), options: options)
  }
}

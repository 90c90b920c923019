import Foundation

/// Decodes a scenario (or any `Decodable`) from the JSON tree ``JSONParser`` gives
/// (`[String: Any]`, `[Any]`, `NSNumber`, `String`, `NSNull`), with errors that name the
/// field's dotted path and say what was expected.
///
/// A keyed container whose `CodingKeys` are `CaseIterable` rejects any other key, naming
/// the closest allowed one; the allowed keys are listed in the order of the cases.
/// Booleans are told from numbers (`1` is not `true`); an integer must be a whole number.
/// Every error is a ``ScenarioError``.
struct ScenarioDecoder: Decoder {
  /// The JSON value at ``codingPath``.
  let value: Any
  let codingPath: [any CodingKey]
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  /// `T` decoded from the JSON tree `root` of `file`.
  ///
  /// - Throws: ``ScenarioError`` naming `file` and the field's path.
  static func decode<T: Decodable>(_: T.Type, from root: Any, file: String) throws -> T {
    do {
      return try T(from: ScenarioDecoder(value: root, codingPath: []))
    } catch let error as ScenarioError {
      throw error.naming(file)
    }
  }

  /// An error at this value's path.
  func error(_ message: String) -> ScenarioError {
    ScenarioError(at: codingPath, message)
  }

  /// The decoder of `value` at `key` below this one.
  func child(_ value: Any, at key: any CodingKey) -> ScenarioDecoder {
    ScenarioDecoder(value: value, codingPath: codingPath + [key])
  }

  func container<Key: CodingKey>(keyedBy _: Key.Type) throws -> KeyedDecodingContainer<Key> {
    guard let object = value as? [String: Any] else {
      throw error("expected an object, found \(describe(value))")
    }
    if let allowed = Self.allowedKeys(Key.self) {
      for key in object.keys.sorted() where !allowed.contains(key) {
        let hint = closest(key, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
        throw ScenarioError(
          at: codingPath + [ScenarioKey(key)],
          "unknown key '\(key)'\(hint); allowed: \(allowed.joined(separator: ", "))")
      }
    }
    return KeyedDecodingContainer(KeyedContainer(decoder: self, object: object))
  }

  func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
    guard let items = value as? [Any] else {
      throw error("expected an array, found \(describe(value))")
    }
    return UnkeyedContainer(decoder: self, items: items)
  }

  func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

  /// The keys of `Key` in declaration order, when it lists them (`CaseIterable`).
  private static func allowedKeys<Key: CodingKey>(_: Key.Type) -> [String]? {
    guard let listed = Key.self as? any CaseIterable.Type else { return nil }
    func names<Listed: CaseIterable>(_: Listed.Type) -> [String] {
      Listed.allCases.compactMap { ($0 as? any CodingKey)?.stringValue }
    }
    return names(listed)
  }

  /// Booleans are NSNumbers of Objective-C type `c` (char), as JSONParser gives them.
  private func isBoolean(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
  }

  /// A JSON value as an error message names it: `the string "three"`, `an array`.
  private func describe(_ value: Any) -> String {
    switch value {
    case is NSNull: return "null"
    case let number as NSNumber where isBoolean(number): return number.boolValue ? "true" : "false"
    case let number as NSNumber: return "the number \(number)"
    case let string as String: return "the string \"\(string)\""
    case is [Any]: return "an array"
    case is [String: Any]: return "an object"
    default: return "\(type(of: value))"
    }
  }
}

// The decoder is its own single-value container.
extension ScenarioDecoder: SingleValueDecodingContainer {
  func decodeNil() -> Bool { value is NSNull }

  func decode(_: Bool.Type) throws -> Bool {
    guard let number = value as? NSNumber, isBoolean(number) else {
      throw error("expected true or false, found \(describe(value))")
    }
    return number.boolValue
  }

  func decode(_: String.Type) throws -> String {
    guard let string = value as? String else {
      throw error("expected a string, found \(describe(value))")
    }
    return string
  }

  func decode(_: Double.Type) throws -> Double {
    guard let number = value as? NSNumber, !isBoolean(number) else {
      throw error("expected a number, found \(describe(value))")
    }
    return number.doubleValue
  }

  func decode(_: Float.Type) throws -> Float { Float(try decode(Double.self)) }

  func decode(_: Int.Type) throws -> Int {
    guard let number = value as? NSNumber, !isBoolean(number),
      let integer = Int(exactly: number.doubleValue)
    else {
      throw error("expected an integer, found \(describe(value))")
    }
    return integer
  }

  func decode(_: Int8.Type) throws -> Int8 { try narrow() }
  func decode(_: Int16.Type) throws -> Int16 { try narrow() }
  func decode(_: Int32.Type) throws -> Int32 { try narrow() }
  func decode(_: Int64.Type) throws -> Int64 { try narrow() }
  func decode(_: UInt.Type) throws -> UInt { try narrow() }
  func decode(_: UInt8.Type) throws -> UInt8 { try narrow() }
  func decode(_: UInt16.Type) throws -> UInt16 { try narrow() }
  func decode(_: UInt32.Type) throws -> UInt32 { try narrow() }
  func decode(_: UInt64.Type) throws -> UInt64 { try narrow() }

  func decode<T: Decodable>(_: T.Type) throws -> T { try T(from: self) }

  /// The integer as `T`, or an out-of-range error.
  private func narrow<T: FixedWidthInteger>() throws -> T {
    let integer = try decode(Int.self)
    guard let narrowed = T(exactly: integer) else {
      throw ScenarioError.outOfRange(
        Int64(integer), Int64(clamping: T.min)...Int64(clamping: T.max), file: "",
        path: ScenarioError.path(codingPath))
    }
    return narrowed
  }
}

/// A key of the decoder's own: an object's key that no `CodingKeys` lists, or an array
/// index (printed `[i]`).
struct ScenarioKey: CodingKey {
  let stringValue: String
  let intValue: Int?

  init(_ key: String) {
    stringValue = key
    intValue = nil
  }

  init(index: Int) {
    stringValue = "\(index)"
    intValue = index
  }

  init?(stringValue: String) { self.init(stringValue) }
  init?(intValue: Int) { self.init(index: intValue) }
}

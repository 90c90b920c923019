import Foundation

// MARK: - Encodable values

extension JSONOutput {
  /// `value` as the Foundation values JSONSerialization writes (`[String: Any]`, `[Any]`,
  /// `String`, `Int`, `Double`, `Bool`, `NSNull`), with every non-finite number as `NSNull`.
  ///
  /// Numbers keep their Swift type (an `Int` stays an `Int`, a `Double` a `Double`, a
  /// `Float` becomes the `Double` of the same value), so the text ``data(encoding:pretty:)``
  /// writes is the text ``data(_:pretty:)`` writes for the same values as a dictionary.
  /// A value that encodes nothing becomes an empty object.
  public static func tree<Value: Encodable>(_ value: Value) throws -> Any {
    try JSONTreeNode.encoding(value, codingPath: []).value
  }

  /// The JSON text of `value` (see ``tree(_:)``), pretty-printed or on one line, with sorted
  /// keys: the one path every metrics file and sweep record is written by.
  public static func data<Value: Encodable>(encoding value: Value, pretty: Bool) throws -> Data {
    try data(tree(value), pretty: pretty)
  }
}

// MARK: - Decoding null as not-a-number

extension KeyedDecodingContainer {
  /// The number at `key`, with `null` (a non-finite number written by ``JSONOutput``) as NaN.
  func decodeNumber(_ key: Key) throws -> Double {
    try decodeIfPresent(Double.self, forKey: key) ?? .nan
  }

  /// The numbers at `key`, each `null` as NaN.
  func decodeNumbers(_ key: Key) throws -> [Double] {
    try decode([Double?].self, forKey: key).map { $0 ?? .nan }
  }

  /// The rows of numbers at `key`, each `null` as NaN.
  func decodeNumbers(_ key: Key) throws -> [[Double]] {
    try decode([[Double?]].self, forKey: key).map { $0.map { $0 ?? .nan } }
  }

  /// The matrices of numbers at `key`, each `null` as NaN.
  func decodeNumbers(_ key: Key) throws -> [[[Double]]] {
    try decode([[[Double?]]].self, forKey: key).map { $0.map { $0.map { $0 ?? .nan } } }
  }
}

// MARK: - The tree encoder

/// One value of the tree being encoded: a leaf, an object or an array, filled in place by
/// the containers that hold it.
private final class JSONTreeNode {
  private var leaf: Any?
  private var object: [String: JSONTreeNode]?
  private var array: [JSONTreeNode]?

  /// The node of `value`: numbers, strings and booleans as leaves, anything else by its
  /// own `encode(to:)`.
  static func encoding<Value: Encodable>(_ value: Value, codingPath: [CodingKey]) throws
    -> JSONTreeNode
  {
    let node = JSONTreeNode()
    switch value {
    case let number as Double: node.leaf = number.isFinite ? number : NSNull()
    case let number as Float: node.leaf = number.isFinite ? Double(number) : NSNull()
    case let number as Int: node.leaf = number
    case let number as any BinaryInteger: node.leaf = NSNumber(value: Int64(number))
    case let text as String: node.leaf = text
    case let flag as Bool: node.leaf = flag
    default: try value.encode(to: JSONTreeEncoder(node: node, codingPath: codingPath))
    }
    return node
  }

  static func null() -> JSONTreeNode {
    let node = JSONTreeNode()
    node.leaf = NSNull()
    return node
  }

  var value: Any {
    if let leaf { return leaf }
    if let array { return array.map(\.value) }
    return (object ?? [:]).mapValues(\.value)
  }

  func set(_ child: JSONTreeNode, at key: String) {
    object = object ?? [:]
    object![key] = child
  }

  func append(_ child: JSONTreeNode) {
    array = (array ?? []) + [child]
  }

  var count: Int { array?.count ?? 0 }

  /// Takes `other`'s contents (a single value encoded into this node).
  func adopt(_ other: JSONTreeNode) {
    (leaf, object, array) = (other.leaf, other.object, other.array)
  }

  func makeObject() { if object == nil { object = [:] } }
  func makeArray() { if array == nil { array = [] } }
}

private struct JSONTreeEncoder: Encoder {
  let node: JSONTreeNode
  let codingPath: [CodingKey]
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
    node.makeObject()
    return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
  }

  func unkeyedContainer() -> UnkeyedEncodingContainer {
    node.makeArray()
    return UnkeyedContainer(node: node, codingPath: codingPath)
  }

  func singleValueContainer() -> SingleValueEncodingContainer {
    SingleValueContainer(node: node, codingPath: codingPath)
  }
}

private struct ArrayIndex: CodingKey {
  let intValue: Int?
  var stringValue: String { "\(intValue ?? 0)" }
  init(intValue: Int) { self.intValue = intValue }
  init?(stringValue: String) { nil }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
  let node: JSONTreeNode
  let codingPath: [CodingKey]

  mutating func encodeNil(forKey key: Key) throws { node.set(.null(), at: key.stringValue) }

  mutating func encode<Value: Encodable>(_ value: Value, forKey key: Key) throws {
    node.set(try .encoding(value, codingPath: codingPath + [key]), at: key.stringValue)
  }

  mutating func nestedContainer<NestedKey: CodingKey>(
    keyedBy keyType: NestedKey.Type, forKey key: Key
  ) -> KeyedEncodingContainer<NestedKey> {
    let child = JSONTreeNode()
    node.set(child, at: key.stringValue)
    return JSONTreeEncoder(node: child, codingPath: codingPath + [key]).container(keyedBy: keyType)
  }

  mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
    let child = JSONTreeNode()
    node.set(child, at: key.stringValue)
    return JSONTreeEncoder(node: child, codingPath: codingPath + [key]).unkeyedContainer()
  }

  mutating func superEncoder() -> Encoder { superEncoder(named: "super") }

  mutating func superEncoder(forKey key: Key) -> Encoder { superEncoder(named: key.stringValue) }

  private func superEncoder(named name: String) -> Encoder {
    let child = JSONTreeNode()
    node.set(child, at: name)
    return JSONTreeEncoder(node: child, codingPath: codingPath)
  }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
  let node: JSONTreeNode
  let codingPath: [CodingKey]
  var count: Int { node.count }

  mutating func encodeNil() throws { node.append(.null()) }

  mutating func encode<Value: Encodable>(_ value: Value) throws {
    node.append(try .encoding(value, codingPath: codingPath + [ArrayIndex(intValue: count)]))
  }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
    -> KeyedEncodingContainer<NestedKey>
  {
    superEncoder().container(keyedBy: keyType)
  }

  mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
    superEncoder().unkeyedContainer()
  }

  mutating func superEncoder() -> Encoder {
    let child = JSONTreeNode()
    let path = codingPath + [ArrayIndex(intValue: count)]
    node.append(child)
    return JSONTreeEncoder(node: child, codingPath: path)
  }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
  let node: JSONTreeNode
  let codingPath: [CodingKey]

  mutating func encodeNil() throws { node.adopt(.null()) }

  mutating func encode<Value: Encodable>(_ value: Value) throws {
    node.adopt(try .encoding(value, codingPath: codingPath))
  }
}

import Foundation

extension ScenarioDecoder {
  /// The members of a JSON object, by `Key`.
  struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ScenarioDecoder
    let object: [String: Any]

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { object.keys.sorted().compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    /// The decoder of the member at `key`; a missing member is an error.
    private func member(_ key: Key) throws -> ScenarioDecoder {
      guard let value = object[key.stringValue] else {
        throw ScenarioError(at: codingPath + [key], "a value is required")
      }
      return decoder.child(value, at: key)
    }

    func decodeNil(forKey key: Key) throws -> Bool { object[key.stringValue] is NSNull }

    func decode<T: Decodable>(_: T.Type, forKey key: Key) throws -> T {
      try member(key).decode(T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(
      keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
      try member(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
      try member(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
      decoder.child(object["super"] ?? NSNull(), at: ScenarioKey("super"))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
      decoder.child(object[key.stringValue] ?? NSNull(), at: key)
    }
  }

  /// The items of a JSON array, in order.
  struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ScenarioDecoder
    let items: [Any]
    private(set) var currentIndex = 0

    init(decoder: ScenarioDecoder, items: [Any]) {
      self.decoder = decoder
      self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    /// The decoder of the next item, moving past it; past the end is an error.
    private mutating func next() throws -> ScenarioDecoder {
      guard !isAtEnd else {
        throw ScenarioError(
          at: codingPath + [ScenarioKey(index: currentIndex)],
          "expected another item; the array has \(items.count)")
      }
      defer { currentIndex += 1 }
      return decoder.child(items[currentIndex], at: ScenarioKey(index: currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
      guard !isAtEnd, items[currentIndex] is NSNull else { return false }
      currentIndex += 1
      return true
    }

    mutating func decode<T: Decodable>(_: T.Type) throws -> T {
      try next().decode(T.self)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
      keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
      try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
      try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try next() }
  }
}

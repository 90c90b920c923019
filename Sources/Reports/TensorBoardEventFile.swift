import Checkpoints
import Foundation

/// A TensorBoard event file being written: scalars, images and text, one record per call,
/// readable by TensorBoard while the run goes on.
///
/// The file is TensorFlow's record format: each record is its length (little-endian
/// `UInt64`), the masked CRC-32C of those eight bytes, the data, and the masked CRC-32C of
/// the data. Each record's data is an `Event` protocol buffer (`wall_time` = 1,
/// `step` = 2, `file_version` = 3, `summary` = 5), encoded here field by field; the
/// first one names the file version, `brain.Event:2`. Every record is written to the file
/// at once, unbuffered.
public final class TensorBoardEventFile {
  /// The file's path: `<directory>/events.out.tfevents.<seconds>.<host>.<process id>`.
  public let path: String
  private let descriptor: Int32

  /// A new event file in `directory` (created when missing), holding the file-version
  /// record.
  ///
  /// - Throws: ``FileSystemError`` naming the directory or file that cannot be created.
  public init(directory: String) throws {
    try FileSystem.createDirectory(directory)
    let now = Date().timeIntervalSince1970
    let host = ProcessInfo.processInfo.hostName
    let process = ProcessInfo.processInfo.processIdentifier
    let stem = "\(directory)/events.out.tfevents.\(Int(now)).\(host).\(process)"
    // A second file of this process in the same second (a resumed run) gets a suffix.
    var path = stem
    var descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    var suffix = 1
    while descriptor < 0 && errno == EEXIST {
      path = "\(stem).\(suffix)"
      descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      suffix += 1
    }
    guard descriptor >= 0 else {
      throw FileSystemError(path: path, step: "cannot create the event file", code: errno)
    }
    self.path = path
    self.descriptor = descriptor
    var event = ProtobufEncoder()
    event.double(1, now)
    event.lengthDelimited(3, Array("brain.Event:2".utf8))
    try write(event.bytes)
  }

  deinit { Glibc.close(descriptor) }

  /// Writes `value` under `tag` at `step` (stored as a `Float`, as TensorBoard keeps
  /// scalars).
  public func addScalar(_ tag: String, _ value: Double, step: Int) throws {
    var summaryValue = ProtobufEncoder()
    summaryValue.lengthDelimited(1, Array(tag.utf8))
    summaryValue.float(2, Float(value))
    try addSummaryValue(summaryValue, step: step)
  }

  /// Writes `image` under `tag` at `step`: TensorBoard's images dashboard shows it.
  public func addImage(_ tag: String, _ image: PNGImage, step: Int) throws {
    var encodedImage = ProtobufEncoder()
    encodedImage.varint(1, UInt64(image.height))
    encodedImage.varint(2, UInt64(image.width))
    encodedImage.varint(3, 3)  // RGB
    encodedImage.lengthDelimited(4, try image.encoded())
    var summaryValue = ProtobufEncoder()
    summaryValue.lengthDelimited(1, Array(tag.utf8))
    summaryValue.message(4, encodedImage)
    try addSummaryValue(summaryValue, step: step)
  }

  /// Writes `text` (markdown) under `tag` at `step`: TensorBoard's text dashboard shows it.
  ///
  /// The value is a scalar string tensor marked for the `text` plugin.
  public func addText(_ tag: String, _ text: String, step: Int) throws {
    var pluginData = ProtobufEncoder()
    pluginData.lengthDelimited(1, Array("text".utf8))
    var metadata = ProtobufEncoder()
    metadata.message(1, pluginData)
    var tensor = ProtobufEncoder()
    tensor.varint(1, 7)  // DT_STRING
    tensor.message(2, ProtobufEncoder())  // a scalar: no dimensions
    tensor.lengthDelimited(8, Array(text.utf8))
    var summaryValue = ProtobufEncoder()
    summaryValue.lengthDelimited(1, Array(tag.utf8))
    summaryValue.message(9, metadata)
    summaryValue.message(8, tensor)
    try addSummaryValue(summaryValue, step: step)
  }

  /// Writes an `Event` at `step`, now, whose `Summary` holds `summaryValue`.
  private func addSummaryValue(_ summaryValue: ProtobufEncoder, step: Int) throws {
    var summary = ProtobufEncoder()
    summary.message(1, summaryValue)
    var event = ProtobufEncoder()
    event.double(1, Date().timeIntervalSince1970)
    event.varint(2, UInt64(bitPattern: Int64(step)))
    event.message(5, summary)
    try write(event.bytes)
  }

  /// Appends `data` as one record.
  private func write(_ data: [UInt8]) throws {
    let record = Self.record(data)
    var written = 0
    while written < record.count {
      let count = record.withUnsafeBytes {
        Glibc.write(descriptor, $0.baseAddress! + written, record.count - written)
      }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else {
        throw FileSystemError(path: path, step: "cannot write the event file", code: errno)
      }
      written += count
    }
  }

  /// `data` framed as a TFRecord: length, its masked CRC-32C, data, its masked CRC-32C.
  static func record(_ data: [UInt8]) -> [UInt8] {
    var length: [UInt8] = []
    ProtobufEncoder.appendLittleEndian(UInt64(data.count), bytes: 8, to: &length)
    var record = length
    ProtobufEncoder.appendLittleEndian(
      UInt64(CRC32C.masked(CRC32C.checksum(length))), bytes: 4, to: &record)
    record += data
    ProtobufEncoder.appendLittleEndian(
      UInt64(CRC32C.masked(CRC32C.checksum(data))), bytes: 4, to: &record)
    return record
  }
}

// MARK: - CRC-32C

/// CRC-32C (Castagnoli), the checksum of TFRecord framing, and the masking TensorFlow
/// applies to stored checksums.
enum CRC32C {
  /// The table of the reflected polynomial 0x82F63B78, one entry per byte value.
  private static let table: [UInt32] = (0..<256).map { byte in
    var crc = UInt32(byte)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    return crc
  }

  /// The CRC-32C of `bytes` (of `"123456789"`: 0xE3069283).
  static func checksum(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
  }

  /// `crc` as TFRecord stores it: rotated right by 15 bits plus 0xA282EAD8 (wrapping).
  static func masked(_ crc: UInt32) -> UInt32 {
    ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
  }
}

// MARK: - Protocol buffers

/// A protocol-buffer message written field by field: varints, fixed 32- and 64-bit
/// numbers, and length-delimited bytes or nested messages.
///
/// Fields are written in the order of the calls; a reader accepts any order.
struct ProtobufEncoder {
  /// The message so far.
  private(set) var bytes: [UInt8] = []

  /// An empty message.
  init() {}

  /// Appends `value` as a base-128 varint (7 bits a byte, low bits first).
  static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
    var rest = value
    while rest >= 0x80 {
      bytes.append(UInt8(rest & 0x7F) | 0x80)
      rest >>= 7
    }
    bytes.append(UInt8(rest))
  }

  /// Appends the low `count` bytes of `value`, least significant first.
  static func appendLittleEndian(_ value: UInt64, bytes count: Int, to bytes: inout [UInt8]) {
    for index in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
  }

  /// Field `number` of wire type `wireType` begins.
  private mutating func key(_ number: Int, _ wireType: UInt64) {
    Self.appendVarint(UInt64(number) << 3 | wireType, to: &bytes)
  }

  /// Field `number` as a varint (`int32`, `int64`, `uint64`, enums).
  mutating func varint(_ number: Int, _ value: UInt64) {
    key(number, 0)
    Self.appendVarint(value, to: &bytes)
  }

  /// Field `number` as a `double` (fixed 64 bits).
  mutating func double(_ number: Int, _ value: Double) {
    key(number, 1)
    Self.appendLittleEndian(value.bitPattern, bytes: 8, to: &bytes)
  }

  /// Field `number` as a `float` (fixed 32 bits).
  mutating func float(_ number: Int, _ value: Float) {
    key(number, 5)
    Self.appendLittleEndian(UInt64(value.bitPattern), bytes: 4, to: &bytes)
  }

  /// Field `number` as `bytes` or `string`: its length, then `value`.
  mutating func lengthDelimited(_ number: Int, _ value: [UInt8]) {
    key(number, 2)
    Self.appendVarint(UInt64(value.count), to: &bytes)
    bytes += value
  }

  /// Field `number` as the nested `message`.
  mutating func message(_ number: Int, _ message: ProtobufEncoder) {
    lengthDelimited(number, message.bytes)
  }
}

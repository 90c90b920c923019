import Foundation
import Testing
import _TestSupport

@testable import Reports

@Test func crc32cMatchesTheCastagnoliCheckValue() {
  #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
  #expect(CRC32C.checksum([]) == 0)
  // 32 zero bytes: the test vector of RFC 3720 (iSCSI), appendix B.4.
  #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
}

@Test func maskingMatchesTensorBoardsOwn() {
  // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c's values.
  #expect(CRC32C.masked(CRC32C.checksum(Array("123456789".utf8))) == 0xC78A_B0E5)
  #expect(CRC32C.masked(CRC32C.checksum([5, 0, 0, 0, 0, 0, 0, 0])) == 0x3E04_B2EA)
  #expect(CRC32C.masked(0) == 0xA282_EAD8)
}

@Test func varintsTakeSevenBitsAByteLowBitsFirst() {
  func varint(_ value: UInt64) -> [UInt8] {
    var bytes: [UInt8] = []
    ProtobufEncoder.appendVarint(value, to: &bytes)
    return bytes
  }
  #expect(varint(0) == [0])
  #expect(varint(1) == [1])
  #expect(varint(127) == [0x7F])
  #expect(varint(128) == [0x80, 0x01])
  #expect(varint(300) == [0xAC, 0x02])
  #expect(varint(UInt64.max) == [UInt8](repeating: 0xFF, count: 9) + [0x01])
  // A negative int64 step is ten bytes, as protobuf writes it.
  #expect(varint(UInt64(bitPattern: -1)).count == 10)
}

@Test func fieldsCarryTheirNumberAndWireType() {
  var message = ProtobufEncoder()
  message.varint(2, 150)
  message.lengthDelimited(1, Array("ab".utf8))
  message.float(2, 1)
  message.double(1, 1)
  #expect(
    message.bytes
      == [0x10, 0x96, 0x01] + [0x0A, 2, 0x61, 0x62] + [0x15, 0, 0, 0x80, 0x3F]
      + [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
}

@Test func recordsFrameTheDataWithMaskedChecksums() {
  let data = Array("hello".utf8)
  let record = TensorBoardEventFile.record(data)
  #expect(record.count == 8 + 4 + data.count + 4)
  #expect(Array(record.prefix(8)) == [5, 0, 0, 0, 0, 0, 0, 0])
  func word(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    bytes.reversed().reduce(0) { $0 << 8 | UInt32($1) }
  }
  #expect(word(record[8..<12]) == CRC32C.masked(CRC32C.checksum(Array(record.prefix(8)))))
  #expect(Array(record[12..<17]) == data)
  #expect(word(record[17..<21]) == CRC32C.masked(CRC32C.checksum(data)))
}

@Test func eventFilesStartWithTheFileVersion() throws {
  let directory = try TemporaryDirectory()
  let file = try TensorBoardEventFile(directory: directory.path("run"))
  try file.addScalar("loss", 0.5, step: 1)
  let second = try TensorBoardEventFile(directory: directory.path("run"))
  #expect(second.path != file.path)
  let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file.path)))
  let length = Int(bytes[0])
  let event = Array(bytes[12..<(12 + length)])
  #expect(event.count == 9 + 2 + 13)
  #expect(Array(event[9...]) == [0x1A, 13] + Array("brain.Event:2".utf8))
  #expect(URL(fileURLWithPath: file.path).lastPathComponent.hasPrefix("events.out.tfevents."))
}

@Test func heatMapImagesAreValidPNGs() throws {
  let image = try PNGImage(heatMap: [[0, 1, 0.5], [1, 0, 0.5]], cellSize: 4)
  // Sizes that describe no image are errors, not traps.
  #expect(throws: PNGSizeError.self) { try PNGImage(heatMap: [[1]], cellSize: 0) }
  #expect(throws: PNGSizeError.self) { try PNGImage(heatMap: [[1]], cellSize: Int.max / 2) }
  #expect(throws: PNGSizeError(width: 2, height: 2, byteCount: 1)) {
    try PNGImage(width: 2, height: 2, pixels: [0])
  }
  #expect(image.width == 12 && image.height == 8)
  // Each value fills its cell in the reports' palette: 0 at the top left, 1 below it.
  func rgb(_ hex: String) -> [UInt8] {
    let value = UInt32(hex.dropFirst(), radix: 16)!
    return [UInt8(value >> 16), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }
  #expect(Array(image.pixels[0..<3]) == rgb(Palette.sequential(0)))
  #expect(
    Array(image.pixels[(3 * 12 + 3) * 3..<(3 * 12 + 3) * 3 + 3]) == rgb(Palette.sequential(0)))
  #expect(Array(image.pixels[(4 * 12) * 3..<(4 * 12) * 3 + 3]) == rgb(Palette.sequential(1)))
  let png = try image.encoded()
  #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
  #expect(Array(png[12..<16]) == Array("IHDR".utf8))
  #expect(Array(png.suffix(12)) == [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82])
}

import CZlib
import Foundation

/// An 8-bit RGB image, encoded as PNG for TensorBoard's images dashboard.
///
/// The encoding is the smallest valid PNG: the signature, an `IHDR` chunk (8-bit RGB, not
/// interlaced), one `IDAT` chunk of zlib-compressed rows (each with filter type 0) and
/// `IEND`, every chunk closed by its CRC-32.
public struct PNGImage: Equatable {
  /// Width in pixels.
  public let width: Int
  /// Height in pixels.
  public let height: Int
  /// Red, green, blue per pixel, rows top to bottom: `width × height × 3` bytes.
  public let pixels: [UInt8]

  /// An image of `width × height` pixels from `pixels` (RGB, rows top to bottom).
  ///
  /// - Throws: ``PNGSizeError`` unless both sizes are positive and `pixels` has
  ///   `width × height × 3` bytes.
  public init(width: Int, height: Int, pixels: [UInt8]) throws {
    guard let count = Self.byteCount(width: width, height: height), pixels.count == count
    else { throw PNGSizeError(width: width, height: height, byteCount: pixels.count) }
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  /// `heatMap` drawn as an image: each value a `cellSize`-pixel square in the reports'
  /// sequential palette (``Palette/sequential(_:)``, 0 → light, 1 → dark), rows top to
  /// bottom.
  ///
  /// Rows must have equal lengths; an empty table gives a single light cell.
  /// - Throws: ``PNGSizeError`` when `cellSize` is not positive or the image is too large
  ///   to address.
  public init(heatMap values: [[Double]], cellSize: Int = 24) throws {
    let rows = max(values.count, 1)
    let columns = max(values.first?.count ?? 0, 1)
    let (width, wide) = columns.multipliedReportingOverflow(by: cellSize)
    let (height, tall) = rows.multipliedReportingOverflow(by: cellSize)
    guard !wide, !tall, let count = Self.byteCount(width: width, height: height) else {
      throw PNGSizeError(
        width: wide ? Int.max : width, height: tall ? Int.max : height, byteCount: 0)
    }
    var pixels = [UInt8](repeating: 0, count: count)
    for row in 0..<rows {
      for column in 0..<columns {
        let value = row < values.count && column < values[row].count ? values[row][column] : 0
        let colour = Self.rgb(Palette.sequential(value))
        for y in (row * cellSize)..<((row + 1) * cellSize) {
          for x in (column * cellSize)..<((column + 1) * cellSize) {
            let offset = (y * width + x) * 3
            (pixels[offset], pixels[offset + 1], pixels[offset + 2]) = colour
          }
        }
      }
    }
    try self.init(width: width, height: height, pixels: pixels)
  }

  /// `width × height × 3`, or `nil` unless both sizes are positive and the product fits.
  private static func byteCount(width: Int, height: Int) -> Int? {
    guard width > 0, height > 0 else { return nil }
    let (area, overflow) = width.multipliedReportingOverflow(by: height)
    let (bytes, overflowBytes) = area.multipliedReportingOverflow(by: 3)
    return overflow || overflowBytes ? nil : bytes
  }

  /// The red, green and blue of a `#rrggbb` colour.
  private static func rgb(_ hex: String) -> (UInt8, UInt8, UInt8) {
    let value = UInt32(hex.dropFirst(), radix: 16) ?? 0
    return (UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF))
  }

  /// The PNG file's bytes.
  ///
  /// - Throws: ``PNGEncodingError`` when zlib fails to compress the rows.
  public func encoded() throws -> [UInt8] {
    var header: [UInt8] = []
    Self.appendBigEndian(UInt32(width), to: &header)
    Self.appendBigEndian(UInt32(height), to: &header)
    header += [8, 2, 0, 0, 0]  // bit depth 8, RGB, deflate, adaptive filters, no interlace
    var rows: [UInt8] = []
    rows.reserveCapacity(height * (width * 3 + 1))
    for row in 0..<height {
      rows.append(0)  // filter type: none
      rows += pixels[(row * width * 3)..<((row + 1) * width * 3)]
    }
    var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    Self.appendChunk("IHDR", header, to: &file)
    Self.appendChunk("IDAT", try Self.compressed(rows), to: &file)
    Self.appendChunk("IEND", [], to: &file)
    return file
  }

  /// `bytes` as a zlib stream, at zlib's best compression.
  private static func compressed(_ bytes: [UInt8]) throws -> [UInt8] {
    var length = compressBound(uLong(bytes.count))
    var output = [UInt8](repeating: 0, count: Int(length))
    let status = output.withUnsafeMutableBufferPointer { out in
      bytes.withUnsafeBufferPointer {
        compress2(out.baseAddress, &length, $0.baseAddress, uLong(bytes.count), Z_BEST_COMPRESSION)
      }
    }
    guard status == Z_OK else { throw PNGEncodingError(zlibStatus: status) }
    return Array(output.prefix(Int(length)))
  }

  /// Appends a chunk: the data's length, the type, the data, and the CRC-32 of type and
  /// data.
  private static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
    appendBigEndian(UInt32(data.count), to: &file)
    let typed = Array(type.utf8) + data
    file += typed
    let crc = typed.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
    appendBigEndian(UInt32(crc), to: &file)
  }

  private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
  }
}

/// Sizes that do not describe an image's pixels: not positive, too large, or not matching
/// the number of RGB bytes.
public struct PNGSizeError: Error, CustomStringConvertible, Equatable {
  /// The width asked for, in pixels.
  public let width: Int
  /// The height asked for, in pixels.
  public let height: Int
  /// The number of pixel bytes given.
  public let byteCount: Int

  public var description: String {
    "a PNG image needs positive sizes and 3 bytes per pixel; got \(width) × \(height) pixels "
      + "and \(byteCount) bytes"
  }
}

/// zlib could not compress a PNG image's rows.
public struct PNGEncodingError: Error, CustomStringConvertible {
  /// zlib's status code.
  public let zlibStatus: Int32

  public var description: String { "zlib could not compress a PNG image (status \(zlibStatus))" }
}

import CZlib
import Foundation

/// Reads a whole file, decompressing it when its name ends in `.gz`.
///
/// - Throws: ``DatasetError/unreadable(file:reason:)`` or
///   ``DatasetError/corruptGzip(file:reason:)``.
func readFileBytes(_ path: String) throws -> [UInt8] {
  guard let data = FileManager.default.contents(atPath: path) else {
    throw DatasetError.unreadable(
      file: path,
      reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
  }
  let bytes = [UInt8](data)
  return path.hasSuffix(".gz") ? try gunzip(bytes, file: path) : bytes
}

/// Decompresses a complete gzip stream.
func gunzip(_ compressed: [UInt8], file: String) throws -> [UInt8] {
  var stream = z_stream()
  // 16 + 15: a gzip header and the largest window.
  guard
    inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
      == Z_OK
  else { throw DatasetError.corruptGzip(file: file, reason: "zlib could not start") }
  defer { inflateEnd(&stream) }
  var output: [UInt8] = []
  output.reserveCapacity(compressed.count * 4)
  var chunk = [UInt8](repeating: 0, count: 1 << 20)
  var status = Z_OK
  var input = compressed
  try input.withUnsafeMutableBufferPointer { source in
    stream.next_in = source.baseAddress
    stream.avail_in = uInt(source.count)
    repeat {
      chunk.withUnsafeMutableBufferPointer { target in
        stream.next_out = target.baseAddress
        stream.avail_out = uInt(target.count)
        status = inflate(&stream, Z_NO_FLUSH)
      }
      guard status == Z_OK || status == Z_STREAM_END else {
        let reason = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
        throw DatasetError.corruptGzip(file: file, reason: reason)
      }
      output += chunk[0..<(chunk.count - Int(stream.avail_out))]
      if status == Z_OK && stream.avail_in == 0 && stream.avail_out > 0 {
        throw DatasetError.corruptGzip(file: file, reason: "the stream ends early (truncated)")
      }
    } while status != Z_STREAM_END
  }
  return output
}

/// Compresses bytes as a gzip stream (for writing dataset files in tests and examples).
public func gzipCompress(_ bytes: [UInt8]) -> [UInt8] {
  var stream = z_stream()
  guard
    deflateInit2_(
      &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
      ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
  else { return [] }
  defer { deflateEnd(&stream) }
  var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
  var input = bytes
  input.withUnsafeMutableBufferPointer { source in
    output.withUnsafeMutableBufferPointer { target in
      stream.next_in = source.baseAddress
      stream.avail_in = uInt(source.count)
      stream.next_out = target.baseAddress
      stream.avail_out = uInt(target.count)
      deflate(&stream, Z_FINISH)
    }
  }
  return Array(output[0..<Int(stream.total_out)])
}

import CZlib
import Foundation

/// Reads a whole file, decompressing it when its name ends in `.gz`.
///
/// - Throws: ``DatasetError/unreadable(file:reason:)`` or
///   ``DatasetError/corruptGzip(file:reason:)``.
func readFileBytes(_ path: String) throws -> [UInt8] {
  let bytes: [UInt8]
  do {
    bytes = try readRegularFile(path)
  } catch {
    throw DatasetError.unreadable(file: path, reason: error.reason)
  }
  return path.hasSuffix(".gz") ? try gunzip(bytes, file: path) : bytes
}

/// Why a file could not be read, in words.
public struct FileReadError: Error, Equatable {
  /// The path as given.
  public let path: String
  /// The system's text for the error, lower-cased (`no such file or directory`,
  /// `permission denied`, `file name too long`), `is a directory, not a file`, or
  /// `is not a regular file`.
  public let reason: String
}

/// The bytes of the regular file at `path`.
///
/// A FIFO, socket or device is refused before anything is read from it, so reading never
/// blocks on one.
/// - Throws: ``FileReadError``.
public func readRegularFile(_ path: String) throws(FileReadError) -> [UInt8] {
  func failure(_ code: Int32) -> FileReadError {
    FileReadError(path: path, reason: errorText(code))
  }
  let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
  guard descriptor >= 0 else { throw failure(errno) }
  defer { close(descriptor) }
  var status = stat()
  guard fstat(descriptor, &status) == 0 else { throw failure(errno) }
  switch status.st_mode & S_IFMT {
  case S_IFREG: break
  case S_IFDIR: throw FileReadError(path: path, reason: "is a directory, not a file")
  default: throw FileReadError(path: path, reason: "is not a regular file")
  }
  // Sized from fstat and grown only when the file turns out longer (it grew, or the system
  // reports no size): appending to a full array would double its capacity.
  var bytes = [UInt8](repeating: 0, count: max(Int(status.st_size), 0))
  var count = 0
  var probe = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let full = count == bytes.count
    let got =
      full
      ? probe.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
      : bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + count, $0.count - count) }
    if got < 0 {
      if errno == EINTR { continue }
      throw failure(errno)
    }
    if got == 0 { break }
    if full { bytes += probe[0..<got] }
    count += got
  }
  bytes.removeLast(bytes.count - count)
  return bytes
}

/// The system's text for a Foundation file error (`permission denied`), from its errno
/// (see ``posixErrorCode(of:)``); the error's own description when it has none.
func systemReason(_ error: Error) -> String {
  posixErrorCode(of: error).map(errorText) ?? (error as NSError).localizedDescription
}

/// An error as one line for people: a Foundation file error as `PATH: reason` (the system's
/// reason, never the Cocoa domain and code), any other error as its description.
public func describeError(_ error: any Error) -> String {
  let nsError = error as NSError
  guard nsError.domain == NSCocoaErrorDomain else { return "\(error)" }
  let path =
    (nsError.userInfo[NSFilePathErrorKey] as? String)
    ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path ?? "a file"
  let reason =
    posixErrorCode(of: error).map { String(cString: strerror($0)) } ?? nsError.localizedDescription
  return "\(path): \(reason)"
}

/// The errno behind a Foundation file error: its own code in the POSIX domain, the POSIX
/// error underneath it, or the errno a Cocoa file error's code stands for (no such file,
/// permission denied, file exists, no space, read-only file system); `nil` otherwise.
public func posixErrorCode(of error: any Error) -> Int32? {
  let error = error as NSError
  if error.domain == NSPOSIXErrorDomain { return Int32(error.code) }
  if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError,
    underlying.domain == NSPOSIXErrorDomain
  {
    return Int32(underlying.code)
  }
  guard error.domain == NSCocoaErrorDomain else { return nil }
  let errnoOfCocoaCode: [Int: Int32] = [
    CocoaError.fileNoSuchFile.rawValue: ENOENT, CocoaError.fileReadNoSuchFile.rawValue: ENOENT,
    CocoaError.fileReadNoPermission.rawValue: EACCES,
    CocoaError.fileWriteNoPermission.rawValue: EACCES,
    CocoaError.fileWriteFileExists.rawValue: EEXIST,
    CocoaError.fileWriteOutOfSpace.rawValue: ENOSPC,
    CocoaError.fileWriteVolumeReadOnly.rawValue: EROFS,
  ]
  return errnoOfCocoaCode[error.code]
}

/// strerror's text for `code`, lower-cased to continue a sentence: `permission denied`.
func errorText(_ code: Int32) -> String {
  let text = String(cString: strerror(code))
  return text.prefix(1).lowercased() + text.dropFirst()
}

/// Decompresses a complete gzip file: one member, or several one after another (as
/// `cat a.gz b.gz` or parallel compressors write), their contents concatenated.
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
    while true {
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
      if status == Z_STREAM_END {
        guard stream.avail_in > 0 else { break }
        let next = source.count - Int(stream.avail_in)
        guard stream.avail_in >= 2, source[next] == 0x1f, source[next + 1] == 0x8b else {
          throw DatasetError.corruptGzip(
            file: file,
            reason: "byte offset \(next): the \(stream.avail_in) bytes after the compressed data "
              + "are not another gzip member")
        }
        inflateReset(&stream)
      } else if stream.avail_in == 0 && stream.avail_out > 0 {
        throw DatasetError.corruptGzip(file: file, reason: "the stream ends early (truncated)")
      }
    }
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

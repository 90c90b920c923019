import CHDF5
import Datasets
import Foundation

/// An error reading or writing an HDF5 file: the file, the object path inside it and
/// what went wrong.
public struct HDF5Error: Error, CustomStringConvertible, Equatable {
  /// The file on disk.
  public let file: String
  /// The object inside the file (`/model/experts/expert_000/…`), or `/`.
  public let path: String
  /// What failed and why.
  public let message: String

  /// An error about `path` inside `file`.
  public init(file: String, path: String, message: String) {
    self.file = file
    self.path = path
    self.message = message
  }

  public var description: String { "\(file): \(path): \(message)" }
}

/// An open HDF5 file; closed when released.
///
/// Files are written in the HDF5 1.10 format, whose metadata (superblock, object headers
/// with their attributes, group and chunk indices) carries checksums, and every non-empty
/// dataset is chunked with the Fletcher-32 checksum filter: damage is detected on reading.
/// Files without checksums (written before) are read as they are.
public final class HDF5File {
  /// The path on disk.
  public let path: String
  let id: hid_t
  /// The file's size when opened (`Int.max` for a file being created): no dataset read
  /// from it is allowed more bytes than that.
  let byteCount: Int

  private init(path: String, id: hid_t, byteCount: Int) {
    self.path = path
    self.id = id
    self.byteCount = byteCount
  }

  /// Creates (or truncates) the file at `path`.
  ///
  /// - Throws: ``HDF5Error`` naming `path` and the system's reason, such as "Permission
  ///   denied" or "No such file or directory".
  public static func create(_ path: String) throws -> HDF5File {
    es_silence_errors()
    let access = try fileAccess(for: path, inMemory: false)
    defer { H5Pclose(access) }
    errno = 0
    let id = H5Fcreate(path, es_H5F_ACC_TRUNC(), es_H5P_DEFAULT(), access)
    guard id >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot create the file" + reason(errno))
    }
    return HDF5File(path: path, id: id, byteCount: .max)
  }

  /// The access properties of a new file: the 1.10 format, whose metadata carries checksums
  /// and whose chunk indexes are checksummed too (1.8's B-trees have none; h5py reads
  /// both); with `inMemory`, HDF5's in-memory driver without a backing store. The caller
  /// closes the list.
  private static func fileAccess(for path: String, inMemory: Bool) throws -> hid_t {
    H5open()
    let access = H5Pcreate(H5P_CLS_FILE_ACCESS_ID_g)
    guard access >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot create a file access list")
    }
    guard H5Pset_libver_bounds(access, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0,
      !inMemory || H5Pset_fapl_core(access, 1 << 20, false) >= 0
    else {
      H5Pclose(access)
      throw HDF5Error(file: path, path: "/", message: "cannot choose the file format")
    }
    return access
  }

  /// Writes a new file at `path` (creating its directory): `fill` writes into the root of a
  /// file built in memory, whose bytes then go to a temporary file beside `path` that is
  /// synced to disk (`fsync`) and renamed over `path`; the directory is synced last.
  ///
  /// A crash or an error never leaves a half-written file under `path`, and the file there
  /// stays whole until the rename replaces it. HDF5 never writes to the disk itself, so a
  /// full disk fails here with the system's reason, never later in HDF5's close. A
  /// temporary left by a killed process is named `.NAME.partial-PID`.
  ///
  /// - Throws: what `fill` throws, or ``HDF5Error`` naming `path` and the system's reason
  ///   ("No space left on device", "Not a directory", …) when a step on disk fails.
  public static func createAtomically(
    _ path: String, _ fill: (HDF5Group) throws -> Void
  ) throws {
    let image = try memoryImage(of: path, fill)
    do {
      try FileSystem.writeAtomically(Data(image), to: path)
    } catch let error as FileSystemError {
      throw HDF5Error(file: error.path, path: "/", message: "\(error.step): \(error.reason)")
    }
  }

  /// The bytes of the file `fill` writes, built with HDF5's in-memory driver (no backing
  /// store); errors name `path`.
  private static func memoryImage(of path: String, _ fill: (HDF5Group) throws -> Void) throws
    -> [UInt8]
  {
    es_silence_errors()
    let access = try fileAccess(for: path, inMemory: true)
    defer { H5Pclose(access) }
    // A name no open file has: the library refuses to truncate a file it has open, such as
    // the checkpoint a resumed run read.
    let id = H5Fcreate(
      "\(path).in-memory-\(getpid())-\(UInt64.random(in: 0...UInt64.max))", es_H5F_ACC_TRUNC(),
      es_H5P_DEFAULT(), access)
    guard id >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot create the file in memory")
    }
    // Closed (in memory, so it cannot fail on disk) when this function returns.
    let file = HDF5File(path: path, id: id, byteCount: .max)
    try fill(file.root)
    try file.flush()
    let size = H5Fget_file_image(id, nil, 0)
    guard size > 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot read the file's image")
    }
    var image = [UInt8](repeating: 0, count: size)
    guard H5Fget_file_image(id, &image, size) == size else {
      throw HDF5Error(file: path, path: "/", message: "cannot read the file's image")
    }
    resealSuperblock(&image)
    return image
  }

  /// Gives a file image's version 2 or 3 superblock the checksum of its bytes.
  ///
  /// HDF5 1.10.8 clears the "open for writing" flag in the image it hands out but keeps the
  /// checksum computed with the flag set, so the image would not open; recomputing it is
  /// harmless where the library gets it right. Layout: signature (8 bytes), version, size of
  /// offsets O, size of lengths, flags, four addresses of O bytes, then the checksum.
  static func resealSuperblock(_ image: inout [UInt8]) {
    guard image.count >= 12, image[8] == 2 || image[8] == 3 else { return }
    let checksummed = 12 + 4 * Int(image[9])
    guard image.count >= checksummed + 4 else { return }
    let checksum = jenkinsLookup3(image[0..<checksummed])
    for byte in 0..<4 {
      image[checksummed + byte] = UInt8(truncatingIfNeeded: checksum >> (8 * byte))
    }
  }

  /// Bob Jenkins's lookup3 hash (`hashlittle`, initial value 0): HDF5's metadata checksum.
  static func jenkinsLookup3(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    let data = Array(bytes)
    func word(_ index: Int) -> UInt32 {
      (0..<4).reduce(0) { sum, byte in
        let position = index + byte
        return sum | (position < data.count ? UInt32(data[position]) << (8 * UInt32(byte)) : 0)
      }
    }
    func rotate(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }
    var a = 0xdead_beef &+ UInt32(truncatingIfNeeded: data.count)
    var (b, c) = (a, a)
    var offset = 0
    while data.count - offset > 12 {
      a &+= word(offset)
      b &+= word(offset + 4)
      c &+= word(offset + 8)
      a &-= c; a ^= rotate(c, 4); c &+= b
      b &-= a; b ^= rotate(a, 6); a &+= c
      c &-= b; c ^= rotate(b, 8); b &+= a
      a &-= c; a ^= rotate(c, 16); c &+= b
      b &-= a; b ^= rotate(a, 19); a &+= c
      c &-= b; c ^= rotate(b, 4); b &+= a
      offset += 12
    }
    guard data.count > offset else { return c }
    // The last 1 to 12 bytes, zero-padded (adding zeros changes nothing).
    a &+= word(offset)
    b &+= word(offset + 4)
    c &+= word(offset + 8)
    c ^= b; c &-= rotate(b, 14)
    a ^= c; a &-= rotate(c, 11)
    b ^= a; b &-= rotate(a, 25)
    c ^= b; c &-= rotate(b, 16)
    a ^= c; a &-= rotate(c, 4)
    b ^= a; b &-= rotate(a, 14)
    c ^= b; c &-= rotate(b, 24)
    return c
  }

  /// `": "` and the system's text for `code` (`strerror`), or nothing for 0.
  private static func reason(_ code: Int32) -> String {
    code == 0 ? "" : ": " + String(cString: strerror(code))
  }

  /// Opens an existing file for reading (or, with `writable`, for changing it in place).
  public static func open(_ path: String, writable: Bool = false) throws -> HDF5File {
    es_silence_errors()
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw HDF5Error(file: path, path: "/", message: "no such file")
    }
    guard !isDirectory.boolValue else {
      throw HDF5Error(file: path, path: "/", message: "is a directory, not a checkpoint file")
    }
    guard H5Fis_hdf5(path) > 0 else {
      throw HDF5Error(file: path, path: "/", message: "not an HDF5 file")
    }
    guard let byteCount = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
    else {
      throw HDF5Error(file: path, path: "/", message: "cannot read the file's size")
    }
    let id = H5Fopen(
      path, writable ? es_H5F_ACC_RDWR() : es_H5F_ACC_RDONLY(), es_H5P_DEFAULT())
    guard id >= 0 else {
      throw HDF5Error(file: path, path: "/", message: describeFailure("cannot open the file"))
    }
    return HDF5File(path: path, id: id, byteCount: byteCount)
  }

  deinit { H5Fclose(id) }

  /// What is wrong with the file's global heap, where HDF5 keeps variable-length strings
  /// without a checksum, or `nil`; found on the first variable-length read. HDF5 1.10 copies
  /// a heap object of its stored size without checking it against its collection, so a
  /// damaged size would crash the reader. A file being created (`byteCount` unbounded, and
  /// perhaps only in memory) holds what this process wrote and is not checked.
  private lazy var globalHeapDamage: String? =
    byteCount == .max ? nil : Self.globalHeapDamage(path)

  /// Throws when the file's global heap is damaged (see ``globalHeapDamage``).
  func checkGlobalHeap() throws {
    if let damage = globalHeapDamage { throw HDF5Error(file: path, path: "/", message: damage) }
  }

  /// Walks every global heap collection in the file at `path` (signature `GCOL`, version 1):
  /// each object's size must fit in its collection.
  private static func globalHeapDamage(_ path: String) -> String? {
    guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    else { return "cannot read the file to check its global heap" }
    let signature: [UInt8] = Array("GCOL".utf8) + [1, 0, 0, 0]
    let (headerSize, objectHeaderSize) = (16, 16)
    return data.withUnsafeBytes { bytes -> String? in
      guard let base = bytes.baseAddress else { return nil }
      func word<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
      }
      var start = 0
      while start + headerSize <= bytes.count,
        let found = memchr(base + start, Int32(signature[0]), bytes.count - start)
      {
        let collection = base.distance(to: UnsafeRawPointer(found))
        start = collection + 1
        guard collection + headerSize <= bytes.count else { break }
        guard memcmp(found, signature, signature.count) == 0 else { continue }
        let size = word(collection + 8, UInt64.self)
        guard size >= UInt64(headerSize), size <= UInt64(bytes.count - collection) else {
          return "the global heap (variable-length strings) is damaged: the collection at "
            + "byte \(collection) claims \(size) bytes"
        }
        let end = collection + Int(size)
        var position = collection + headerSize
        while position + objectHeaderSize <= end {
          let index = word(position, UInt16.self)
          let objectSize = word(position + 8, UInt64.self)
          // Index 0 is the collection's free space, its last object, header included.
          let room = end - position - (index == 0 ? 0 : objectHeaderSize)
          guard objectSize <= UInt64(room) else {
            return "the global heap (variable-length strings) is damaged: object \(index) at "
              + "byte \(position) claims \(objectSize) bytes, more than its collection holds"
          }
          if index == 0 { break }
          position += objectHeaderSize + (Int(objectSize) + 7) / 8 * 8
        }
      }
      return nil
    }
  }

  /// The root group, `/`.
  public var root: HDF5Group { HDF5Group(file: self, path: "/") }

  /// Writes everything to disk.
  ///
  /// - Throws: ``HDF5Error`` with the system's reason, such as "No space left on device".
  public func flush() throws {
    errno = 0
    guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot write the file" + Self.reason(errno))
    }
  }
}

/// `what` failed, prefixed with "checksum mismatch: " when HDF5's error stack (filled by
/// the call that just failed) reports a checksum error: Fletcher-32 on a dataset's data or
/// a metadata checksum.
func describeFailure(_ what: String) -> String {
  var checksumFailed = false
  H5Ewalk2(
    es_H5E_DEFAULT(), H5E_WALK_DOWNWARD,
    { _, entry, found in
      if let description = entry?.pointee.desc,
        String(cString: description).lowercased().contains("checksum")
      {
        found?.assumingMemoryBound(to: Bool.self).pointee = true
      }
      return 0
    }, &checksumFailed)
  return checksumFailed ? "checksum mismatch: \(what) (the file is damaged)" : what
}

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

/// A group inside an ``HDF5File``, addressed by its absolute path.
public struct HDF5Group {
  /// The file.
  public let file: HDF5File
  /// The absolute path, `/` for the root.
  public let path: String

  /// The most dimensions a dataset read may have (HDF5's own limit).
  static let maximumRank = 32
  /// The longest member name or string attribute read, in bytes.
  static let maximumStringLength = 1 << 24

  func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

  func error(_ name: String?, _ message: String) -> HDF5Error {
    HDF5Error(file: file.path, path: name.map(childPath) ?? path, message: message)
  }

  /// The error of an HDF5 call about `name` that just failed (see ``describeFailure(_:)``).
  func failure(_ name: String?, _ what: String) -> HDF5Error {
    error(name, describeFailure(what))
  }

  // MARK: - Groups

  /// The sub-group `name`, created if absent.
  public func group(_ name: String) throws -> HDF5Group {
    let full = childPath(name)
    if !contains(name) {
      let id = H5Gcreate2(file.id, full, es_H5P_DEFAULT(), es_H5P_DEFAULT(), es_H5P_DEFAULT())
      guard id >= 0 else { throw error(name, "cannot create the group") }
      H5Gclose(id)
    }
    return HDF5Group(file: file, path: full)
  }

  /// The existing sub-group `name`.
  ///
  /// - Throws: ``HDF5Error`` when there is no member `name`, or it is not a group.
  public func existingGroup(_ name: String) throws -> HDF5Group {
    guard try exists(name) else { throw error(name, "missing group") }
    let id = H5Gopen2(file.id, childPath(name), es_H5P_DEFAULT())
    guard id >= 0 else { throw failure(name, "not a group") }
    H5Gclose(id)
    return HDF5Group(file: file, path: childPath(name))
  }

  /// Removes the member `name` (a dataset or group) from this group.
  public func remove(_ name: String) throws {
    guard H5Ldelete(file.id, childPath(name), es_H5P_DEFAULT()) >= 0 else {
      throw error(name, "cannot remove")
    }
  }

  /// Whether a link `name` exists in this group.
  public func contains(_ name: String) -> Bool {
    H5Lexists(file.id, childPath(name), es_H5P_DEFAULT()) > 0
  }

  /// Whether a link `name` exists in this group; throws when the group cannot be read.
  func exists(_ name: String) throws -> Bool {
    let found = H5Lexists(file.id, childPath(name), es_H5P_DEFAULT())
    guard found >= 0 else { throw failure(nil, "cannot look up member \(name)") }
    return found > 0
  }

  /// The names of this group's members, in name order.
  ///
  /// Listed by iterating over the group's links in their stored order (`H5Literate`,
  /// `H5_ITER_NATIVE`) and sorted here by the bytes of their UTF-8 names (HDF5's name
  /// order): to answer a lookup by index, or an iteration in name order, of a group of many
  /// links, HDF5 1.10.8 builds a table of them, and when the link heap is damaged it frees
  /// table entries it never filled, which crashes.
  public func memberNames() throws -> [String] {
    let id = H5Gopen2(file.id, path, es_H5P_DEFAULT())
    guard id >= 0 else { throw failure(nil, "cannot open the group") }
    defer { H5Gclose(id) }
    let list = NameList()
    var index: hsize_t = 0
    let status = withExtendedLifetime(list) {
      H5Literate(
        id, H5_INDEX_NAME, H5_ITER_NATIVE, &index,
        { _, name, _, context in collectName(name, context) },
        Unmanaged.passUnretained(list).toOpaque())
    }
    if list.tooLong {
      throw error(
        nil,
        "member \(list.names.count) has a name of more than \(Self.maximumStringLength) bytes")
    }
    guard status >= 0 else { throw failure(nil, "cannot list the group") }
    return list.names.sorted(by: utf8Precedes)
  }

  // MARK: - Datasets

  /// Writes a dataset of `Float32` values with `shape` (row-major).
  public func write(_ name: String, floats values: [Float], shape: [Int]) throws {
    try write(name, values, shape: shape, type: es_H5T_NATIVE_FLOAT())
  }

  /// Writes a dataset of `Float64` values with `shape`.
  public func write(_ name: String, doubles values: [Double], shape: [Int]) throws {
    try write(name, values, shape: shape, type: es_H5T_NATIVE_DOUBLE())
  }

  /// Writes a dataset of 64-bit integers with `shape`.
  public func write(_ name: String, integers values: [Int64], shape: [Int]) throws {
    try write(name, values, shape: shape, type: es_H5T_NATIVE_INT64())
  }

  /// Chunks of at most this many bytes (HDF5 allows less than 4 GiB per chunk).
  static let maximumChunkBytes = 1 << 30

  /// Writes `values` chunked with the Fletcher-32 filter (a dataset with no values cannot be
  /// chunked, and has nothing to check: it is stored contiguously).
  private func write<Element>(_ name: String, _ values: [Element], shape: [Int], type: hid_t)
    throws
  {
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
      throw error(name, "shape \(shape) does not hold \(values.count) values")
    }
    let dimensions = shape.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(shape.count), dimensions, nil)
    guard space >= 0 else { throw error(name, "cannot create a dataspace of shape \(shape)") }
    defer { H5Sclose(space) }
    let creation = H5Pcreate(es_H5P_DATASET_CREATE())
    guard creation >= 0 else { throw error(name, "cannot create a dataset creation list") }
    defer { H5Pclose(creation) }
    if !values.isEmpty && !shape.isEmpty {
      var chunk = shape
      var bytes = values.count * MemoryLayout<Element>.stride
      for axis in chunk.indices where bytes > Self.maximumChunkBytes {
        let parts = (bytes + Self.maximumChunkBytes - 1) / Self.maximumChunkBytes
        let kept = max(1, chunk[axis] / parts)
        bytes = bytes / chunk[axis] * kept
        chunk[axis] = kept
      }
      guard H5Pset_chunk(creation, Int32(chunk.count), chunk.map { hsize_t($0) }) >= 0,
        H5Pset_fletcher32(creation) >= 0
      else { throw error(name, "cannot set the Fletcher-32 checksum filter") }
    }
    let dataset = H5Dcreate2(
      file.id, childPath(name), type, space, es_H5P_DEFAULT(), creation, es_H5P_DEFAULT())
    guard dataset >= 0 else { throw error(name, "cannot create the dataset") }
    defer { H5Dclose(dataset) }
    let status = values.withUnsafeBytes { bytes in
      H5Dwrite(dataset, type, es_H5S_ALL(), es_H5S_ALL(), es_H5P_DEFAULT(), bytes.baseAddress)
    }
    guard status >= 0 else { throw error(name, "cannot write the dataset") }
  }

  /// The shape of dataset `name`.
  ///
  /// - Throws: ``HDF5Error`` when it is missing, not a dataset, or its dimensions cannot be
  ///   real: more than 32 of them, or more values than the file has bytes.
  public func shape(of name: String) throws -> [Int] {
    let dataset = try openDataset(name)
    defer { H5Dclose(dataset) }
    return try datasetShape(dataset, name)
  }

  /// Reads dataset `name` as `Float32` values, converting from its stored numeric type;
  /// with `exactType`, it must be stored as float32 (no conversion that could change a value).
  public func readFloats(_ name: String, exactType: Bool = false) throws
    -> (shape: [Int], values: [Float])
  {
    try read(name, type: es_H5T_NATIVE_FLOAT(), typeName: "float32", exactType, zero: Float(0))
  }

  /// Reads dataset `name` as `Float64` values; with `exactType`, it must be stored as float64.
  public func readDoubles(_ name: String, exactType: Bool = false) throws
    -> (shape: [Int], values: [Double])
  {
    try read(name, type: es_H5T_NATIVE_DOUBLE(), typeName: "float64", exactType, zero: Double(0))
  }

  /// Reads dataset `name` as 64-bit integers; with `exactType`, it must be stored as int64.
  public func readIntegers(_ name: String, exactType: Bool = false) throws
    -> (shape: [Int], values: [Int64])
  {
    try read(name, type: es_H5T_NATIVE_INT64(), typeName: "int64", exactType, zero: Int64(0))
  }

  private func openDataset(_ name: String) throws -> hid_t {
    guard try exists(name) else { throw error(name, "missing dataset") }
    let dataset = H5Dopen2(file.id, childPath(name), es_H5P_DEFAULT())
    guard dataset >= 0 else { throw failure(name, "not a dataset") }
    return dataset
  }

  /// The dimensions of `dataset`, checked against the file: at most 32, and no more values
  /// (of at least one byte each) than the file has bytes.
  private func datasetShape(_ dataset: hid_t, _ name: String) throws -> [Int] {
    let space = H5Dget_space(dataset)
    guard space >= 0 else { throw failure(name, "cannot read the dataspace") }
    defer { H5Sclose(space) }
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0, rank <= Self.maximumRank else {
      throw failure(name, "cannot read the rank")
    }
    var dimensions = [hsize_t](repeating: 0, count: Int(rank))
    guard H5Sget_simple_extent_dims(space, &dimensions, nil) == rank else {
      throw failure(name, "cannot read the dimensions")
    }
    let shape = dimensions.compactMap { Int(exactly: $0) }
    guard shape.count == dimensions.count, try elementCount(of: shape, name) <= file.byteCount
    else {
      throw error(
        name, "has dimensions \(dimensions), more values than the file's \(file.byteCount) bytes")
    }
    return shape
  }

  /// The product of `shape`, or an error when it overflows.
  private func elementCount(of shape: [Int], _ name: String) throws -> Int {
    var count = 1
    for dimension in shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow else { throw error(name, "has dimensions \(shape) whose product overflows") }
      count = product
    }
    return count
  }

  /// Reads numeric dataset `name` into memory type `type` (`typeName`, which it must be
  /// stored as when `exactType`), after checking its size against the file.
  private func read<Element>(
    _ name: String, type: hid_t, typeName: String, _ exactType: Bool, zero: Element
  ) throws -> (shape: [Int], values: [Element]) {
    let dataset = try openDataset(name)
    defer { H5Dclose(dataset) }
    let shape = try datasetShape(dataset, name)
    let storedType = H5Dget_type(dataset)
    guard storedType >= 0 else { throw failure(name, "cannot read the data type") }
    defer { H5Tclose(storedType) }
    let storedClass = H5Tget_class(storedType)
    guard storedClass == H5T_FLOAT || storedClass == H5T_INTEGER else {
      throw error(name, "holds non-numeric data (\(describeType(storedType)))")
    }
    guard !exactType || H5Tequal(storedType, type) > 0 else {
      throw error(name, "is stored as \(describeType(storedType)), expected \(typeName)")
    }
    let count = try elementCount(of: shape, name)
    let storedSize = max(H5Tget_size(storedType), 1)
    let (bytes, overflow) = count.multipliedReportingOverflow(by: storedSize)
    guard !overflow, bytes <= file.byteCount else {
      throw error(
        name,
        "has shape \(shape): \(count) values of \(storedSize) bytes, more than the file's "
          + "\(file.byteCount) bytes")
    }
    var values = [Element](repeating: zero, count: count)
    let status = values.withUnsafeMutableBytes { bytes in
      H5Dread(dataset, type, es_H5S_ALL(), es_H5S_ALL(), es_H5P_DEFAULT(), bytes.baseAddress)
    }
    guard status >= 0 else { throw failure(name, "cannot read the dataset") }
    return (shape, values)
  }

  /// `float32`, `int64`, `string` and so on: how a stored type is named in errors.
  private func describeType(_ type: hid_t) -> String {
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_FLOAT: return "float\(size * 8)"
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + "\(size * 8)"
    case H5T_STRING: return "string"
    default: return "a non-numeric type"
    }
  }

  // MARK: - Attributes

  /// Sets a string attribute on this group (variable-length UTF-8, as h5py writes `str`).
  public func setAttribute(_ name: String, _ value: String) throws {
    let type = H5Tcopy(es_H5T_C_S1())
    defer { H5Tclose(type) }
    H5Tset_size(type, es_H5T_VARIABLE())
    H5Tset_cset(type, H5T_CSET_UTF8)
    let status: herr_t = try withAttribute(name, type: type) { attribute in
      value.withCString { pointer in
        var pointers: [UnsafePointer<CChar>?] = [pointer]
        return H5Awrite(attribute, type, &pointers)
      }
    }
    guard status >= 0 else { throw error(nil, "cannot write attribute \(name)") }
  }

  /// Sets a 64-bit integer attribute.
  public func setAttribute(_ name: String, _ value: Int) throws {
    var stored = Int64(value)
    let type = es_H5T_NATIVE_INT64()
    let status = try withAttribute(name, type: type) { H5Awrite($0, type, &stored) }
    guard status >= 0 else { throw error(nil, "cannot write attribute \(name)") }
  }

  /// Sets a 64-bit float attribute.
  public func setAttribute(_ name: String, _ value: Double) throws {
    var stored = value
    let type = es_H5T_NATIVE_DOUBLE()
    let status = try withAttribute(name, type: type) { H5Awrite($0, type, &stored) }
    guard status >= 0 else { throw error(nil, "cannot write attribute \(name)") }
  }

  private func withAttribute(_ name: String, type: hid_t, _ body: (hid_t) -> herr_t) throws
    -> herr_t
  {
    let object = H5Oopen(file.id, path, es_H5P_DEFAULT())
    guard object >= 0 else { throw error(nil, "cannot open the object") }
    defer { H5Oclose(object) }
    if H5Aexists(object, name) > 0 { H5Adelete(object, name) }
    let space = H5Screate(H5S_SCALAR)
    defer { H5Sclose(space) }
    let attribute = H5Acreate2(object, name, type, space, es_H5P_DEFAULT(), es_H5P_DEFAULT())
    guard attribute >= 0 else { throw error(nil, "cannot create attribute \(name)") }
    defer { H5Aclose(attribute) }
    return body(attribute)
  }

  /// Removes attribute `name` from this group.
  public func removeAttribute(_ name: String) throws {
    let object = H5Oopen(file.id, path, es_H5P_DEFAULT())
    guard object >= 0 else { throw failure(nil, "cannot open the object") }
    defer { H5Oclose(object) }
    guard H5Adelete(object, name) >= 0 else { throw error(nil, "cannot remove attribute \(name)") }
  }

  /// Whether attribute `name` exists on this group.
  public func hasAttribute(_ name: String) -> Bool {
    let object = H5Oopen(file.id, path, es_H5P_DEFAULT())
    guard object >= 0 else { return false }
    defer { H5Oclose(object) }
    return H5Aexists(object, name) > 0
  }

  /// Reads string attribute `name` (variable- or fixed-length).
  public func stringAttribute(_ name: String) throws -> String {
    try readAttribute(name) { attribute, type in
      guard H5Tget_class(type) == H5T_STRING else {
        throw error(nil, "attribute \(name) is not a string")
      }
      if H5Tis_variable_str(type) > 0 {
        try file.checkGlobalHeap()
        let memoryType = H5Tcopy(es_H5T_C_S1())
        defer { H5Tclose(memoryType) }
        H5Tset_size(memoryType, es_H5T_VARIABLE())
        H5Tset_cset(memoryType, H5Tget_cset(type))
        var pointer: UnsafeMutablePointer<CChar>?
        guard H5Aread(attribute, memoryType, &pointer) >= 0, let pointer else {
          throw failure(nil, "cannot read attribute \(name)")
        }
        defer { free(pointer) }
        return String(cString: pointer)
      }
      let size = H5Tget_size(type)
      guard size > 0, size <= Self.maximumStringLength else {
        throw error(nil, "attribute \(name) is a string of \(size) bytes")
      }
      var buffer = [CChar](repeating: 0, count: size + 1)
      guard H5Aread(attribute, type, &buffer) >= 0 else {
        throw failure(nil, "cannot read attribute \(name)")
      }
      return String(cString: buffer)
    }
  }

  /// Reads integer attribute `name`.
  public func integerAttribute(_ name: String) throws -> Int {
    try readAttribute(name) { attribute, type in
      guard H5Tget_class(type) == H5T_INTEGER else {
        throw error(nil, "attribute \(name) is not an integer")
      }
      var value: Int64 = 0
      guard H5Aread(attribute, es_H5T_NATIVE_INT64(), &value) >= 0 else {
        throw failure(nil, "cannot read attribute \(name)")
      }
      return Int(value)
    }
  }

  /// Reads numeric attribute `name` as a Double.
  public func doubleAttribute(_ name: String) throws -> Double {
    try readAttribute(name) { attribute, type in
      let typeClass = H5Tget_class(type)
      guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
        throw error(nil, "attribute \(name) is not a number")
      }
      var value: Double = 0
      guard H5Aread(attribute, es_H5T_NATIVE_DOUBLE(), &value) >= 0 else {
        throw failure(nil, "cannot read attribute \(name)")
      }
      return value
    }
  }

  /// Opens attribute `name`, checks that it holds exactly one value (reads write one value
  /// into memory sized for one) and passes it and its type to `body`.
  private func readAttribute<Result>(_ name: String, _ body: (hid_t, hid_t) throws -> Result)
    throws -> Result
  {
    let object = H5Oopen(file.id, path, es_H5P_DEFAULT())
    guard object >= 0 else { throw failure(nil, "cannot open the object") }
    defer { H5Oclose(object) }
    let exists = H5Aexists(object, name)
    guard exists >= 0 else { throw failure(nil, "cannot look up attribute \(name)") }
    guard exists > 0 else { throw error(nil, "missing attribute \(name)") }
    let attribute = H5Aopen(object, name, es_H5P_DEFAULT())
    guard attribute >= 0 else { throw failure(nil, "cannot open attribute \(name)") }
    defer { H5Aclose(attribute) }
    let space = H5Aget_space(attribute)
    guard space >= 0 else { throw failure(nil, "cannot read attribute \(name)'s dataspace") }
    defer { H5Sclose(space) }
    let count = H5Sget_simple_extent_npoints(space)
    guard count == 1 else {
      throw error(nil, "attribute \(name) holds \(count) values, expected 1")
    }
    let type = H5Aget_type(attribute)
    guard type >= 0 else { throw failure(nil, "cannot read attribute \(name)'s type") }
    defer { H5Tclose(type) }
    return try body(attribute, type)
  }
}

// MARK: - Content digest

extension HDF5File {
  /// The deepest group nesting the content digest descends into.
  static let maximumDigestDepth = 64

  /// The SHA-256 of everything the file holds, in a canonical order independent of its
  /// layout (chunking, filters, file format, the order objects were created in): the
  /// `content_sha256` of a checkpoint.
  ///
  /// Groups are walked depth first from `/`, members sorted by the bytes of their UTF-8
  /// names. Each object adds a record of fields, every field its byte count (8 bytes,
  /// little-endian) followed by its bytes:
  ///
  /// - a group: `group`, its absolute path, then its attributes, then its members;
  /// - a dataset: `dataset`, its absolute path, its stored type (`float32`, `float64`,
  ///   `int64`), its shape (each dimension as 8 bytes, little-endian) and its values as
  ///   stored (little-endian, row-major), then its attributes;
  /// - an attribute (sorted by the bytes of their names): `attribute`, its name, its type
  ///   (`string`, `int64`, `float64`) and its value (UTF-8, or 8 bytes little-endian).
  ///
  /// The root's attribute `excluded` is left out. Anything the tool never writes (another
  /// type, an attribute of several values, a soft or external link, an object reached
  /// twice, groups nested deeper than 64) adds a field `unsupported …` naming it, without
  /// its value, so such a file never matches a digest the tool wrote.
  ///
  /// Attributes are listed with `H5Aiterate2` in their stored order and sorted here, members
  /// as ``HDF5Group/memberNames()`` lists them (never through HDF5's tables of a group's
  /// links or attributes, which crash on a damaged heap). Every read is bounded as the other
  /// reads are: dataset sizes are checked against the
  /// file's size before anything is allocated, and the global heap before any
  /// variable-length string is read.
  ///
  /// - Throws: ``HDF5Error`` naming the file and object when a part cannot be read.
  func contentDigest(excludingRootAttribute excluded: String) throws -> String {
    var walk = ContentWalk(file: self, excluded: excluded)
    try walk.group("/", depth: 0)
    return walk.hash.hexDigest()
  }
}

/// The state of ``HDF5File/contentDigest(excludingRootAttribute:)``.
private struct ContentWalk {
  let file: HDF5File
  let excluded: String
  var hash = SHA256()
  /// The addresses of the objects walked.
  var visited = Set<haddr_t>()

  init(file: HDF5File, excluded: String) {
    self.file = file
    self.excluded = excluded
  }

  mutating func field(_ bytes: [UInt8]) {
    var record = withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { Array($0) }
    record += bytes
    hash.update(record)
  }

  mutating func field(_ text: String) { field(Array(text.utf8)) }

  /// A field of many bytes, hashed without copying them into a record.
  mutating func largeField(_ bytes: UnsafeRawBufferPointer) {
    hash.update(withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { Array($0) })
    hash.update(Array(bytes))
  }

  func error(_ path: String, _ message: String) -> HDF5Error {
    HDF5Error(file: file.path, path: path, message: message)
  }

  func failure(_ path: String, _ what: String) -> HDF5Error {
    error(path, describeFailure(what))
  }

  /// Whether the object at `path` was walked before; records it as walked.
  mutating func firstVisit(_ path: String) throws -> Bool {
    var info = H5O_info_t()
    let status = H5Oget_info_by_name2(
      file.id, path, &info, UInt32(H5O_INFO_BASIC), es_H5P_DEFAULT())
    guard status >= 0 else { throw failure(path, "cannot read the object's header") }
    return visited.insert(info.addr).inserted
  }

  mutating func group(_ path: String, depth: Int) throws {
    field("group")
    field(path)
    guard try firstVisit(path) else { return field("unsupported: an object reached twice") }
    let group = HDF5Group(file: file, path: path)
    try attributes(of: group)
    guard depth < HDF5File.maximumDigestDepth else {
      return field("unsupported: groups nested deeper than \(HDF5File.maximumDigestDepth)")
    }
    let names = try group.memberNames()
    let id = H5Gopen2(file.id, path, es_H5P_DEFAULT())
    guard id >= 0 else { throw failure(path, "cannot open the group") }
    defer { H5Gclose(id) }
    for name in names {
      let child = group.childPath(name)
      var link = H5L_info_t()
      guard H5Lget_info(id, name, &link, es_H5P_DEFAULT()) >= 0 else {
        throw failure(child, "cannot read the link")
      }
      guard link.type == H5L_TYPE_HARD else {
        field("link")
        field(child)
        field("unsupported: a link of type \(link.type.rawValue)")
        continue
      }
      var info = H5O_info_t()
      guard H5Oget_info_by_name2(id, name, &info, UInt32(H5O_INFO_BASIC), es_H5P_DEFAULT()) >= 0
      else { throw failure(child, "cannot read the object's header") }
      switch info.type {
      case H5O_TYPE_GROUP: try self.group(child, depth: depth + 1)
      case H5O_TYPE_DATASET: try dataset(group, name)
      default:
        field("object")
        field(child)
        field("unsupported: an object of type \(info.type.rawValue)")
      }
    }
  }

  mutating func dataset(_ parent: HDF5Group, _ name: String) throws {
    let path = parent.childPath(name)
    field("dataset")
    field(path)
    guard try firstVisit(path) else { return field("unsupported: an object reached twice") }
    let dataset = H5Dopen2(file.id, path, es_H5P_DEFAULT())
    guard dataset >= 0 else { throw failure(path, "cannot open the dataset") }
    let type = H5Dget_type(dataset)
    let (typeClass, size, sign) = (H5Tget_class(type), H5Tget_size(type), H5Tget_sign(type))
    if type >= 0 { H5Tclose(type) }
    H5Dclose(dataset)
    guard type >= 0 else { throw failure(path, "cannot read the data type") }
    // The read checks the dataset's size against the file's before allocating.
    func add(_ typeName: String, _ shape: [Int], _ values: UnsafeRawBufferPointer) {
      field(typeName)
      field(shape.flatMap { withUnsafeBytes(of: UInt64($0).littleEndian) { Array($0) } })
      largeField(values)
    }
    switch (typeClass, size, sign) {
    case (H5T_FLOAT, 4, _):
      let (shape, values) = try parent.readFloats(name)
      values.withUnsafeBytes { add("float32", shape, $0) }
    case (H5T_FLOAT, 8, _):
      let (shape, values) = try parent.readDoubles(name)
      values.withUnsafeBytes { add("float64", shape, $0) }
    case (H5T_INTEGER, 8, H5T_SGN_2):
      let (shape, values) = try parent.readIntegers(name)
      values.withUnsafeBytes { add("int64", shape, $0) }
    default:
      field("unsupported: class \(typeClass.rawValue) of \(size) bytes")
    }
    try attributes(of: HDF5Group(file: file, path: path))
  }

  /// The attributes of the object at `object.path` (a group or a dataset).
  mutating func attributes(of object: HDF5Group) throws {
    let path = object.path
    let id = H5Oopen(file.id, path, es_H5P_DEFAULT())
    guard id >= 0 else { throw failure(path, "cannot open the object") }
    defer { H5Oclose(id) }
    // Listed in stored order and sorted here (see ``HDF5Group/memberNames()``).
    let list = NameList()
    var index: hsize_t = 0
    let status = withExtendedLifetime(list) {
      H5Aiterate2(
        id, H5_INDEX_NAME, H5_ITER_NATIVE, &index,
        { _, name, _, context in collectName(name, context) },
        Unmanaged.passUnretained(list).toOpaque())
    }
    if list.tooLong {
      throw error(
        path,
        "attribute \(list.names.count) has a name of more than "
          + "\(HDF5Group.maximumStringLength) bytes")
    }
    guard status >= 0 else { throw failure(path, "cannot list the attributes") }
    let names = list.names.sorted(by: utf8Precedes)
    for name in names where !(path == "/" && name == excluded) {
      field("attribute")
      field(name)
      let attribute = H5Aopen(id, name, es_H5P_DEFAULT())
      guard attribute >= 0 else { throw failure(path, "cannot open attribute \(name)") }
      let space = H5Aget_space(attribute)
      let count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1
      if space >= 0 { H5Sclose(space) }
      let type = H5Aget_type(attribute)
      let (typeClass, size, sign) = (H5Tget_class(type), H5Tget_size(type), H5Tget_sign(type))
      if type >= 0 { H5Tclose(type) }
      H5Aclose(attribute)
      guard space >= 0, type >= 0 else { throw failure(path, "cannot read attribute \(name)") }
      guard count == 1 else {
        field("unsupported: \(count) values")
        continue
      }
      switch (typeClass, size, sign) {
      case (H5T_STRING, _, _):
        field("string")
        field(try object.stringAttribute(name))
      case (H5T_INTEGER, 8, H5T_SGN_2):
        field("int64")
        let value = Int64(try object.integerAttribute(name))
        field(withUnsafeBytes(of: value.littleEndian) { Array($0) })
      case (H5T_FLOAT, 8, _):
        field("float64")
        field(
          withUnsafeBytes(of: try object.doubleAttribute(name).bitPattern.littleEndian) {
            Array($0)
          })
      default:
        field("unsupported: class \(typeClass.rawValue) of \(size) bytes")
      }
    }
  }
}

/// The names an HDF5 iteration (`H5Literate`, `H5Aiterate2`) hands to ``collectName(_:_:)``.
private final class NameList {
  var names: [String] = []
  /// Whether a name was longer than ``HDF5Group/maximumStringLength`` (the iteration stopped).
  var tooLong = false
}

/// The callback of an HDF5 iteration: appends `name` to the ``NameList`` at `context`, or
/// stops the iteration at a name too long to read.
private func collectName(_ name: UnsafePointer<CChar>?, _ context: UnsafeMutableRawPointer?)
  -> herr_t
{
  guard let name, let context else { return -1 }
  let list = Unmanaged<NameList>.fromOpaque(context).takeUnretainedValue()
  guard strnlen(name, HDF5Group.maximumStringLength + 1) <= HDF5Group.maximumStringLength else {
    list.tooLong = true
    return 1
  }
  list.names.append(String(cString: name))
  return 0
}

/// Whether `a` comes before `b` in the order of the bytes of their UTF-8 encodings (HDF5's
/// name order, and Python's order of `str`).
func utf8Precedes(_ a: String, _ b: String) -> Bool {
  a.utf8.lexicographicallyPrecedes(b.utf8)
}

import CHDF5
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
public final class HDF5File {
  /// The path on disk.
  public let path: String
  let id: hid_t

  private init(path: String, id: hid_t) {
    self.path = path
    self.id = id
  }

  /// Creates (or truncates) the file at `path`.
  ///
  /// - Throws: ``HDF5Error`` naming `path` and the system's reason, such as "Permission
  ///   denied" or "No such file or directory".
  public static func create(_ path: String) throws -> HDF5File {
    es_silence_errors()
    errno = 0
    let id = H5Fcreate(path, es_H5F_ACC_TRUNC(), es_H5P_DEFAULT(), es_H5P_DEFAULT())
    guard id >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot create the file" + reason(errno))
    }
    return HDF5File(path: path, id: id)
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
    try writeAtomically(try memoryImage(of: path, fill), to: path)
  }

  /// The bytes of the file `fill` writes, built with HDF5's in-memory driver (no backing
  /// store); errors name `path`.
  private static func memoryImage(of path: String, _ fill: (HDF5Group) throws -> Void) throws
    -> [UInt8]
  {
    es_silence_errors()
    H5open()
    let access = H5Pcreate(H5P_CLS_FILE_ACCESS_ID_g)
    guard access >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot set up a file in memory")
    }
    defer { H5Pclose(access) }
    H5Pset_fapl_core(access, 1 << 20, false)
    // A name no open file has: the library refuses to truncate a file it has open, such as
    // the checkpoint a resumed run read.
    let id = H5Fcreate(
      "\(path).in-memory-\(getpid())-\(UInt64.random(in: 0...UInt64.max))", es_H5F_ACC_TRUNC(),
      es_H5P_DEFAULT(), access)
    guard id >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot create the file in memory")
    }
    // Closed (in memory, so it cannot fail on disk) when this function returns.
    let file = HDF5File(path: path, id: id)
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
    return image
  }

  /// Writes `bytes` to `.NAME.partial-PID` beside `path`, syncs it, renames it over `path`
  /// and syncs the directory; on failure removes the temporary and names `path`.
  private static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    func failure(_ action: String, _ code: Int32 = errno) -> HDF5Error {
      HDF5Error(file: path, path: "/", message: action + reason(code))
    }
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    try createDirectories(directory)
    let temporary = "\(directory)/.\(url.lastPathComponent).partial-\(getpid())"
    let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure("cannot create the file") }
    var written = 0
    var failed: HDF5Error?
    while written < bytes.count {
      let count = bytes[written...].withUnsafeBytes {
        write(descriptor, $0.baseAddress, $0.count)
      }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else {
        failed = failure("cannot write the file", count == 0 ? EIO : errno)
        break
      }
      written += count
    }
    if failed == nil && fsync(descriptor) != 0 { failed = failure("cannot sync the file") }
    if close(descriptor) != 0 && failed == nil { failed = failure("cannot write the file") }
    if failed == nil && rename(temporary, path) != 0 {
      failed = failure("cannot rename the temporary file into place")
    }
    if let failed {
      unlink(temporary)
      throw failed
    }
    // The rename is durable once the directory is synced.
    let directoryDescriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directoryDescriptor >= 0 else { throw failure("cannot sync the directory") }
    defer { close(directoryDescriptor) }
    guard fsync(directoryDescriptor) == 0 else { throw failure("cannot sync the directory") }
  }

  /// Creates `directory` and its missing parents; an error names `directory` and the
  /// reason of the step that failed ("Not a directory" when a parent is a file).
  private static func createDirectories(_ directory: String) throws {
    var prefix = directory.hasPrefix("/") ? "" : "."
    for component in directory.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
        throw HDF5Error(
          file: directory, path: "/", message: "cannot create the directory" + reason(errno))
      }
    }
    var status = stat()
    guard stat(directory, &status) == 0 else {
      throw HDF5Error(
        file: directory, path: "/", message: "cannot create the directory" + reason(errno))
    }
    guard status.st_mode & S_IFMT == S_IFDIR else {
      throw HDF5Error(
        file: directory, path: "/", message: "cannot create the directory" + reason(ENOTDIR))
    }
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
    let id = H5Fopen(
      path, writable ? es_H5F_ACC_RDWR() : es_H5F_ACC_RDONLY(), es_H5P_DEFAULT())
    guard id >= 0 else {
      throw HDF5Error(file: path, path: "/", message: "cannot open the file")
    }
    return HDF5File(path: path, id: id)
  }

  deinit { H5Fclose(id) }

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

/// A group inside an ``HDF5File``, addressed by its absolute path.
public struct HDF5Group {
  /// The file.
  public let file: HDF5File
  /// The absolute path, `/` for the root.
  public let path: String

  func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

  func error(_ name: String?, _ message: String) -> HDF5Error {
    HDF5Error(file: file.path, path: name.map(childPath) ?? path, message: message)
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
  public func existingGroup(_ name: String) throws -> HDF5Group {
    guard contains(name) else { throw error(name, "missing group") }
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

  /// The names of this group's members, in name order.
  public func memberNames() throws -> [String] {
    let id = H5Gopen2(file.id, path, es_H5P_DEFAULT())
    guard id >= 0 else { throw error(nil, "cannot open the group") }
    defer { H5Gclose(id) }
    var info = H5G_info_t()
    guard H5Gget_info(id, &info) >= 0 else { throw error(nil, "cannot list the group") }
    var names: [String] = []
    for index in 0..<info.nlinks {
      let length = H5Lget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, es_H5P_DEFAULT())
      guard length >= 0 else { throw error(nil, "cannot read member \(index)") }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      H5Lget_name_by_idx(
        id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, es_H5P_DEFAULT())
      names.append(String(cString: buffer))
    }
    return names
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

  private func write<Element>(_ name: String, _ values: [Element], shape: [Int], type: hid_t)
    throws
  {
    guard shape.reduce(1, *) == values.count else {
      throw error(name, "shape \(shape) does not hold \(values.count) values")
    }
    let dimensions = shape.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(shape.count), dimensions, nil)
    guard space >= 0 else { throw error(name, "cannot create a dataspace of shape \(shape)") }
    defer { H5Sclose(space) }
    let dataset = H5Dcreate2(
      file.id, childPath(name), type, space, es_H5P_DEFAULT(), es_H5P_DEFAULT(), es_H5P_DEFAULT())
    guard dataset >= 0 else { throw error(name, "cannot create the dataset") }
    defer { H5Dclose(dataset) }
    let status = values.withUnsafeBytes { bytes in
      H5Dwrite(dataset, type, es_H5S_ALL(), es_H5S_ALL(), es_H5P_DEFAULT(), bytes.baseAddress)
    }
    guard status >= 0 else { throw error(name, "cannot write the dataset") }
  }

  /// The shape of dataset `name`.
  public func shape(of name: String) throws -> [Int] {
    let dataset = try openDataset(name)
    defer { H5Dclose(dataset) }
    return try datasetShape(dataset, name)
  }

  /// Reads dataset `name` as `Float32` values (converting from its stored type).
  public func readFloats(_ name: String) throws -> (shape: [Int], values: [Float]) {
    try read(name, type: es_H5T_NATIVE_FLOAT(), zero: Float(0))
  }

  /// Reads dataset `name` as `Float64` values.
  public func readDoubles(_ name: String) throws -> (shape: [Int], values: [Double]) {
    try read(name, type: es_H5T_NATIVE_DOUBLE(), zero: Double(0))
  }

  /// Reads dataset `name` as 64-bit integers.
  public func readIntegers(_ name: String) throws -> (shape: [Int], values: [Int64]) {
    try read(name, type: es_H5T_NATIVE_INT64(), zero: Int64(0))
  }

  private func openDataset(_ name: String) throws -> hid_t {
    guard contains(name) else { throw error(name, "missing dataset") }
    let dataset = H5Dopen2(file.id, childPath(name), es_H5P_DEFAULT())
    guard dataset >= 0 else { throw error(name, "not a dataset") }
    return dataset
  }

  private func datasetShape(_ dataset: hid_t, _ name: String) throws -> [Int] {
    let space = H5Dget_space(dataset)
    guard space >= 0 else { throw error(name, "cannot read the dataspace") }
    defer { H5Sclose(space) }
    let rank = H5Sget_simple_extent_ndims(space)
    guard rank >= 0 else { throw error(name, "cannot read the rank") }
    var dimensions = [hsize_t](repeating: 0, count: Int(rank))
    H5Sget_simple_extent_dims(space, &dimensions, nil)
    return dimensions.map { Int($0) }
  }

  private func read<Element>(_ name: String, type: hid_t, zero: Element) throws
    -> (shape: [Int], values: [Element])
  {
    let dataset = try openDataset(name)
    defer { H5Dclose(dataset) }
    let shape = try datasetShape(dataset, name)
    let storedType = H5Dget_type(dataset)
    defer { H5Tclose(storedType) }
    let storedClass = H5Tget_class(storedType)
    guard storedClass == H5T_FLOAT || storedClass == H5T_INTEGER else {
      throw error(name, "holds non-numeric data")
    }
    var values = [Element](repeating: zero, count: shape.reduce(1, *))
    let status = values.withUnsafeMutableBytes { bytes in
      H5Dread(dataset, type, es_H5S_ALL(), es_H5S_ALL(), es_H5P_DEFAULT(), bytes.baseAddress)
    }
    guard status >= 0 else { throw error(name, "cannot read the dataset") }
    return (shape, values)
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
        let memoryType = H5Tcopy(es_H5T_C_S1())
        defer { H5Tclose(memoryType) }
        H5Tset_size(memoryType, es_H5T_VARIABLE())
        H5Tset_cset(memoryType, H5Tget_cset(type))
        var pointer: UnsafeMutablePointer<CChar>?
        guard H5Aread(attribute, memoryType, &pointer) >= 0, let pointer else {
          throw error(nil, "cannot read attribute \(name)")
        }
        defer { free(pointer) }
        return String(cString: pointer)
      }
      let size = H5Tget_size(type)
      var buffer = [CChar](repeating: 0, count: size + 1)
      guard H5Aread(attribute, type, &buffer) >= 0 else {
        throw error(nil, "cannot read attribute \(name)")
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
        throw error(nil, "cannot read attribute \(name)")
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
        throw error(nil, "cannot read attribute \(name)")
      }
      return value
    }
  }

  private func readAttribute<Result>(_ name: String, _ body: (hid_t, hid_t) throws -> Result)
    throws -> Result
  {
    let object = H5Oopen(file.id, path, es_H5P_DEFAULT())
    guard object >= 0 else { throw error(nil, "cannot open the object") }
    defer { H5Oclose(object) }
    guard H5Aexists(object, name) > 0 else { throw error(nil, "missing attribute \(name)") }
    let attribute = H5Aopen(object, name, es_H5P_DEFAULT())
    guard attribute >= 0 else { throw error(nil, "cannot open attribute \(name)") }
    defer { H5Aclose(attribute) }
    let type = H5Aget_type(attribute)
    defer { H5Tclose(type) }
    return try body(attribute, type)
  }
}

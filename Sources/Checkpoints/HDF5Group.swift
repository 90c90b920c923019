import CHDF5
import Datasets
import Foundation

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
}

/// The names an HDF5 iteration (`H5Literate`, `H5Aiterate2`) hands to ``collectName(_:_:)``.
final class NameList {
  var names: [String] = []
  /// Whether a name was longer than ``HDF5Group/maximumStringLength`` (the iteration stopped).
  var tooLong = false
}

/// The callback of an HDF5 iteration: appends `name` to the ``NameList`` at `context`, or
/// stops the iteration at a name too long to read.
func collectName(_ name: UnsafePointer<CChar>?, _ context: UnsafeMutableRawPointer?)
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

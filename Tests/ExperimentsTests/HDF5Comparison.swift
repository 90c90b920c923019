import CHDF5
import Checkpoints
import Foundation

/// Everything an HDF5 file holds, object by object, for comparing two files: every
/// group's and dataset's attributes (name, type and value) and every dataset's stored
/// type, shape and values' bit patterns (so NaN equals NaN and -0 differs from 0).
///
/// Keys are absolute object paths; an attribute's key is its object's path, `@` and its
/// name. Values are strings with their type and, for datasets, their shape and count, so
/// two files are equal when their dictionaries are.
struct HDF5Contents {
  /// Dataset path → `float32 [3, 4] 12: bits…` (its type, shape, count and values).
  var datasets: [String: String] = [:]
  /// `path@name` → `string: value`, `int64: value` or `float64: bits`.
  var attributes: [String: String] = [:]
  /// Every group's path.
  var groups: [String] = []

  /// The contents of the file at `path`.
  init(of path: String) throws {
    let file = try HDF5File.open(path)
    let id = H5Fopen(path, es_H5F_ACC_RDONLY(), es_H5P_DEFAULT())
    guard id >= 0 else { throw HDF5Error(file: path, path: "/", message: "cannot open") }
    defer { H5Fclose(id) }
    try walk(file.root, fileID: id)
  }

  private mutating func walk(_ group: HDF5Group, fileID: hid_t) throws {
    groups.append(group.path)
    try readAttributes(of: group, fileID: fileID)
    for name in try group.memberNames() {
      let child = group.path == "/" ? "/" + name : group.path + "/" + name
      var info = H5O_info_t()
      guard
        H5Oget_info_by_name2(fileID, child, &info, UInt32(H5O_INFO_BASIC), es_H5P_DEFAULT())
          >= 0
      else { throw HDF5Error(file: group.file.path, path: child, message: "no header") }
      if info.type == H5O_TYPE_GROUP {
        try walk(group.existingGroup(name), fileID: fileID)
        continue
      }
      let shape = try group.shape(of: name)
      let described: (type: String, bits: [UInt64])
      if let values = try? group.readFloats(name, exactType: true).values {
        described = ("float32", values.map { UInt64($0.bitPattern) })
      } else if let values = try? group.readDoubles(name, exactType: true).values {
        described = ("float64", values.map(\.bitPattern))
      } else {
        let values = try group.readIntegers(name, exactType: true).values
        described = ("int64", values.map { UInt64(bitPattern: $0) })
      }
      guard shape.reduce(1, *) == described.bits.count else {
        throw HDF5Error(
          file: group.file.path, path: child,
          message: "shape \(shape) but \(described.bits.count) values read")
      }
      datasets[child] =
        "\(described.type) \(shape) \(described.bits.count): "
        + described.bits.map { String($0, radix: 16) }.joined(separator: " ")
      try readAttributes(ofDataset: child, fileID: fileID, file: group.file.path)
    }
  }

  private mutating func readAttributes(of group: HDF5Group, fileID: hid_t) throws {
    for name in try attributeNames(of: group.path, fileID: fileID, file: group.file.path) {
      let key = group.path + "@" + name
      if let text = try? group.stringAttribute(name) {
        attributes[key] = "string \(text.utf8.count): \(text)"
      } else if let integer = try? group.integerAttribute(name) {
        attributes[key] = "int64: \(integer)"
      } else {
        attributes[key] =
          "float64: \(String(try group.doubleAttribute(name).bitPattern, radix: 16))"
      }
    }
  }

  /// The tool writes no attributes on datasets; any found is recorded by name and type
  /// class only, which is enough to notice one file having it and the other not.
  private mutating func readAttributes(ofDataset path: String, fileID: hid_t, file: String)
    throws
  {
    for name in try attributeNames(of: path, fileID: fileID, file: file) {
      attributes[path + "@" + name] = "on a dataset"
    }
  }

  /// The attribute names of the object at `path`, in name order.
  private func attributeNames(of path: String, fileID: hid_t, file: String) throws -> [String] {
    var info = H5O_info_t()
    guard
      H5Oget_info_by_name2(fileID, path, &info, UInt32(H5O_INFO_NUM_ATTRS), es_H5P_DEFAULT())
        >= 0
    else { throw HDF5Error(file: file, path: path, message: "no header") }
    return try (0..<info.num_attrs).map { index in
      let length = H5Aget_name_by_idx(
        fileID, path, H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, es_H5P_DEFAULT())
      guard length >= 0 else {
        throw HDF5Error(file: file, path: path, message: "cannot name attribute \(index)")
      }
      var buffer = [CChar](repeating: 0, count: Int(length) + 1)
      _ = H5Aget_name_by_idx(
        fileID, path, H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, es_H5P_DEFAULT())
      return String(cString: buffer)
    }
  }
}

/// Every difference between the HDF5 files at `a` and `b`: groups, datasets and attributes
/// present in one only, and datasets (type, shape, length, every value's bits) and
/// attributes (type, length, value) that differ; empty when they hold the same.
///
/// - Parameter ignored: Attribute names left out wherever they occur (values that
///   legitimately differ between two runs, such as timings).
func differences(between a: String, and b: String, ignoringAttributes ignored: Set<String>)
  throws -> [String]
{
  let (first, second) = (try HDF5Contents(of: a), try HDF5Contents(of: b))
  var found: [String] = []
  if first.groups.sorted() != second.groups.sorted() {
    found.append("groups: \(first.groups.sorted()) vs \(second.groups.sorted())")
  }
  func compare(_ kind: String, _ x: [String: String], _ y: [String: String]) {
    for key in Set(x.keys).union(y.keys).sorted() where x[key] != y[key] {
      found.append(
        "\(kind) \(key): \(x[key]?.prefix(200) ?? "missing") vs \(y[key]?.prefix(200) ?? "missing")"
      )
    }
  }
  compare("dataset", first.datasets, second.datasets)
  let kept = { (table: [String: String]) in
    table.filter { !ignored.contains(String($0.key.split(separator: "@").last ?? "")) }
  }
  compare("attribute", kept(first.attributes), kept(second.attributes))
  return found
}

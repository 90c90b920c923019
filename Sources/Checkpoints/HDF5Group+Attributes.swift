import CHDF5
import Datasets
import Foundation

// Attributes of groups: strings and numbers of one value each.
extension HDF5Group {
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

import CHDF5
import Datasets
import Foundation

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

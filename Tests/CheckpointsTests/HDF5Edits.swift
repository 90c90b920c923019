import CHDF5
import Foundation
import Testing

/// Edits of a checkpoint as h5py makes them, through the HDF5 library: HDF5 recomputes the
/// Fletcher-32 checksums and metadata checksums, so only `content_sha256` tells them apart.

/// HDF5's native memory type of `Element` (`Float`, `Double` or `Int64`).
private func nativeType<Element>(_: Element.Type) -> hid_t {
  if Element.self == Float.self { return es_H5T_NATIVE_FLOAT() }
  if Element.self == Double.self { return es_H5T_NATIVE_DOUBLE() }
  precondition(Element.self == Int64.self, "float, double or int64 values")
  return es_H5T_NATIVE_INT64()
}

/// Overwrites the values of dataset `object` of the file at `path` in place, as
/// `f[object][...] = values` does: the dataset keeps its type, shape and chunks.
func overwriteDataset<Element>(in path: String, _ object: String, values: [Element]) {
  let file = H5Fopen(path, es_H5F_ACC_RDWR(), es_H5P_DEFAULT())
  defer { H5Fclose(file) }
  let dataset = H5Dopen2(file, object, es_H5P_DEFAULT())
  #expect(dataset >= 0, "cannot open \(object)")
  defer { H5Dclose(dataset) }
  let status = values.withUnsafeBytes {
    H5Dwrite(
      dataset, nativeType(Element.self), es_H5S_ALL(), es_H5S_ALL(), es_H5P_DEFAULT(),
      $0.baseAddress)
  }
  #expect(status >= 0, "cannot write \(object)")
}

/// Deletes dataset `object` of the file at `path` and creates it again with `values` of
/// `shape` in `Element`'s type, stored in chunks of `chunk` without a checksum filter
/// (h5py's default), or contiguously when `chunk` is `nil`.
func recreateDataset<Element>(
  in path: String, _ object: String, values: [Element], shape: [Int], chunk: [Int]?
) {
  let file = H5Fopen(path, es_H5F_ACC_RDWR(), es_H5P_DEFAULT())
  defer { H5Fclose(file) }
  #expect(H5Ldelete(file, object, es_H5P_DEFAULT()) >= 0)
  let space = H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil)
  defer { H5Sclose(space) }
  let creation = H5Pcreate(es_H5P_DATASET_CREATE())
  defer { H5Pclose(creation) }
  if let chunk {
    #expect(H5Pset_chunk(creation, Int32(chunk.count), chunk.map { hsize_t($0) }) >= 0)
  }
  let type = nativeType(Element.self)
  let dataset = H5Dcreate2(
    file, object, type, space, es_H5P_DEFAULT(), creation, es_H5P_DEFAULT())
  #expect(dataset >= 0, "cannot create \(object)")
  defer { H5Dclose(dataset) }
  let status = values.withUnsafeBytes {
    H5Dwrite(dataset, type, es_H5S_ALL(), es_H5S_ALL(), es_H5P_DEFAULT(), $0.baseAddress)
  }
  #expect(status >= 0, "cannot write \(object)")
}

/// Chunks other than the writer's (which stores a dataset in one chunk): half the first
/// dimension, or contiguous storage for a dataset without values.
func otherChunks(of shape: [Int]) -> [Int]? {
  guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else { return nil }
  var chunk = shape
  chunk[0] = max(1, shape[0] / 2)
  return chunk
}

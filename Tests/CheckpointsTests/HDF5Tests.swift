import Foundation
import Testing
import _TestSupport

@testable import Checkpoints

@Test func datasetsAndAttributesRoundTrip() throws {
  let directory = try TemporaryDirectory()
  let path = directory.url.appendingPathComponent("round.h5").path
  do {
    let file = try HDF5File.create(path)
    let experts = try file.root.group("model").group("experts")
    let expert = try experts.group("expert_000")
    try expert.write("fc1.weight", floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
    try expert.setAttribute("kind", "paper-fmnist")
    try expert.setAttribute("spawned_at_task", 3)
    try expert.setAttribute("beta", 0.25)
    try file.root.write("metrics", doubles: [0.5, 0.25], shape: [2])
    try file.root.write("order", integers: [4, 5, 1], shape: [3])
  }
  let file = try HDF5File.open(path)
  let expert = try file.root.existingGroup("model").existingGroup("experts").existingGroup(
    "expert_000")
  let weight = try expert.readFloats("fc1.weight")
  #expect(weight.shape == [2, 3] && weight.values == [1, 2, 3, 4, 5, 6])
  #expect(try expert.stringAttribute("kind") == "paper-fmnist")
  #expect(try expert.integerAttribute("spawned_at_task") == 3)
  #expect(try expert.doubleAttribute("beta") == 0.25)
  #expect(try file.root.readDoubles("metrics").values == [0.5, 0.25])
  #expect(try file.root.readIntegers("order").values == [4, 5, 1])
  #expect(try file.root.memberNames() == ["metrics", "model", "order"])
}

@Test func errorsNameTheFileAndTheObjectPath() throws {
  let directory = try TemporaryDirectory()
  let path = directory.url.appendingPathComponent("errors.h5").path
  _ = try HDF5File.create(path).root.group("model")
  let file = try HDF5File.open(path)
  #expect(throws: HDF5Error(file: path, path: "/model/gate", message: "missing group")) {
    try file.root.existingGroup("model").existingGroup("gate")
  }
  #expect(throws: HDF5Error(file: path, path: "/weights", message: "missing dataset")) {
    try file.root.readFloats("weights")
  }
  let text = directory.url.appendingPathComponent("text.h5").path
  try "not hdf5".write(toFile: text, atomically: true, encoding: .utf8)
  #expect(throws: HDF5Error(file: text, path: "/", message: "not an HDF5 file")) {
    try HDF5File.open(text)
  }
}

/// A superblock written by HDF5 1.10.8 itself (version 3, flags 1) with the checksum it
/// computed: the hash is HDF5's, so a file image resealed with it opens.
@Test func theSuperblockChecksumIsHDF5s() throws {
  let hex =
    "894844460d0a1a0a030808010000000000000000ffffffffffffffff28080000000000003000000000000000"
  var bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
    let start = hex.index(hex.startIndex, offsetBy: offset)
    return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
  }
  #expect(HDF5File.jenkinsLookup3(bytes[...]) == 0xe7b3_69f3)
  #expect(HDF5File.jenkinsLookup3([][...]) == 0xdead_beef)
  bytes += [0, 0, 0, 0]
  HDF5File.resealSuperblock(&bytes)
  #expect(bytes.suffix(4) == [0xf3, 0x69, 0xb3, 0xe7])
}

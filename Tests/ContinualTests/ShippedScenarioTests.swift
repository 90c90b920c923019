import Continual
import Foundation
import Testing

/// The hashes of the shipped scenarios, recorded before scenarios were read with
/// `Decodable`. Checkpoints resume by hash and sweep run ids are derived from it, so a
/// change in how a scenario is read or resolved must leave them as they are.
private let pinnedHashes = [
  "paper-fashion-mnist.json": "96561e2871a6e1e545a1a3c58c3c21f7326d4312d30b16c7d2b7536aa85f42ce",
  "paper-mnist.json": "2baa22cbc9edbb04f520a798a05124bbfbfdcb099a7b7665d3ed60ee13d8a20f",
  "quick.json": "38353d4438a7b4d40139b12dff619546a82c6f13a96ef11cd6359c5637efe476",
  "split-cifar100.json": "dcbb59725cb4c942edb4759b6e1d78e4ca2e3ec955c16b26b163b25e16395806",
  "split-fashion-mnist.json": "bc1762ab263f4430652074e053294734b0073efc226fa1519fb37aa5a79b6a7d",
  "split-mnist.json": "7b3ddf08e86232db7d35dd3807c20176fad0883ff8bbe289730dfee162f5622d",
]

private let tasks = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("../../tasks").standardized

@Test(arguments: pinnedHashes.keys.sorted())
func theShippedScenariosKeepTheirHashes(file: String) throws {
  let scenario = try Scenario.load(tasks.appendingPathComponent(file).path)
  #expect(scenario.hash == pinnedHashes[file])
}

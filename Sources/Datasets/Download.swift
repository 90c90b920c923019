import Foundation

extension DatasetRegistry {
  /// Downloads `descriptor`'s files into `directory/<name>` from its mirror (or
  /// `$EXPERTSTREAM_MIRROR`), checks them, and moves them into place only when all are
  /// good: a failure leaves nothing behind.
  ///
  /// Uses `curl`. Progress lines go to `log`.
  /// - Returns: The directory holding the dataset.
  /// - Throws: ``DatasetError/downloadFailed(dataset:url:reason:)`` or a checksum error.
  public static func fetch(
    _ descriptor: DatasetDescriptor, into directory: String,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    log: (String) -> Void = { _ in }
  ) throws -> String {
    let mirror = environment["EXPERTSTREAM_MIRROR"] ?? descriptor.mirror
    guard !mirror.isEmpty else {
      throw DatasetError.downloadFailed(
        dataset: descriptor.name, url: "(none)",
        reason: "the dataset was registered by a program and has no download source")
    }
    let manager = FileManager.default
    let target = (directory as NSString).appendingPathComponent(descriptor.name)
    let staging = (directory as NSString).appendingPathComponent(
      ".\(descriptor.name).partial-\(ProcessInfo.processInfo.processIdentifier)")
    try? manager.removeItem(atPath: staging)
    do {
      try manager.createDirectory(atPath: staging, withIntermediateDirectories: true)
    } catch {
      throw DatasetError.downloadFailed(
        dataset: descriptor.name, url: staging,
        reason: "cannot create the directory: \(systemReason(error))")
    }
    defer { try? manager.removeItem(atPath: staging) }
    if descriptor.name == "cifar100" {
      let archive = (staging as NSString).appendingPathComponent("cifar-100-binary.tar.gz")
      let url = mirror.hasSuffix(".tar.gz") ? mirror : mirror + "/cifar-100-binary.tar.gz"
      try download(url, to: archive, dataset: descriptor.name, log: log)
      try run(
        "/usr/bin/env", ["tar", "-xzf", archive, "-C", staging], dataset: descriptor.name, url: url)
      for file in descriptor.files {
        let unpacked = (staging as NSString).appendingPathComponent("cifar-100-binary/\(file.name)")
        let bytes = try readFileBytes(unpacked)
        try verifyDownload(
          bytes, file: file, url: url + " → " + file.name, dataset: descriptor.name)
        try manager.moveItem(
          atPath: unpacked, toPath: (staging as NSString).appendingPathComponent(file.name))
      }
      try? manager.removeItem(atPath: archive)
      try? manager.removeItem(
        atPath: (staging as NSString).appendingPathComponent("cifar-100-binary"))
    } else {
      for file in descriptor.files {
        let url = "\(mirror)/\(file.name).gz"
        let path = (staging as NSString).appendingPathComponent(file.name + ".gz")
        try download(url, to: path, dataset: descriptor.name, log: log)
        try verifyDownload(
          try readFileBytes(path), file: file, url: url, dataset: descriptor.name)
      }
    }
    try? manager.removeItem(atPath: target)
    do {
      try manager.moveItem(atPath: staging, toPath: target)
    } catch {
      throw DatasetError.downloadFailed(
        dataset: descriptor.name, url: target,
        reason: "cannot move the checked files into place: \(systemReason(error))")
    }
    return target
  }

  private static func download(
    _ url: String, to path: String, dataset: String, log: (String) -> Void
  ) throws {
    log("downloading \(url)")
    try run(
      "/usr/bin/env",
      [
        "curl", "--fail", "--location", "--silent", "--show-error", "--connect-timeout", "20",
        "--output", path, url,
      ],
      dataset: dataset, url: url)
  }

  private static func run(_ executable: String, _ arguments: [String], dataset: String, url: String)
    throws
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    do {
      try process.run()
    } catch {
      throw DatasetError.downloadFailed(
        dataset: dataset, url: url,
        reason: "cannot start \(arguments[0]): \(systemReason(error))")
    }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let message = String(
        decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self
      )
      .trimmingCharacters(in: .whitespacesAndNewlines)
      throw DatasetError.downloadFailed(
        dataset: dataset, url: url,
        reason: message.isEmpty
          ? "\(arguments[0]) exited with \(process.terminationStatus)" : message)
    }
  }
}

import CZlib
import Foundation

/// Debian's `chromium`, run headless on local pages: a screenshot, the DOM after load and
/// the console messages the page produced.
struct HeadlessChromium {
  /// The executable: `chromium` on `PATH`, or `nil` when it is not installed.
  static let executable: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return (path.split(separator: ":").map(String.init) + ["/usr/bin"])
      .map { "\($0)/chromium" }
      .first { FileManager.default.isExecutableFile(atPath: $0) }
  }()

  /// Whether the tests run in CI (`CI=true`), where a missing browser is a failure.
  static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

  /// What one load of a page gave.
  struct Load {
    /// Standard output: the DOM after load when asked for, else Chromium's own messages.
    var output: String
    /// The page's console messages (Chromium logs them as `CONSOLE` lines), one per line.
    var consoleMessages: [String]
  }

  /// The executable found on this machine.
  let executable: String
  /// A directory for the browser's profile, fresh per load, so that loads never share a
  /// running instance.
  let scratch: String

  /// Loads `page` (a file) in a `width` × `height` window, writing a screenshot to
  /// `screenshot` when given, otherwise dumping the DOM to ``Load/output``.
  ///
  /// - Throws: when Chromium cannot be started, runs longer than a minute or exits with a
  ///   failure.
  func load(_ page: String, width: Int, height: Int, screenshot: String? = nil) throws -> Load {
    let profile = "\(scratch)/profile-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: profile) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = [
      "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
      "--no-first-run", "--user-data-dir=\(profile)", "--enable-logging=stderr", "--v=0",
      "--window-size=\(width),\(height)",
      screenshot.map { "--screenshot=\($0)" } ?? "--dump-dom",
      URL(fileURLWithPath: page).absoluteString,
    ]
    // Output goes to files, which never fill up and block it as a pipe can.
    let outputFile = "\(profile).out"
    let errorFile = "\(profile).err"
    defer {
      try? FileManager.default.removeItem(atPath: outputFile)
      try? FileManager.default.removeItem(atPath: errorFile)
    }
    _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
    _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputFile))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorFile))
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning {
      guard Date() < deadline else {
        process.terminate()
        throw ChromiumError(message: "chromium ran for more than 60 s on \(page)")
      }
      Thread.sleep(forTimeInterval: 0.05)
    }
    process.waitUntilExit()
    let standardOutput = FileManager.default.contents(atPath: outputFile) ?? Data()
    let standardError = FileManager.default.contents(atPath: errorFile) ?? Data()
    let log = String(decoding: standardError, as: UTF8.self)
    guard process.terminationStatus == 0 else {
      throw ChromiumError(
        message: "chromium exited with \(process.terminationStatus) on \(page):\n\(log)")
    }
    return Load(
      output: String(decoding: standardOutput, as: UTF8.self),
      consoleMessages: log.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(
        String.init))
  }
}

/// Chromium failed or hung.
struct ChromiumError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

/// An 8-bit RGB or RGBA PNG without interlacing, as Chromium's screenshots are, decoded to
/// pixels: enough PNG for tests to look at a screenshot.
struct DecodedPNG {
  /// The width in pixels.
  var width: Int
  /// The height in pixels.
  var height: Int
  /// Bytes per pixel: 3 (RGB) or 4 (RGBA).
  var channels: Int
  /// Rows top to bottom, `channels` bytes per pixel.
  var pixels: [UInt8]

  /// Decodes the PNG file at `path`.
  ///
  /// - Throws: ``ChromiumError`` when the file is not a PNG of that kind.
  init(contentsOf path: String) throws {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func fail(_ what: String) -> ChromiumError { ChromiumError(message: "\(path): \(what)") }
    guard bytes.count > 8, bytes[0..<8].elementsEqual([137, 80, 78, 71, 13, 10, 26, 10]) else {
      throw fail("not a PNG file")
    }
    func integer(at offset: Int) -> Int {
      bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
    }
    var offset = 8
    var header: ArraySlice<UInt8> = []
    var compressed: [UInt8] = []
    while offset + 8 <= bytes.count {
      let length = integer(at: offset)
      let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
      guard offset + 12 + length <= bytes.count else { throw fail("truncated chunk \(type)") }
      let content = bytes[offset + 8..<offset + 8 + length]
      if type == "IHDR" { header = content }
      if type == "IDAT" { compressed += content }
      offset += 12 + length
    }
    guard header.count == 13 else { throw fail("no IHDR chunk") }
    let start = header.startIndex
    width = integer(at: start)
    height = integer(at: start + 4)
    let (depth, colorType, interlace) = (header[start + 8], header[start + 9], header[start + 12])
    guard depth == 8, colorType == 2 || colorType == 6, interlace == 0 else {
      throw fail("not an 8-bit RGB(A) PNG without interlacing")
    }
    channels = colorType == 6 ? 4 : 3
    let stride = width * channels
    var filtered = [UInt8](repeating: 0, count: height * (stride + 1))
    var size = uLongf(filtered.count)
    let status = filtered.withUnsafeMutableBufferPointer { target in
      compressed.withUnsafeBufferPointer { source in
        uncompress(target.baseAddress, &size, source.baseAddress, uLong(source.count))
      }
    }
    guard status == Z_OK, Int(size) == filtered.count else { throw fail("bad image data") }
    pixels = [UInt8](repeating: 0, count: height * stride)
    // Undo each row's filter (PNG specification, section 9).
    for row in 0..<height {
      let filter = filtered[row * (stride + 1)]
      for column in 0..<stride {
        let raw = Int(filtered[row * (stride + 1) + 1 + column])
        let left = column >= channels ? Int(pixels[row * stride + column - channels]) : 0
        let up = row > 0 ? Int(pixels[(row - 1) * stride + column]) : 0
        let upLeft =
          row > 0 && column >= channels ? Int(pixels[(row - 1) * stride + column - channels]) : 0
        let predicted: Int
        switch filter {
        case 0: predicted = 0
        case 1: predicted = left
        case 2: predicted = up
        case 3: predicted = (left + up) / 2
        case 4:
          let estimate = left + up - upLeft
          let (a, b, c) = (abs(estimate - left), abs(estimate - up), abs(estimate - upLeft))
          predicted = a <= b && a <= c ? left : b <= c ? up : upLeft
        default: throw fail("unknown row filter \(filter)")
        }
        pixels[row * stride + column] = UInt8((raw + predicted) & 0xFF)
      }
    }
  }

  /// The share of pixels in the rectangle that are not (near) white.
  func inkShare(x: Int, y: Int, width: Int, height: Int) -> Double {
    var inked = 0
    for row in y..<min(y + height, self.height) {
      for column in x..<min(x + width, self.width) {
        let pixel = (row * self.width + column) * channels
        if pixels[pixel..<pixel + 3].contains(where: { $0 < 245 }) { inked += 1 }
      }
    }
    return Double(inked) / Double(max(width * height, 1))
  }
}

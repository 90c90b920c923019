import Foundation

/// The process's peak resident memory so far, in MiB (`getrusage`'s maximum resident set).
func peakResidentMemoryMiB() -> Double {
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return Double(usage.ru_maxrss) / 1024
}

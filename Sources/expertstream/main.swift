import ExpertStreamCLI
import Foundation

exit(ExpertStreamTool.main(Array(CommandLine.arguments.dropFirst())))

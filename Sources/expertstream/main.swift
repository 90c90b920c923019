import ExpertStreamCLI
import Foundation

// A reader that goes away (`expertstream run … | head`) must not kill the process mid
// checkpoint: writes then fail with EPIPE, and the command stops cleanly.
signal(SIGPIPE, SIG_IGN)
exit(ExpertStreamTool.main(Array(CommandLine.arguments.dropFirst())))

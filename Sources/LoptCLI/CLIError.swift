/// A failure the command line reports to the user.
enum CLIError: Error, CustomStringConvertible {
  /// A file could not be created.
  case cannotWrite(path: String)
  /// Training stopped or ended diverged; the message says what to try.
  case trainingFailed(String)

  var description: String {
    switch self {
    case .cannotWrite(let path):
      "cannot write '\(path)': check that the folder exists and is writable"
    case .trainingFailed(let message): message
    }
  }
}

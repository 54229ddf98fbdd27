/// A failure the command line reports to the user.
enum CLIError: Error, CustomStringConvertible {
  /// A file could not be created.
  case cannotWrite(path: String)

  var description: String {
    switch self {
    case .cannotWrite(let path):
      "cannot write '\(path)': check that the folder exists and is writable"
    }
  }
}

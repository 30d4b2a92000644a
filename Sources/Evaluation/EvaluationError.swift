// EvaluationError: a failure of evaluation, sampling or export that names the file and what is wrong.

public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

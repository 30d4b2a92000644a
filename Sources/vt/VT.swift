import ArgumentParser

@main
struct VT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vt",
        abstract: "Train, evaluate and sample the Video Transformer.")
}

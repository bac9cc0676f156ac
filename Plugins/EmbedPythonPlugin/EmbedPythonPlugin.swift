import Foundation
import PackagePlugin

/// Compiles every `.py` file of a target (PyFunc keeps them in `Python/`) into the target, as a
/// string constant of `EmbeddedPythonFiles` named after the file (`_score_cluster_bridge.py` becomes
/// `EmbeddedPythonFiles._score_cluster_bridge`), by running the `EmbedPython` tool.
///
/// The Python stays a real file (read, linted and tested as Python) and is still inside the
/// binary, so that workers run on machines without the source tree, with no resource bundle
/// to find next to the executable. SwiftPM hands a target's `.py` files to the plugins it
/// uses, so they need neither `exclude` nor `resources`.
@main
struct EmbedPythonPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let tool = try context.tool(named: "EmbedPython")
        return target.sourceFiles(withSuffix: "py").map(\.url).sorted { $0.path < $1.path }.map { input in
            let name = input.lastPathComponent
            let output = context.pluginWorkDirectoryURL.appendingPathComponent(name.dropLast(3) + "+Embedded.swift")
            return .buildCommand(displayName: "Embedding \(name) in \(target.name)", executable: tool.url,
                                 arguments: [input.path, output.path], inputFiles: [input], outputFiles: [output])
        }
    }
}

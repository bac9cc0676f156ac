import ArgumentParser
import Foundation
import MLflowModel
import ModelRegistry
import PyFunc

/// `score-cluster model`: the seed document's model API (save_model, add_to_model,
/// get_module_loader_src) as commands, plus inspection and a one-process predict.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Write, export, inspect and try pyfunc model directories.",
        discussion: """
            A pyfunc model is a directory with an MLmodel file whose python_function flavor names a loader \
            module; its _load_pyfunc(path) (or the seed format's load_pyfunc(path)) gets the data path and \
            returns an object whose predict scores a pandas DataFrame.
            """,
        subcommands: [Save.self, AddFlavor.self, LoaderSource.self, Inspect.self, Predict.self]
    )
}

/// Reports a failed model command the way `run` does and exits 1.
private func fail(_ error: PyFuncError) -> ExitCode {
    Console.error("error: \(error.message)")
    if let traceback = error.traceback { Console.error(traceback) }
    return ExitCode(1)
}

/// Reports a model URI that cannot be resolved or fetched, and exits 1.
private func fail(_ error: RegistryError) -> ExitCode {
    Console.error("error: \(error.description)")
    return ExitCode(1)
}

/// The blockers and warnings of a freshly written model, as warnings: the directory was written, but may not load.
private func warnAboutProblems(in directory: String, pythonEnvironment: String?) {
    let report = ModelInspection(directory: directory, environment: try? PythonEnvironment.resolve(explicit: pythonEnvironment),
                                 embeddedPython: PythonRuntime.libraryVersion)
    for problem in report.blockers + report.warnings where problem.code != "mlflow_loader" {
        Console.error("warning: \(problem.message)")
    }
}

extension ModelCommand {
    /// `score-cluster model save`: the seed's `save_model`.
    struct Save: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "save",
            abstract: "Save a new pyfunc model directory from a loader module, its data and code.",
            discussion: """
                Copies --data to DEST/data/<name>, each --code path to DEST/code/<name> and --conda-env to \
                DEST/conda.yaml, then writes DEST/MLmodel with the python_function flavor (loader_module, code, \
                data, env, python_version). DEST must not exist; nothing is left behind on failure. The loader \
                module is imported with DEST/code first on sys.path, so pass its file (or package) as --code \
                unless it is installed in the Python environment.
                """
        )

        @Argument(help: ArgumentHelp("The model directory to create.", valueName: "dest"))
        var destination: String

        @Option(name: .customLong("loader-module"), help: ArgumentHelp("Module whose _load_pyfunc(path) or load_pyfunc(path) loads the model.", valueName: "module"))
        var loaderModule: String

        @Option(name: .long, help: ArgumentHelp("File or directory of model data; the loader gets its path.", valueName: "path"))
        var data: String?

        @Option(name: .long, help: ArgumentHelp("File or directory of code the model imports (repeatable).", valueName: "path"))
        var code: [String] = []

        @Option(name: .customLong("conda-env"), help: ArgumentHelp("Conda environment file of the model.", valueName: "file"))
        var condaEnv: String?

        @Option(name: .customLong("python-version"), help: ArgumentHelp("python_version to record (default: the embedded Python's).", valueName: "x.y.z"))
        var pythonVersion: String?

        @Option(name: .customLong("python-env"),
                help: ArgumentHelp("Python environment to check the loader module against (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
        var pythonEnv: String?

        func run() throws {
            let written: ModelPackager.Written
            do {
                written = try ModelPackager.save(.init(destination: destination, loaderModule: loaderModule, dataPath: data,
                                                       codePaths: code, condaEnvironment: condaEnv, pythonVersion: pythonVersion ?? PythonRuntime.libraryVersion))
            } catch {
                throw fail(error)
            }
            print("saved pyfunc model \(written.directory)")
            print(written.mlmodel, terminator: "")
            warnAboutProblems(in: written.directory, pythonEnvironment: pythonEnv)
        }
    }

    /// `score-cluster model add-flavor`: the seed's `add_to_model`.
    struct AddFlavor: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-flavor",
            abstract: "Add (or replace) the python_function flavor of an existing model directory.",
            discussion: """
                Paths are relative to DIR (absolute paths must lie inside it) and must exist. Other flavors and \
                top-level keys of an existing MLmodel are kept as they are; a directory without an MLmodel gets a \
                new one. Each --env file is recorded as env.conda, or as env.virtualenv when it is a python_env.yaml.
                """
        )

        @Argument(help: ArgumentHelp("The existing model directory.", valueName: "dir"))
        var directory: String

        @Option(name: .customLong("loader-module"), help: ArgumentHelp("Module whose _load_pyfunc(path) or load_pyfunc(path) loads the model.", valueName: "module"))
        var loaderModule: String

        @Option(name: .long, help: ArgumentHelp("Data path inside DIR handed to the loader (default: DIR itself).", valueName: "path"))
        var data: String?

        @Option(name: .long, help: ArgumentHelp("Code directory inside DIR put first on sys.path.", valueName: "dir"))
        var code: String?

        @Option(name: .long, help: ArgumentHelp("Environment file inside DIR: conda.yaml or python_env.yaml (repeatable).", valueName: "file"))
        var env: [String] = []

        @Option(name: .customLong("python-version"), help: ArgumentHelp("python_version to record (default: the embedded Python's).", valueName: "x.y.z"))
        var pythonVersion: String?

        @Option(name: .customLong("python-env"),
                help: ArgumentHelp("Python environment to check the loader module against (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
        var pythonEnv: String?

        func run() throws {
            let written: ModelPackager.Written
            do {
                written = try ModelPackager.addFlavor(.init(directory: directory, loaderModule: loaderModule, data: data, code: code,
                                                            environmentFiles: env, pythonVersion: pythonVersion ?? PythonRuntime.libraryVersion))
            } catch {
                throw fail(error)
            }
            print("\(written.replacedFlavor ? "replaced" : "added") the python_function flavor of \(written.directory) "
                  + "(flavors: \(written.flavors.joined(separator: ", ")))")
            warnAboutProblems(in: written.directory, pythonEnvironment: pythonEnv)
        }
    }

    /// `score-cluster model loader-src`: the seed's `get_module_loader_src`.
    struct LoaderSource: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "loader-src",
            abstract: "Print the Python source of a stand-alone loader for a model.",
            discussion: """
                The loader hard-codes the model's loading (its code directory first on sys.path, import of the \
                loader module, _load_pyfunc or load_pyfunc on the data path) and imports neither MLflow nor \
                score-cluster, so an exported seed-format model needs only its own packages. When the loader \
                module is MLflow's (mlflow.sklearn, mlflow.pyfunc.model, ...), loading still needs MLflow: the \
                source and a warning say so. --dest is where the model directory will be when the loader runs \
                (the seed's dst_path; default: DIR); the source goes to standard output unless --output is given.
                """
        )

        @Argument(help: ArgumentHelp("The model directory.", valueName: "dir"))
        var directory: String

        @Option(name: .long, help: ArgumentHelp("Where the model directory will be when the loader runs (default: DIR).", valueName: "path"))
        var dest: String?

        @Option(name: .long, help: ArgumentHelp("Write the source to this file instead of standard output.", valueName: "file.py"))
        var output: String?

        func validate() throws {
            if let dest, dest.hasSuffix(".py") {
                throw invalidOption("--dest is where the model directory will live (the seed's dst_path), not the loader file; write the source with --output \(dest)")
            }
        }

        func run() throws {
            let generated: ModelLoaderSource.Generated
            do { generated = try ModelLoaderSource.generate(modelDirectory: directory, destination: dest) } catch { throw fail(error) }
            if generated.needsMLflow {
                Console.error("warning: the loader module \(generated.loaderModule) is part of MLflow: this loader needs MLflow installed to load the model")
            }
            guard let output else {
                print(generated.source, terminator: "")
                return
            }
            do { try generated.source.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                throw fail(PyFuncError("cannot write \(output): \(error.localizedDescription)"))
            }
            Console.error("wrote the loader of \(generated.modelDirectory) to \(output)")
        }
    }

    /// `score-cluster model inspect`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Show a model's flavor, loader, data, signature and environment, and what would stop it loading.",
            discussion: """
                Reads the MLmodel without starting Python. Blockers: no MLmodel or python_function flavor, no \
                loader_module, a missing code directory, data path, model file, python_model or artifact, a \
                python_version whose minor version differs from the embedded Python's, a loader module found \
                neither in code/ nor in the Python environment. Exits 1 when there is a blocker, 0 otherwise; \
                --json prints the same report as JSON (snake_case keys; blockers and warnings carry a code).
                """
        )

        @Argument(help: ArgumentHelp("The model: a directory, or a URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH, ...), resolved and fetched into this machine's cache.", valueName: "dir|uri"))
        var directory: String

        @Flag(name: .long, help: "Print the report as JSON.")
        var json = false

        @OptionGroup var modelSource: ModelSourceArguments

        @Option(name: .customLong("python-env"),
                help: ArgumentHelp("Python environment to look the loader module up in (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
        var pythonEnv: String?

        func run() throws {
            var environment: PythonEnvironment?
            do { environment = try PythonEnvironment.resolve(explicit: pythonEnv) } catch {
                if pythonEnv != nil { throw fail(error) }
                environment = nil
            }
            let resolved: ModelFetcher.Resolved
            do { resolved = try modelSource.fetch(directory, pythonEnvironment: pythonEnv, warn: { Console.error("warning: \($0)") }) } catch { throw fail(error) }
            var report = ModelInspection(directory: resolved.directory, environment: environment, embeddedPython: PythonRuntime.libraryVersion)
            report.origin = resolved.origin
            print(json ? report.json() : report.formatted())
            if !report.loadable { throw ExitCode(1) }
        }
    }

    /// `score-cluster model predict`: `mlflow models predict` in one process.
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "predict",
            abstract: "Score a small Parquet file in this process and print the predictions.",
            discussion: """
                A quick check of a model before a run: the model is loaded once in this process and gets the \
                rows as `score-cluster run` hands them to its workers (columns named "0", "1", ... in the order of \
                --columns, predictions converted to --result-type as spark_udf converts them). Predictions go to \
                standard output, one per line (null for nulls), or to --output as CSV or JSON lines by its \
                extension; what the model prints goes to standard error.
                """
        )

        @Argument(help: ArgumentHelp("The model: a directory, or a URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH, ...), resolved and fetched into this machine's cache.", valueName: "dir|uri"))
        var directory: String

        @Option(name: .long, help: ArgumentHelp("A Parquet file, or a directory of Parquet part files.", valueName: "file"))
        var input: String

        @OptionGroup var modelSource: ModelSourceArguments

        @Option(name: .long, help: ArgumentHelp("Comma-separated input columns handed to the model, in order (default: all columns).", valueName: "a,b,..."))
        var columns: String?

        @Option(name: .customLong("result-type"),
                help: ArgumentHelp("Type of the predictions: double, float, int, long, string or boolean.", valueName: "type"))
        var resultType: String = "double"

        @Option(name: .customLong("python-env"),
                help: ArgumentHelp("Python virtual environment to use (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
        var pythonEnv: String?

        @Option(name: .long, help: ArgumentHelp("Write the predictions to FILE.csv or FILE.jsonl instead of standard output.", valueName: "file"))
        var output: String?

        @Option(name: .long, help: ArgumentHelp("Score only the first N rows.", valueName: "n"))
        var limit: Int?

        @Option(name: .customLong("batch-size"), help: ArgumentHelp("Rows per predict call.", valueName: "rows"))
        var batchSize: Int = 10_000

        func validate() throws {
            if let columns, columns.split(separator: ",").isEmpty { throw invalidOption("--columns names no column") }
            if let output, ModelPrediction.Format(fileName: output) == nil {
                throw invalidOption("--output must end in .csv or .jsonl (got '\(output)')")
            }
            if let limit, limit < 1 { throw invalidOption("--limit must be at least 1") }
            guard batchSize >= 1 else { throw invalidOption("--batch-size must be at least 1") }
            do { _ = try ResultType(parsing: resultType) } catch { throw invalidOption(error.message) }
        }

        func run() throws {
            let resolved: ModelFetcher.Resolved
            do { resolved = try modelSource.fetch(directory, pythonEnvironment: pythonEnv, warn: { Console.error("warning: \($0)") }) } catch { throw fail(error) }
            let request = ModelPrediction.Request(
                modelDirectory: resolved.directory, input: input,
                columns: columns.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
                resultType: try ResultType(parsing: resultType), pythonEnvironment: pythonEnv, limit: limit, batchSize: batchSize)
            let result: ModelPrediction.Result
            do { result = try ModelPrediction.score(request) } catch { throw fail(error) }
            let summary = "scored \(result.rowCount) rows (columns \(result.columns.joined(separator: ", "))) "
                + "in \(String(format: "%.2f", result.predictSeconds)) s after \(String(format: "%.2f", result.loadSeconds)) s loading, "
                + "with Python \(result.pythonVersion) in \(result.pythonEnvironment)"
            guard let output else {
                print(ModelPrediction.render(result, as: .text), terminator: "")
                Console.error(summary)
                return
            }
            do {
                try ModelPrediction.render(result, as: ModelPrediction.Format(fileName: output)!)
                    .write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw fail(PyFuncError("cannot write \(output): \(error.localizedDescription)"))
            }
            Console.error(summary + "; wrote \(output)")
        }
    }
}

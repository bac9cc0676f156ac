#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import PyFunc
import Wire

/// A worker: connects to a coordinator, starts the embedded interpreter, loads the model
/// once, then scores batches until told to stop.
///
/// Two threads: the calling thread is the Python thread (it starts the interpreter and runs
/// every predict); a receive thread reads frames and queues batches, so the next batch is
/// already decoded and waiting when predict returns.
public struct WorkerProcess {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// `--python-env`; nil means VIRTUAL_ENV or the project's `.venv`.
        public var pythonEnvironment: String?
        /// Batches the worker holds at once: one being scored, the rest waiting.
        public var capacity: Int

        public init(host: String, port: Int, pythonEnvironment: String?, capacity: Int = 3) {
            self.host = host
            self.port = port
            self.pythonEnvironment = pythonEnvironment
            self.capacity = capacity
        }
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    /// Runs until the coordinator says shutdown or goes away; returns the process exit status.
    public func run() -> Int32 {
        // A closed socket must be an error on write, not a fatal signal.
        signal(SIGPIPE, SIG_IGN)
        let connection: Connection
        do { connection = try Connection.connect(host: options.host, port: options.port) } catch {
            log("cannot reach the coordinator: \(error)")
            return 1
        }
        defer { connection.close() }

        let runtime: PythonRuntime
        do {
            let environment = try PythonEnvironment.resolve(explicit: options.pythonEnvironment)
            runtime = try PythonRuntime.start(environment: environment)
        } catch {
            try? connection.send(.failure, WorkerFailure(kind: .environment, message: "\(error)", traceback: error.traceback))
            log("\(error)")
            return 1
        }

        do {
            try connection.send(.hello, WorkerHello(pid: getpid(), host: ProcessInfo.processInfo.hostName,
                                                    capacity: options.capacity, pythonVersion: runtime.version,
                                                    pythonEnvironment: runtime.environment.root))
            let frame = try connection.receive()
            if frame.header.type == .shutdown { return 0 }
            guard frame.header.type == .job else { throw WireError.unexpected("expected a job, got \(frame.header.type)") }
            let job = try frame.decode(JobSpec.self)
            return serve(job: job, runtime: runtime, connection: connection)
        } catch {
            log("\(error)")
            return 1
        }
    }

    private enum Inbound: Sendable {
        case batch(ColumnBatchCodec.Decoded)
        case shutdown
        case broken(String)
    }

    private func serve(job: JobSpec, runtime: PythonRuntime, connection: Connection) -> Int32 {
        let model: PyFuncModel
        do {
            let resultType = try ResultType(parsing: job.resultType)
            let mlmodel = try MLModel(directory: job.modelPath)
            let invocation = PyFuncModel.Invocation(labels: job.columnNames, integerLabels: job.integerLabels,
                                                    enforcedTypes: job.enforcedTypes, modelConfigJSON: job.modelConfigJSON,
                                                    paramsJSON: job.paramsJSON, resultType: resultType,
                                                    outputField: job.outputField, strictTypes: job.strictTypes)
            model = try PyFuncModel(runtime: runtime, model: mlmodel, invocation: invocation)
        } catch {
            try? connection.send(.failure, WorkerFailure(kind: .modelLoad, message: error.message, traceback: error.traceback))
            return 1
        }
        do { try connection.send(.ready, WorkerReady(loadSeconds: model.loadSeconds)) } catch { return 1 }

        let inbox = BlockingQueue<Inbound>()
        let receiver = Thread {
            while true {
                do {
                    let frame = try connection.receive()
                    switch frame.header.type {
                    case .batch: inbox.push(.batch(try ColumnBatchCodec.decode(frame.payload)))
                    case .shutdown: inbox.push(.shutdown); return
                    default: inbox.push(.broken("unexpected \(frame.header.type) frame")); return
                    }
                } catch WireError.closed {
                    inbox.push(.shutdown)
                    return
                } catch {
                    inbox.push(.broken("\(error)"))
                    return
                }
            }
        }
        receiver.stackSize = 1 << 20
        receiver.start()

        while true {
            switch inbox.pop()! {
            case .shutdown:
                return 0
            case .broken(let why):
                try? connection.send(.failure, WorkerFailure(kind: .protocolError, message: why))
                return 1
            case .batch(let batch):
                do {
                    let prediction = try model.predict(batch.columns, rowCount: batch.rowCount)
                    let encoded = ColumnBatchCodec.encode(taskID: batch.taskID, rowCount: batch.rowCount, columns: [prediction])
                    try connection.send(.result, batch: encoded)
                } catch let error as PyFuncModel.PredictError {
                    let kind: WorkerFailure.Kind = .predict
                    do {
                        try connection.send(.failure, WorkerFailure(kind: kind, taskID: batch.taskID,
                                                                    message: error.description, traceback: error.traceback))
                    } catch { return 1 }
                } catch {
                    return 1  // the coordinator is gone
                }
            }
        }
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("score-cluster worker \(getpid()): \(message)\n".utf8))
    }
}

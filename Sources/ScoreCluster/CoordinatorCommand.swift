import ArgumentParser
import Coordinator
import Foundation
import Wire

/// `score-cluster coordinator`: run a job with workers started elsewhere (other machines, a
/// cluster manager), which connect with `score-cluster worker --connect HOST:PORT`.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Score a Parquet dataset with workers that connect from other machines.",
        discussion: """
            The coordinator reads the input and writes the output; workers need neither, nor the model: a \
            worker that lacks the model receives it (checked against its SHA-256) and keeps it in its cache. \
            Workers prove they know the shared token (--token-file or SCORE_CLUSTER_TOKEN) by \
            challenge-response; without a token only workers on this machine are accepted. With \
            --tls-certificate and --tls-key every link is encrypted with TLS, and workers check the \
            certificate (worker --tls-ca). The job options are those of `score-cluster run`.
            """
    )

    @OptionGroup var job: JobArguments

    @Option(name: .long, help: ArgumentHelp("Address to listen on for workers (loopback unless told otherwise).", valueName: "host:port"))
    var listen: String = "127.0.0.1:7077"

    @Option(name: .customLong("min-workers"), help: ArgumentHelp("Workers that must be ready before scoring starts.", valueName: "n"))
    var minWorkers: Int = 1

    @Option(name: .customLong("token-file"),
            help: ArgumentHelp("File holding the shared secret (mode 0600); default: $SCORE_CLUSTER_TOKEN.", valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong("tls-certificate"),
            help: ArgumentHelp("PEM certificate (chain) to present to workers: links are then TLS-encrypted; needs --tls-key.", valueName: "file"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-certificate (unencrypted; keep it 0600).", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("wait-for-workers"), help: ArgumentHelp("Seconds to wait for the first ready worker.", valueName: "seconds"))
    var waitForWorkers: Double = 600

    func validate() throws {
        guard HostPort(listen) != nil else { throw invalidOption("--listen must be HOST:PORT, got '\(listen)'") }
        guard minWorkers >= 1 else { throw invalidOption("--min-workers must be at least 1") }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw invalidOption("--tls-certificate and --tls-key go together")
        }
    }

    func run() throws {
        let address = HostPort(listen)!
        var options = job.options(workers: 0, workersReadByDefault: false)
        options.workerSource = .listen(host: address.host, port: address.port, minWorkers: minWorkers)
        options.startupTimeout = waitForWorkers
        // No default: the workers run on machines whose memory this one does not know (each may
        // have its own --memory-limit).
        options.workerMemory = job.workerMemoryLimit(default: nil)
        do { options.token = try ClusterToken.load(tokenFile: tokenFile) } catch {
            throw invalidOption("\(error)")
        }
        if let tlsCertificate, let tlsKey {
            do { options.tls = try TLSContext.server(certificateFile: tlsCertificate, keyFile: tlsKey) } catch {
                throw invalidOption("\(error)")
            }
        }
        try job.execute(options)
    }
}

/// A `HOST:PORT` address (`[::1]:7077` for IPv6).
struct HostPort {
    var host: String
    var port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

import ArgumentParser
import Foundation
import Logging
import WorkerLaunch

/// How log records are written to standard error.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// One line per record for people: a level tag and the message (metadata too at debug and trace).
    case text
    /// One JSON object per line for log collectors: time, level, logger, message and every metadata key.
    case json
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--log-level` and `--log-format`, shared by every command that logs.
struct LoggingArguments: ParsableArguments {
    @Option(name: .customLong(WorkerLaunch.Option.logLevel),
            help: ArgumentHelp("Least severe messages shown: trace, debug (phase timings, metadata), info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @Option(name: .customLong(WorkerLaunch.Option.logFormat),
            help: ArgumentHelp("text (lines for people) or json (one object per line, for log collectors).", valueName: "text|json"))
    var logFormat: LogFormat = .text

    /// Routes swift-log to standard error for this process; text lines start with `prefix()`,
    /// made for each line (a worker's names its process, which differs in the workers it forks).
    func bootstrap(prefix: @escaping @Sendable () -> String = { "" }) {
        let (level, format) = (logLevel, logFormat)
        LoggingSystem.bootstrap { label in
            ConsoleLogHandler(logLevel: level, label: label, format: format, prefix: prefix)
        }
    }
}

/// A swift-log handler that writes one line per record to standard error, above the progress
/// line when one is shown (`ProgressDisplay`).
struct ConsoleLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let label: String
    let format: LogFormat
    let prefix: @Sendable () -> String

    init(logLevel: Logger.Level, label: String, format: LogFormat, prefix: @escaping @Sendable () -> String) {
        self.logLevel = logLevel
        self.label = label
        self.format = format
        self.prefix = prefix
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["error"] = "\(error)" }
        ProgressDisplay.writeLogLine(Self.render(level: event.level, message: event.message.description, metadata: all,
                                                 label: label, format: format, prefix: prefix(), withMetadata: logLevel <= .debug))
    }

    /// One record as a line (without the newline).
    static func render(level: Logger.Level, message: String, metadata: Logger.Metadata, label: String, format: LogFormat,
                       prefix: String, withMetadata: Bool, date: Date = Date()) -> String {
        switch format {
        case .text:
            let tag: String
            switch level {
            case .trace, .debug: tag = "\(level): "
            case .info, .notice: tag = ""
            case .warning: tag = "warning: "
            case .error, .critical: tag = "error: "
            }
            var text = prefix + tag + message
            if withMetadata && !metadata.isEmpty {
                text += " [" + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
            }
            return text
        case .json:
            var object: [String: Any] = [:]
            for (key, value) in metadata { object[key] = jsonValue(value) }
            object["time"] = formatterLock.withLock { ISO8601DateFormatter.withFractionalSeconds.string(from: date) }
            object["level"] = level.rawValue
            object["logger"] = label
            object["message"] = message
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Log records come from several threads; Foundation's formatter is not safe to share.
    private static let formatterLock = NSLock()

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let items): items.map(jsonValue)
        case .dictionary(let d): d.mapValues(jsonValue)
        }
    }
}

extension ISO8601DateFormatter {
    /// e.g. 2026-11-27T16:40:00.123Z
    nonisolated(unsafe) static let withFractionalSeconds: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTP

/// Where a model's files are, and how to list and fetch them: through the tracking server's
/// artifact proxy (`mlflow server --serve-artifacts`: `mlflow-artifacts:/…` locations, or their
/// `http(s)://…/api/2.0/mlflow-artifacts/artifacts/…` form), or in a directory this machine sees
/// (a `file:` or local artifact store).
struct ArtifactStore {
    /// One file of the model, relative to its location.
    struct RemoteFile: Codable, Equatable {
        var path: String
        /// The size the store lists, when it does.
        var size: Int?
    }

    enum Kind: Equatable {
        /// `GET base/api/2.0/mlflow-artifacts/artifacts?path=…` lists, `…/artifacts/<path>` fetches.
        case proxy(base: String, path: String)
        case local(directory: String)
    }

    static let proxyPrefix = "/api/2.0/mlflow-artifacts/artifacts"
    /// Bounds on a listing (a hostile or broken server cannot keep the client listing for ever).
    static let maxFiles = 100_000
    static let maxDirectories = 10_000

    let kind: Kind
    let location: String

    /// The store for `location`, or nil for a scheme it does not speak.
    init?(location: String, server: TrackingServer) {
        self.location = location
        if location.hasPrefix("mlflow-artifacts:") {
            // mlflow-artifacts:/PATH is on the tracking server; mlflow-artifacts://HOST:PORT/PATH on that host.
            guard let url = URL(string: location) else { return nil }
            var base = server.trackingURL
            if let host = url.host {
                let scheme = server.trackingURL.lowercased().hasPrefix("https:") ? "https" : "http"
                base = "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
            }
            kind = .proxy(base: base, path: Self.trimmed(url.path))
        } else if location.lowercased().hasPrefix("http://") || location.lowercased().hasPrefix("https://") {
            guard let range = location.range(of: Self.proxyPrefix) else { return nil }
            kind = .proxy(base: String(location[..<range.lowerBound]), path: Self.trimmed(String(location[range.upperBound...])))
        } else if location.hasPrefix("file:") {
            guard let url = URL(string: location), url.isFileURL else { return nil }
            kind = .local(directory: url.path)
        } else if location.hasPrefix("/") {
            kind = .local(directory: location)
        } else {
            return nil
        }
    }

    private static func trimmed(_ path: String) -> String {
        var path = Substring(path)
        while path.hasPrefix("/") { path = path.dropFirst() }
        while path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }

    /// Whether anything is stored at the location.
    func exists(client: MLflowRESTClient) throws -> Bool {
        switch kind {
        case .proxy: return !(try listDirectory("", client: client)).isEmpty
        case .local(let directory):
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    /// Every file under the location, recursively, in path order.
    func list(client: MLflowRESTClient) throws -> [RemoteFile] {
        switch kind {
        case .proxy:
            var files: [RemoteFile] = []
            var directories = [""]
            var listed = 0
            while let directory = directories.popLast() {
                listed += 1
                guard listed <= Self.maxDirectories, files.count <= Self.maxFiles else {
                    throw RegistryError(uri: client.uri, "\(location) holds more than \(Self.maxFiles) files or \(Self.maxDirectories) directories; that is not a model")
                }
                for entry in try listDirectory(directory, client: client) {
                    if entry.isDirectory { directories.append(entry.path) } else { files.append(RemoteFile(path: entry.path, size: entry.size)) }
                }
            }
            return files.sorted { $0.path < $1.path }
        case .local(let directory):
            return Self.localFiles(in: directory)
        }
    }

    /// The regular files under `directory`, recursively, in path order, with their sizes.
    static func localFiles(in directory: String) -> [RemoteFile] {
        let fm = FileManager.default
        guard let paths = try? fm.subpathsOfDirectory(atPath: directory) else { return [] }
        return paths.sorted().compactMap { relative in
            guard let attributes = try? fm.attributesOfItem(atPath: directory + "/" + relative),
                  attributes[.type] as? FileAttributeType == .typeRegular else { return nil }
            return RemoteFile(path: relative, size: attributes[.size] as? Int)
        }
    }

    private func listDirectory(_ relative: String, client: MLflowRESTClient) throws -> [(path: String, isDirectory: Bool, size: Int?)] {
        guard case .proxy(let base, let root) = kind else { return [] }
        let path = relative.isEmpty ? root : root + "/" + relative
        let answer: [String: Any]
        do {
            answer = try client.get(base, Self.proxyPrefix, query: [("path", path)])
        } catch is MLflowRESTClient.NotFound {
            return []
        }
        return try (answer["files"] as? [[String: Any]] ?? []).compactMap { entry in
            guard let name = entry["path"] as? String else { return nil }
            // One name below the directory: nothing that would list it again or leave the model.
            guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
                throw RegistryError(uri: client.uri, "the artifact server listed an entry named '\(name)' under \(location); refusing it")
            }
            // The proxy lists paths relative to the directory asked for.
            let full = relative.isEmpty ? name : relative + "/" + name
            return (full, entry["is_dir"] as? Bool ?? false, (entry["file_size"] as? Int) ?? (entry["file_size"] as? String).flatMap { Int($0) })
        }
    }

    /// The proxy's URL of `path` below the location `root`, each segment percent-encoded.
    private static func proxyURL(base: String, root: String, _ path: String) -> String {
        let segments = (root + "/" + path).split(separator: "/").map { ModelVersionResolver.pathSegment(String($0)) }
        return base + proxyPrefix + "/" + segments.joined(separator: "/")
    }

    /// The bytes of the small file `path` (the model's MLmodel), for comparing a cached copy of a
    /// location that can change (a run's artifacts) with what is there now.
    func read(_ path: String, client: MLflowRESTClient) throws -> [UInt8] {
        switch kind {
        case .local(let directory):
            guard let data = FileManager.default.contents(atPath: directory + "/" + path) else {
                throw RegistryError(uri: client.uri, "cannot read \(directory)/\(path) from the local artifact store")
            }
            return Array(data)
        case .proxy(let base, let root):
            let url = Self.proxyURL(base: base, root: root, path)
            let request = HTTPRequest(.get, url, headers: client.headers(for: url))
            let response = try client.send(request)
            guard response.isSuccess else { throw client.refusal(response, request: request, error: MLflowRESTClient.errorBody(response)) }
            return response.body
        }
    }

    /// Fetches `file` into the open, empty file `fd`, trying again (from the start) when the
    /// transfer is cut off or the server fails for a moment; returns the bytes written.
    func download(_ file: RemoteFile, into fd: Int32, client: MLflowRESTClient) throws -> Int {
        switch kind {
        case .local(let directory):
            let source = directory + "/" + file.path
            guard let input = FileHandle(forReadingAtPath: source) else {
                throw RegistryError(uri: client.uri, "cannot read \(source) from the local artifact store")
            }
            defer { try? input.close() }
            var total = 0
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                let written = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                guard written == chunk.count else { throw RegistryError(uri: client.uri, "cannot write the downloaded \(file.path): \(String(cString: strerror(errno)))") }
                total += written
            }
            return total
        case .proxy(let base, let root):
            let url = Self.proxyURL(base: base, root: root, file.path)
            let request = HTTPRequest(.get, url, headers: client.headers(for: url))
            var attempt = 1
            while true {
                ftruncate(fd, 0)
                lseek(fd, 0, SEEK_SET)
                var failure: String
                do {
                    let (response, bytes) = try client.session.download(request, into: fd)
                    if response.isSuccess {
                        if let size = file.size, size != bytes {
                            failure = "got \(bytes) of its \(size) bytes"
                        } else {
                            return bytes
                        }
                    } else if MLflowRESTClient.isTransient(response.status) {
                        failure = "the server answered \(response.status)"
                    } else {
                        throw client.refusal(response, request: request, error: MLflowRESTClient.errorBody(response))
                    }
                } catch let error as HTTPError {
                    guard error.isTransient else { throw client.unreachable(error, request: request, attempts: attempt) }
                    failure = error.message
                }
                guard attempt < client.retry.attempts else {
                    throw RegistryError(uri: client.uri, "downloading \(file.path) from \(location) failed \(attempt) times (last: \(failure)); "
                                        + "check that the tracking server at \(client.server.trackingURL) is up, then run again (nothing was kept)")
                }
                client.retry.pause(beforeRetry: attempt)
                attempt += 1
            }
        }
    }
}

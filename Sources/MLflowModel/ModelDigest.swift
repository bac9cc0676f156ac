import Digest
import Foundation

/// The content digest of a model directory: what identifies a model's files across machines,
/// jobs and caches.
public enum ModelDigest {
    /// SHA-256 over every file's relative path and content hash, in path order (files are
    /// streamed, never read whole into memory). Python's bytecode caches are left out: importing
    /// the model's code writes them.
    public static func sha256(ofDirectory directory: String) throws(PyFuncError) -> String {
        let fm = FileManager.default
        guard let paths = try? fm.subpathsOfDirectory(atPath: directory) else {
            throw PyFuncError("cannot list the model directory \(directory)")
        }
        var hasher = SHA256()
        for relative in paths.sorted() where !relative.split(separator: "/").contains("__pycache__") && !relative.hasSuffix(".pyc") {
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            do {
                hasher.update(Array(relative.utf8) + [0])
                hasher.update(try SHA256.hash(contentsOfFile: path))
            } catch {
                throw PyFuncError("cannot read the model file \(path): \(error)")
            }
        }
        return Hex.encode(hasher.finalize())
    }
}

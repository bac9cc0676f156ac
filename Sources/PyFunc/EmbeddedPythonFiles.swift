/// The `.py` files of `Sources/PyFunc/Python/`, compiled into the binary as strings by the
/// EmbedPythonPlugin build-tool plugin: one `static let`, named after the file, per file
/// (`_score_cluster_bridge.py` is `EmbeddedPythonFiles._score_cluster_bridge`).
enum EmbeddedPythonFiles {}

/// The Python half of the worker's bridge, `Python/_score_cluster_bridge.py`, compiled once
/// into the module `_score_cluster_bridge` when the interpreter starts.
///
/// What is easier and no slower in vectorised Python lives there: building the DataFrame
/// from zero-copy views of the Swift column buffers, loading the model the way MLflow does,
/// and converting predictions to the result type exactly as `mlflow.pyfunc.spark_udf` does
/// (`_predict_row_batch`, docs/spark-udf.md §1.3). Swift calls its functions with the GIL
/// held, on the worker's Python thread only. The text is compiled into the binary at build
/// time (EmbedPythonPlugin), so a worker needs no source tree.
enum BridgeSource {
    static let moduleName = "_score_cluster_bridge"
    /// The file name the bridge's frames show in tracebacks.
    static let fileName = "_score_cluster_bridge.py"
    /// The module's text.
    static var code: String { EmbeddedPythonFiles._score_cluster_bridge }
}

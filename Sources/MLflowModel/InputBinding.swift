import Columnar

/// Which dataset columns a model gets, in which order, under which names, and which
/// signature types are enforced on them: spark_udf's rules (docs/spark-udf.md §2.1, §2.3),
/// decided once from the Parquet schema before any worker starts.
public struct InputBinding: Sendable, Equatable {
    /// How columns are named when the model has no named signature.
    public enum Naming: String, Sendable, CaseIterable {
        /// "0", "1", ... as spark_udf names them.
        case ordinal
        /// The dataset's own column names (for models fitted on named DataFrames).
        case dataset
    }

    /// Dataset columns handed to the model, in order.
    public var columns: [String]
    /// The DataFrame's column labels, in order.
    public var labels: [String]
    /// Whether the labels are the integers 0, 1, ... (an unnamed signature, as MLflow names them).
    public var integerLabels: Bool
    /// Per column, the signature type enforced on each batch (nil: passed as it is).
    public var enforcedTypes: [String?]

    /// A dataset column as the binding sees it.
    public struct DatasetColumn: Sendable {
        public var name: String
        public var type: DataType?
        public var nullable: Bool
        public init(name: String, type: DataType?, nullable: Bool) {
            self.name = name
            self.type = type
            self.nullable = nullable
        }
    }

    /// - Parameter source: what `dataset` describes, for messages (e.g. the first part file).
    public static func resolve(signature: ModelSignature?, dataset: [DatasetColumn], requested: [String]?,
                               naming: Naming, source: String = "the dataset") throws(PyFuncError) -> InputBinding {
        let available = dataset.map(\.name)
        let inputs = signature?.inputs ?? []
        let named = signature?.hasNamedColumnInputs == true
        let columnSpecs = !inputs.isEmpty && inputs.allSatisfy { !$0.isTensor }

        var columns: [String]
        var labels: [String]
        var integerLabels = false
        var specs: [ModelSignature.Spec?]
        if named {
            if let requested {
                // spark_udf's positional form: the given columns take the signature's names in order.
                let required = inputs.filter(\.required).count
                guard requested.count >= required else {
                    throw PyFuncError("""
                        Model input is missing required columns. Expected \(required) required input columns \
                        \(inputs.map { $0.name! }), but --columns gives only \(requested.count) \
                        (they are matched to the signature's names by position)
                        """)
                }
                guard requested.count <= inputs.count else {
                    throw PyFuncError("--columns gives \(requested.count) columns but the model's signature has \(inputs.count) inputs (\(inputs.map { $0.name! }.joined(separator: ", ")))")
                }
                columns = requested
                specs = Array(inputs.prefix(requested.count))
                labels = specs.map { $0!.name! }
            } else {
                // By name: order and extra dataset columns do not matter.
                let missing = inputs.filter { $0.required && !available.contains($0.name!) }.map { $0.name! }
                guard missing.isEmpty else {
                    throw PyFuncError("""
                        the model requires input columns that \(source) does not have: \(missing.joined(separator: ", ")). \
                        It has: \(available.joined(separator: ", ")). Rename the columns, or map them by position with --columns
                        """)
                }
                let present = inputs.filter { available.contains($0.name!) }
                columns = present.map { $0.name! }
                labels = columns
                specs = present
            }
        } else {
            columns = requested ?? available
            if !inputs.isEmpty && !columnSpecs {
                specs = Array(repeating: nil, count: columns.count)  // tensor signatures: passed as they are
            } else if !inputs.isEmpty {
                // An unnamed column signature: MLflow takes the first len(inputs) columns.
                guard columns.count >= inputs.count else {
                    throw PyFuncError("Model inference is missing inputs. The model signature declares \(inputs.count) inputs but the model would get only \(columns.count) columns")
                }
                columns = Array(columns.prefix(inputs.count))
                specs = inputs
                integerLabels = naming == .ordinal
            } else {
                specs = Array(repeating: nil, count: columns.count)
            }
            labels = naming == .dataset ? columns : columns.indices.map(String.init)
        }

        var enforced: [String?] = []
        for (column, spec) in zip(columns, specs) {
            guard let found = dataset.first(where: { $0.name == column }) else {
                throw PyFuncError("column '\(column)' is not in \(source) (it has: \(available.joined(separator: ", ")))")
            }
            guard let spec, !spec.isTensor else { enforced.append(nil); continue }
            if let type = found.type, let problem = SchemaEnforcement.problem(converting: type, to: spec.type) {
                let label = spec.name.map { "'\($0)'" } ?? "#\(enforced.count)"
                throw PyFuncError("""
                    Incompatible input types for column \(label) (dataset column '\(column)', \(type)): \(problem); \
                    the model's signature declares \(spec.type). Convert the column, or map another one with --columns
                    """)
            }
            enforced.append(SchemaEnforcement.enforcedTypes.contains(spec.type) ? spec.type : nil)
        }
        return InputBinding(columns: columns, labels: labels, integerLabels: integerLabels, enforcedTypes: enforced)
    }
}

/// MLflow's `_enforce_mlflow_datatype` rules for a column's type against a signature type
/// (docs/spark-udf.md §2.3): safe upcasts only.
public enum SchemaEnforcement {
    /// Signature types whose casts the worker applies to each batch.
    public static let enforcedTypes: Set<String> = ["boolean", "integer", "long", "float", "double", "string", "binary", "datetime"]

    /// Why `type` cannot become `target`, in MLflow's words; nil when it can.
    public static func problem(converting type: DataType, to target: String) -> String? {
        let numpy = numpyName(type)
        func refuse(_ to: String) -> String { "Can not safely convert \(numpy) to \(to)" }
        switch target {
        case "double":
            switch type {
            case .float64, .float32, .float16, .int8, .int16, .int32, .uint8, .uint16, .uint32: return nil
            default: return refuse("float64")
            }
        case "float":
            switch type {
            case .float32, .float16, .int8, .int16, .uint8, .uint16: return nil
            default: return refuse("float32")
            }
        case "long":
            switch type {
            case .int64, .int32, .int16, .int8, .uint8, .uint16, .uint32: return nil
            default: return refuse("int64")
            }
        case "integer":
            switch type {
            case .int32, .int16, .int8, .uint8, .uint16: return nil
            default: return refuse("int32")
            }
        case "boolean":
            return type == .bool ? nil : refuse("bool")
        case "string":
            return type == .string ? nil : refuse("<U0")
        case "binary":
            return type == .binary || type == .string || type.byteWidth == nil ? nil : refuse("bytes")
        case "datetime":
            switch type {
            case .timestamp(_, let utc):
                return utc ? "the column holds timezone-aware timestamps; the model's datetime input takes only timezone-naive ones" : nil
            case .date32: return nil
            default: return refuse("datetime64[ns]")
            }
        default:
            return nil  // array, object, map, any: passed as they are
        }
    }

    /// How pandas names the dtype a column arrives as.
    static func numpyName(_ type: DataType) -> String {
        switch type {
        case .bool: "bool"
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .float16, .float32, .float64: type.description
        case .string: "str"
        case .timestamp(let unit, _): "datetime64[\(unit.numpyName)]"
        default: "object"
        }
    }
}

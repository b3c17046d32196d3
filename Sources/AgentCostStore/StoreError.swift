/// A problem with the data directory: a code (for the log and the storage metric) and a message naming the file
/// and what to do.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A snapshot file that cannot be read back: the exporter refuses to start rather than start empty.
        public static let corruptSnapshot = Code("corrupt_snapshot")
        /// A write-ahead log file damaged before its last record (not a torn tail).
        public static let corruptLog = Code("corrupt_log")
        /// The data directory or one of its files cannot be read or written.
        public static let io = Code("io")
        public static let encodingFailed = Code("encoding_failed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

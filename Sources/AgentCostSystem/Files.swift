// Files and directories for the data directory: the write-ahead log, snapshots and the webhook outbox. Every call
// retries on EINTR and reports failures as `SystemError` naming the path.

#if canImport(Glibc)
    import Glibc
#endif

/// An open file, closed explicitly with `close()`.
public struct DataFile: Sendable {
    public let path: String
    private let descriptor: Int32

    public enum Mode: Sendable {
        /// Read only.
        case read
        /// Write at the end, creating the file (mode 0600) when missing.
        case append
        /// Write from the start of a new or emptied file (mode 0600).
        case create
    }

    /// Opens `path`.
    ///
    /// - Throws: `SystemError` naming the path (ENOENT, EACCES, EROFS, …).
    public static func open(_ path: String, _ mode: Mode) throws(SystemError) -> DataFile {
        let flags: Int32
        switch mode {
        case .read: flags = O_RDONLY
        case .append: flags = O_WRONLY | O_CREAT | O_APPEND
        case .create: flags = O_WRONLY | O_CREAT | O_TRUNC
        }
        let descriptor = retryingOnInterrupt { Glibc.open(path, flags | O_CLOEXEC, 0o600) }
        guard descriptor >= 0 else { throw SystemError("open", "of \(path)") }
        return DataFile(path: path, descriptor: descriptor)
    }

    /// Writes all of `bytes` (at the end, for an appending file).
    public func write(_ bytes: [UInt8]) throws(SystemError) {
        try write(bytes[...])
    }

    public func write(_ bytes: ArraySlice<UInt8>) throws(SystemError) {
        var offset = 0
        let error: SystemError? = bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = retryingOnInterrupt {
                    Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                }
                guard written > 0 else { return SystemError("write", "to \(path)") }
                offset += written
            }
            return nil
        }
        if let error { throw error }
    }

    /// Flushes the file's data to stable storage (fdatasync).
    public func sync() throws(SystemError) {
        guard retryingOnInterrupt({ fdatasync(descriptor) }) == 0 else { throw SystemError("fdatasync", "of \(path)") }
    }

    /// Cuts the file to `size` bytes.
    public func truncate(to size: Int) throws(SystemError) {
        guard retryingOnInterrupt({ ftruncate(descriptor, off_t(size)) }) == 0 else {
            throw SystemError("ftruncate", "of \(path) to \(size) bytes")
        }
    }

    /// The file's size in bytes.
    public func size() throws(SystemError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw SystemError("fstat", "of \(path)") }
        return Int(status.st_size)
    }

    /// Reads the whole file from the start.
    public func readAll() throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { raw in
                retryingOnInterrupt { pread(descriptor, raw.baseAddress, raw.count, offset) }
            }
            guard count >= 0 else { throw SystemError("read", "of \(path)") }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            offset += off_t(count)
        }
    }

    public func close() {
        _ = Glibc.close(descriptor)
    }
}

/// Directory operations for the data directory.
public enum FileSystem {
    /// Creates `path` and its missing parents (mode 0700).
    public static func createDirectories(_ path: String) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw SystemError("mkdir", "of \(prefix)")
            }
            prefix += "/"
        }
    }

    /// The names in a directory, without `.` and `..`.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw SystemError("opendir", "of \(path)") }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Atomically replaces `destination` with `source`.
    public static func rename(_ source: String, to destination: String) throws(SystemError) {
        guard Glibc.rename(source, destination) == 0 else {
            throw SystemError("rename", "of \(source) to \(destination)")
        }
    }

    /// Makes a directory's entries (creations, renames, removals) durable.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let descriptor = retryingOnInterrupt { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw SystemError("open", "of directory \(path)") }
        defer { _ = Glibc.close(descriptor) }
        guard retryingOnInterrupt({ fsync(descriptor) }) == 0 else {
            throw SystemError("fsync", "of directory \(path)")
        }
    }

    public static func remove(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemError("unlink", "of \(path)") }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

extension FileSystem {
    /// Removes a directory and everything in it (for temporary directories).
    public static func removeTree(_ path: String) {
        guard let names = try? list(path) else {
            _ = unlink(path)
            return
        }
        for name in names {
            let child = path + "/" + name
            if (try? list(child)) != nil {
                removeTree(child)
            } else {
                _ = unlink(child)
            }
        }
        _ = rmdir(path)
    }
}

// The outbox's file system calls: open, append, fsync, truncate and atomic replacement. Every call retries on
// EINTR; this is the only file of the module that talks to the file system.

import AgentCostSystem

#if canImport(Glibc)
    import Glibc
#endif

/// An append-only file, opened for writing at its end.
final class OutboxFile {
    let path: String
    private var descriptor: Int32

    /// Opens (creating if needed) `path` for appending. A file it creates has its directory entry synced, so that
    /// what is synced to the file later cannot vanish with the entry in a crash.
    ///
    /// - Throws: `WebhookError` with code `outboxIO` naming the file and the system's reason.
    init(appendingTo path: String) throws(WebhookError) {
        self.path = path
        var created = false
        descriptor = retrying { open(path, O_WRONLY | O_APPEND | O_CLOEXEC) }
        if descriptor < 0 && errno == ENOENT {
            descriptor = retrying { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
            created = true
        }
        guard descriptor >= 0 else { throw Self.error("open", path) }
        if created {
            do throws(WebhookError) {
                try Self.syncDirectory(of: path)
            } catch {
                close()
                throw error
            }
        }
    }

    deinit {
        close()
    }

    func close() {
        if descriptor >= 0 {
            _ = Glibc.close(descriptor)
            descriptor = -1
        }
    }

    /// Writes all of `bytes` at the end of the file (not yet durable: call `sync`).
    func append(_ bytes: [UInt8]) throws(WebhookError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                retrying { Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset) }
            }
            guard written > 0 else { throw Self.error("write", path) }
            offset += written
        }
    }

    /// Makes everything appended so far durable.
    func sync() throws(WebhookError) {
        guard retrying({ fdatasync(descriptor) }) == 0 else { throw Self.error("fdatasync", path) }
    }

    /// Cuts the file to `size` bytes (a torn or corrupt tail) and syncs.
    func truncate(to size: Int) throws(WebhookError) {
        guard retrying({ ftruncate(descriptor, off_t(size)) }) == 0 else { throw Self.error("ftruncate", path) }
        try sync()
    }

    /// The whole file, or nil when it does not exist.
    static func read(_ path: String) throws(WebhookError) -> [UInt8]? {
        let descriptor = retrying { open(path, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw error("open", path)
        }
        defer { _ = Glibc.close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { raw in
                retrying { Glibc.read(descriptor, raw.baseAddress!, raw.count) }
            }
            guard count >= 0 else { throw error("read", path) }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Replaces `path` with `bytes` atomically: written to a temporary file, synced, renamed over, and the
    /// directory synced, so that a crash leaves either the old file or the new one.
    static func replace(_ path: String, with bytes: [UInt8]) throws(WebhookError) {
        let temporary = path + ".tmp"
        _ = unlink(temporary)
        let file = try OutboxFile(appendingTo: temporary)
        try file.append(bytes)
        try file.sync()
        file.close()
        guard rename(temporary, path) == 0 else { throw error("rename", temporary) }
        try syncDirectory(of: path)
    }

    /// Creates `path` and its parents as directories when they do not exist, syncing the parent of each one it
    /// creates so that the new entries survive a crash.
    static func makeDirectories(_ path: String) throws(WebhookError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) == 0 {
                try syncDirectory(of: prefix)
            } else if errno != EEXIST {
                throw error("mkdir", prefix)
            }
            prefix += "/"
        }
    }

    private static func syncDirectory(of path: String) throws(WebhookError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let descriptor = retrying { open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw error("open", directory) }
        defer { _ = Glibc.close(descriptor) }
        guard retrying({ fsync(descriptor) }) == 0 else { throw error("fsync", directory) }
    }

    private static func error(_ call: String, _ path: String) -> WebhookError {
        WebhookError(
            .outboxIO,
            "\(call) of \(path) failed: \(SystemError(call).description); check that --data.dir is writable")
    }
}

/// Runs a system call again while it fails with EINTR.
private func retrying<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}

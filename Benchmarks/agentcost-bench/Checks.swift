import Synchronization

/// The checks that failed in this run, by name. A check prints PASS or FAIL next to its figure; once every selected
/// part has run, main exits 1 if any failed, so that `make bench` fails with it.
private let failedChecks = Mutex<[String]>([])

/// Records a check's outcome and returns the word to print for it.
func verdict(_ name: String, _ passed: Bool) -> String {
    if !passed {
        failedChecks.withLock { $0.append(name) }
    }
    return passed ? "PASS" : "FAIL"
}

/// The names of the checks that failed so far, in the order they ran.
func failedCheckNames() -> [String] {
    failedChecks.withLock { $0 }
}

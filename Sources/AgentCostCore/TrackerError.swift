/// An error from the tracker or the goal service: a stable code (fit for a metric label or an API response) and a
/// message that names the bad input and says what to do instead.
public struct TrackerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of mistake was made. New codes may be added; switch over them with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String

        init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// A cost, budget or ratio that is negative, NaN, infinite or too large.
        public static let invalidAmount = Code("invalid_amount")
        /// An agent or goal id that is empty or too long.
        public static let invalidID = Code("invalid_id")
        /// An `endCycle` for an agent with no open cycle.
        public static let noOpenCycle = Code("no_open_cycle")
        /// An agent the tracker has never seen.
        public static let unknownAgent = Code("unknown_agent")
        /// A resume of an agent that is still at or over its budget, without `force`.
        public static let resumeRefused = Code("resume_refused")
        /// A goal id that already exists.
        public static let duplicateGoal = Code("duplicate_goal")
        /// A goal that names a parent that does not exist.
        public static let unknownParentGoal = Code("unknown_parent_goal")
        /// A goal that names itself or one of its own descendants as its parent: the parents would form a cycle.
        public static let goalParentCycle = Code("goal_parent_cycle")
        /// A goal the service has never seen.
        public static let unknownGoal = Code("unknown_goal")
        /// A new agent or goal beyond the configured maximum (the cardinality guard).
        public static let tooManyAgents = Code("too_many_agents")
        public static let tooManyGoals = Code("too_many_goals")
        /// A tracker setting outside its allowed range.
        public static let invalidConfiguration = Code("invalid_configuration")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Limits on identifiers, shared by agents and goals.
public enum Identifier {
    /// The longest agent or goal id accepted, in UTF-8 bytes.
    public static let maximumLength = 256

    /// Checks that `id` is non-empty and at most `maximumLength` bytes.
    ///
    /// - Parameter kind: `"agent"` or `"goal"`, for the message.
    public static func validate(_ id: String, kind: String) throws(TrackerError) {
        guard !id.isEmpty else {
            throw TrackerError(.invalidID, "\(kind) id is empty; every \(kind) needs a non-empty id")
        }
        let length = id.utf8.count
        guard length <= maximumLength else {
            throw TrackerError(
                .invalidID,
                "\(kind) id of \(length) bytes is longer than the limit of \(maximumLength); use a shorter id"
            )
        }
    }
}

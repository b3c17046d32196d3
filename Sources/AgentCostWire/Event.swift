// The events of a batch as Swift values (agentcost.v1.Event and the messages of its `kind`).

/// One thing that happened to an agent or a goal, as sent in a `Batch`.
public struct Event: Hashable, Sendable {
    /// The event kinds, without their fields: what a server switches on first.
    public enum Kind: Hashable, Sendable {
        case cycleStart
        case spend
        case cycleEnd
        case setBudget
        case resume
        case createGoal
    }

    /// An event's kind with its fields.
    public enum Payload: Hashable, Sendable {
        case cycleStart(CycleStart)
        case spend(Spend)
        case cycleEnd(CycleEnd)
        case setBudget(SetBudget)
        case resume(Resume)
        case createGoal(CreateGoal)

        /// The kind, without the fields.
        public var kind: Kind {
            switch self {
            case .cycleStart: .cycleStart
            case .spend: .spend
            case .cycleEnd: .cycleEnd
            case .setBudget: .setBudget
            case .resume: .resume
            case .createGoal: .createGoal
            }
        }
    }

    /// When the event happened, in nanoseconds since the Unix epoch (UTC), as seen by the producer.
    public var timeUnixNano: Int64
    /// What happened.
    public var payload: Payload

    /// Creates an event.
    public init(timeUnixNano: Int64, _ payload: Payload) {
        self.timeUnixNano = timeUnixNano
        self.payload = payload
    }
}

/// An agent begins a work cycle.
public struct CycleStart: Hashable, Sendable {
    /// The agent that starts a cycle.
    public var agentID: String

    /// Creates the event's fields.
    public init(agentID: String) {
        self.agentID = agentID
    }
}

/// An agent spent money, e.g. on one model call.
public struct Spend: Hashable, Sendable {
    /// The agent that spent.
    public var agentID: String
    /// The amount in US dollars.
    public var costUSD: Double
    /// The goal the spend counts against; empty for none.
    public var goalID: String
    /// The model that was called; empty when unknown.
    public var model: String
    /// Prompt tokens consumed; 0 when unknown.
    public var inputTokens: UInt64
    /// Completion tokens produced; 0 when unknown.
    public var outputTokens: UInt64

    /// Creates the event's fields.
    public init(
        agentID: String, costUSD: Double, goalID: String = "", model: String = "", inputTokens: UInt64 = 0,
        outputTokens: UInt64 = 0
    ) {
        self.agentID = agentID
        self.costUSD = costUSD
        self.goalID = goalID
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// An agent finishes its current work cycle.
public struct CycleEnd: Hashable, Sendable {
    /// The agent that ends its cycle.
    public var agentID: String

    /// Creates the event's fields.
    public init(agentID: String) {
        self.agentID = agentID
    }
}

/// The window over which a budget is counted (agentcost.v1.BudgetPeriod).
///
/// A struct rather than an enum because protobuf enums are open: a newer producer may send a value this build does
/// not know, and the server must be able to see and reject it.
public struct BudgetPeriod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The protobuf enum number.
    public let rawValue: Int32

    /// Creates a period from its protobuf number, known or not.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// All spend since the budget was set.
    public static let lifetime = BudgetPeriod(rawValue: 0)
    /// Resets at 00:00 UTC every day.
    public static let daily = BudgetPeriod(rawValue: 1)
    /// Resets at 00:00 UTC every Monday.
    public static let weekly = BudgetPeriod(rawValue: 2)
    /// Resets at 00:00 UTC on the first day of every month.
    public static let monthly = BudgetPeriod(rawValue: 3)

    /// Whether this build knows the period.
    public var isKnown: Bool { (0...3).contains(rawValue) }

    public var description: String {
        switch self {
        case .lifetime: "lifetime"
        case .daily: "daily"
        case .weekly: "weekly"
        case .monthly: "monthly"
        default: "period \(rawValue)"
        }
    }
}

/// Sets or clears an agent's budget.
public struct SetBudget: Hashable, Sendable {
    /// The agent whose budget is set.
    public var agentID: String
    /// The budget in US dollars for one period.
    public var budgetUSD: Double
    /// The window the budget applies to.
    public var period: BudgetPeriod
    /// The fraction of the budget at which a warning is raised; 0 means the default, 0.8.
    public var warningRatio: Double
    /// When true, removes the budget; the other fields except `agentID` are ignored.
    public var clear: Bool

    /// Creates the event's fields.
    public init(
        agentID: String, budgetUSD: Double, period: BudgetPeriod = .lifetime, warningRatio: Double = 0,
        clear: Bool = false
    ) {
        self.agentID = agentID
        self.budgetUSD = budgetUSD
        self.period = period
        self.warningRatio = warningRatio
        self.clear = clear
    }
}

/// Lifts an agent's pause.
public struct Resume: Hashable, Sendable {
    /// The agent to resume.
    public var agentID: String
    /// When true, resumes the agent even though it is still over its budget.
    public var force: Bool

    /// Creates the event's fields.
    public init(agentID: String, force: Bool = false) {
        self.agentID = agentID
        self.force = force
    }
}

/// Declares a goal that spend can be counted against.
public struct CreateGoal: Hashable, Sendable {
    /// The new goal's id.
    public var goalID: String
    /// A human-readable name; may be empty.
    public var name: String
    /// The goal's budget in US dollars; 0 means none.
    public var budgetUSD: Double
    /// The parent goal's id; empty for a top-level goal.
    public var parentID: String

    /// Creates the event's fields.
    public init(goalID: String, name: String = "", budgetUSD: Double = 0, parentID: String = "") {
        self.goalID = goalID
        self.name = name
        self.budgetUSD = budgetUSD
        self.parentID = parentID
    }
}

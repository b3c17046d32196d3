import Synchronization

/// Attributes spend to goals, which may nest (a goal's cost includes its children's), and warns when a goal's
/// budget is nearly used or used up. Goal budgets are advisory: they emit events but never pause agents.
///
/// All goals sit behind one lock: a spend walks the goal's ancestors to keep their totals current, and goals are
/// few next to agents, so the lock is held for a handful of dictionary lookups.
public final class GoalService: Sendable {
    public typealias EventHandler = @Sendable (TrackerEvent) -> Void

    private let book: Mutex<GoalBook>
    private let eventHandler: EventHandler?
    private let defaultWarningRatio: Double

    /// - Parameters:
    ///   - defaultWarningRatio: the share of a budget at which a goal warning fires, unless a goal names its own.
    ///   - eventHandler: receives `goalWarning` and `goalExceeded` events.
    ///   - maximumGoals: the cardinality guard: creating or registering a goal beyond this many is refused.
    public init(
        defaultWarningRatio: Double = 0.8,
        maximumGoals: Int = 10_000,
        eventHandler: EventHandler? = nil
    ) throws(TrackerError) {
        try TrackerConfiguration.validateWarningRatio(defaultWarningRatio)
        guard maximumGoals >= 1 else {
            throw TrackerError(.invalidConfiguration, "maximum goals \(maximumGoals) must be at least 1")
        }
        self.book = Mutex(GoalBook(defaultWarningRatio: defaultWarningRatio, maximumGoals: maximumGoals))
        self.defaultWarningRatio = defaultWarningRatio
        self.eventHandler = eventHandler
    }

    /// Creates a goal, or completes one that spend registered before it was created.
    ///
    /// - Parameters:
    ///   - goalID: a non-empty id, unique among goals.
    ///   - name: a human-readable name.
    ///   - budget: an optional budget for the goal and its children together.
    ///   - parent: an existing goal this one belongs to.
    /// - Throws: `duplicateGoal` for an id already created, `unknownParentGoal` for a parent that does not exist,
    ///   `goalParentCycle` for a parent that is the goal itself or one of its descendants, `tooManyGoals` past the
    ///   cardinality guard, `invalidAmount` for a budget of $0, `invalidID` for a bad id.
    public func createGoal(
        _ goalID: String,
        name: String,
        budget: Money? = nil,
        parent: String? = nil,
        warningRatio: Double? = nil,
        at time: Timestamp
    ) throws(TrackerError) {
        try Identifier.validate(goalID, kind: "goal")
        if let budget, budget.nanos <= 0 {
            throw TrackerError(.invalidAmount, "budget \(budget) for goal \(goalID) must be more than $0, or none")
        }
        let ratio = warningRatio ?? defaultWarningRatio
        try TrackerConfiguration.validateWarningRatio(ratio)

        let events = try book.withLock { (book) throws(TrackerError) -> [TrackerEvent] in
            try book.create(goalID, name: name, budget: budget, parent: parent, warningRatio: ratio, at: time)
        }
        deliver(events)
    }

    /// `createGoal` with the budget in dollars, as the seed takes it.
    public func createGoal(
        _ goalID: String,
        name: String,
        budget dollars: Double,
        parent: String? = nil,
        at time: Timestamp
    ) throws(TrackerError) {
        try createGoal(goalID, name: name, budget: Money(dollars: dollars), parent: parent, at: time)
    }

    /// Attributes one call's cost to a goal (and so to its ancestors). A goal id never created is registered, with
    /// no budget, rather than losing the money.
    ///
    /// - Throws: `invalidID`, or `invalidAmount` for a negative cost or one that would overflow a total.
    public func recordSpend(_ goalID: String, _ cost: Money, at time: Timestamp) throws(TrackerError) {
        try Identifier.validate(goalID, kind: "goal")
        guard cost.nanos >= 0 else {
            throw TrackerError(.invalidAmount, "cost \(cost) for goal \(goalID) is negative; costs are never below $0")
        }
        let events = try book.withLock { (book) throws(TrackerError) -> [TrackerEvent] in
            try book.recordSpend(goalID, cost, at: time)
        }
        deliver(events)
    }

    /// `recordSpend` with the cost in dollars.
    public func recordSpend(_ goalID: String, _ dollars: Double, at time: Timestamp) throws(TrackerError) {
        try recordSpend(goalID, Money(dollars: dollars), at: time)
    }

    /// Checks everything that could refuse a spend on the goal (its id, the cost, room under the cardinality guard
    /// for a goal not yet registered, overflow of a total) and holds that room, so that the spend can be checked
    /// here, applied elsewhere (to the agent), and only then recorded here without any chance of failing. Every
    /// reservation must end in `recordSpend(_:at:)` or `release(_:)`.
    ///
    /// - Throws: what `recordSpend(_:_:at:)` would throw; nothing is held then.
    public func reserveSpend(_ goalID: String, _ cost: Money) throws(TrackerError) -> GoalReservation {
        try Identifier.validate(goalID, kind: "goal")
        guard cost.nanos >= 0 else {
            throw TrackerError(.invalidAmount, "cost \(cost) for goal \(goalID) is negative; costs are never below $0")
        }
        try book.withLock { (book) throws(TrackerError) in
            try book.reserve(goalID, cost)
        }
        return GoalReservation(goalID: goalID, cost: cost)
    }

    /// Records a reserved spend, as `recordSpend(_:_:at:)` would, and ends the reservation.
    public func recordSpend(_ reservation: GoalReservation, at time: Timestamp) {
        let events = book.withLock { $0.recordReserved(reservation, at: time) }
        deliver(events)
    }

    /// Ends a reservation whose spend was not applied after all; the goal service is as if it had never been made.
    public func release(_ reservation: GoalReservation) {
        book.withLock { $0.release(reservation) }
    }

    /// The goal's own cost, its children's and the total, with its budget; nil for an unknown goal.
    public func goalCost(_ goalID: String) -> GoalCost? {
        book.withLock { $0.cost(of: goalID) }
    }

    /// Every goal's costs, sorted by id.
    public func allGoalCosts() -> [GoalCost] {
        book.withLock { book in book.goals.keys.sorted().compactMap { book.cost(of: $0) } }
    }

    /// Every goal as a plain record, for snapshots.
    public func records() -> [GoalRecord] {
        book.withLock { book in
            book.goals.map { id, goal in
                GoalRecord(
                    goalID: id, name: goal.name, parentID: goal.parentID, childIDs: goal.childIDs,
                    directCost: goal.directCost, totalCost: goal.totalCost, directCalls: goal.directCalls,
                    totalCalls: goal.totalCalls, budget: goal.budget, warningRatio: goal.warningRatio,
                    isImplicit: goal.isImplicit, warned: goal.warned, exceeded: goal.exceeded)
            }
        }
    }

    /// Adds goals restored from a snapshot, as they were (totals included), emitting no events. Call before any
    /// traffic.
    public func restore(_ records: [GoalRecord]) {
        book.withLock { book in
            for record in records {
                book.restore(record)
            }
        }
    }

    /// Every goal's id, sorted.
    public func allGoals() -> [String] {
        book.withLock { $0.goals.keys.sorted() }
    }

    public var goalCount: Int {
        book.withLock { $0.goals.count }
    }

    private func deliver(_ events: [TrackerEvent]) {
        guard let eventHandler else { return }
        for event in events {
            eventHandler(event)
        }
    }
}

/// Room held for one spend on a goal between `GoalService.reserveSpend` and `recordSpend(_:at:)` or `release(_:)`.
public struct GoalReservation: Sendable, Hashable {
    public let goalID: String
    public let cost: Money
}

/// A goal's costs and budget.
public struct GoalCost: Sendable, Hashable {
    public let goalID: String
    public let name: String
    public let parentID: String?
    public let childIDs: [String]
    /// Spend attributed to this goal itself.
    public let directCost: Money
    /// Spend attributed to its children and their descendants.
    public let childrenCost: Money
    /// `directCost + childrenCost`.
    public let totalCost: Money
    /// Calls attributed to this goal itself.
    public let directCalls: Int
    /// Calls attributed to it and its descendants.
    public let totalCalls: Int
    public let budget: Money?

    /// `totalCost` as a percentage of the budget; nil without a budget.
    public var budgetUsedPercent: Double? {
        guard let budget, budget.nanos > 0 else { return nil }
        return Double(totalCost.nanos) * 100 / Double(budget.nanos)
    }
}

/// The goals and their rules; `GoalService` owns the lock.
struct GoalBook: Sendable {
    struct Goal: Sendable {
        var name: String
        var parentID: String?
        var childIDs: [String] = []
        var directCost = Money.zero
        var totalCost = Money.zero
        var directCalls = 0
        var totalCalls = 0
        var budget: Money?
        var warningRatio: Double
        /// Registered by a spend before anyone created it.
        var isImplicit: Bool
        var warned = false
        var exceeded = false
    }

    private(set) var goals: [String: Goal] = [:]
    /// Goals not registered yet for which spends are reserved, with how many: each holds a place under the
    /// cardinality guard until its first reserved spend registers it or its last reservation is released.
    private var pendingGoals: [String: Int] = [:]
    /// The cost of every reserved spend, counted against each total it could join, so none can overflow when the
    /// spends are recorded.
    private var pendingCost = Money.zero
    /// The warning ratio of goals registered by spend.
    let defaultWarningRatio: Double
    let maximumGoals: Int

    init(defaultWarningRatio: Double, maximumGoals: Int) {
        self.defaultWarningRatio = defaultWarningRatio
        self.maximumGoals = maximumGoals
    }

    private func checkRoom(for id: String) throws(TrackerError) {
        guard goals[id] != nil || pendingGoals[id] != nil || goals.count + pendingGoals.count < maximumGoals else {
            throw TrackerError(
                .tooManyGoals,
                "goal \(id) would be goal number \(maximumGoals + 1), over the limit of \(maximumGoals); "
                    + "raise --tracker.max-goals or reuse goal ids"
            )
        }
    }

    mutating func create(
        _ id: String,
        name: String,
        budget: Money?,
        parent: String?,
        warningRatio: Double,
        at time: Timestamp
    ) throws(TrackerError) -> [TrackerEvent] {
        if let existing = goals[id], !existing.isImplicit {
            throw TrackerError(.duplicateGoal, "goal \(id) already exists; choose another id")
        }
        try checkRoom(for: id)
        if let parent {
            guard goals[parent] != nil else {
                throw TrackerError(
                    .unknownParentGoal, "parent goal \(parent) of goal \(id) does not exist; create it first")
            }
            // Only a goal registered by spend can already have children; it must not become its own ancestor.
            guard parent != id else {
                throw TrackerError(
                    .goalParentCycle, "goal \(id) cannot be its own parent; name another goal as parent, or none")
            }
            guard !ancestors(ofAndIncluding: parent).contains(id) else {
                throw TrackerError(
                    .goalParentCycle,
                    "goal \(id) cannot have \(parent) as parent: \(parent) is a descendant of \(id), so the parents "
                        + "would form a cycle; name a goal outside \(id)'s subtree as parent, or none"
                )
            }
        }

        var goal = goals[id] ?? Goal(name: name, warningRatio: warningRatio, isImplicit: false)
        goal.name = name
        goal.parentID = parent
        goal.budget = budget
        goal.warningRatio = warningRatio
        goal.isImplicit = false
        goals[id] = goal
        pendingGoals[id] = nil

        // An adopted goal brings its spend to its new ancestors.
        var events: [TrackerEvent] = []
        if let parent {
            goals[parent]!.childIDs.append(id)
            for ancestor in ancestors(ofAndIncluding: parent) {
                goals[ancestor]!.totalCost += goal.totalCost
                goals[ancestor]!.totalCalls += goal.totalCalls
                checkBudget(of: ancestor, at: time, events: &events)
            }
        }
        checkBudget(of: id, at: time, events: &events)
        return events
    }

    mutating func recordSpend(_ id: String, _ cost: Money, at time: Timestamp) throws(TrackerError) -> [TrackerEvent] {
        try checkRoom(for: id)
        try checkTotals(adding: cost, to: id)
        return add(cost, to: id, at: time)
    }

    mutating func reserve(_ id: String, _ cost: Money) throws(TrackerError) {
        try checkRoom(for: id)
        try checkTotals(adding: cost, to: id)
        if goals[id] == nil {
            pendingGoals[id, default: 0] += 1
        }
        pendingCost += cost
    }

    mutating func recordReserved(_ reservation: GoalReservation, at time: Timestamp) -> [TrackerEvent] {
        pendingCost = Money(nanos: pendingCost.nanos - reservation.cost.nanos)
        return add(reservation.cost, to: reservation.goalID, at: time)
    }

    mutating func release(_ reservation: GoalReservation) {
        pendingCost = Money(nanos: pendingCost.nanos - reservation.cost.nanos)
        // Goals are never removed, so a goal still unregistered was unregistered when the spend was reserved.
        if goals[reservation.goalID] == nil, let waiting = pendingGoals[reservation.goalID] {
            pendingGoals[reservation.goalID] = waiting > 1 ? waiting - 1 : nil
        }
    }

    /// Checks that `cost`, with every reserved cost, fits in the totals of the goal and its ancestors.
    private func checkTotals(adding cost: Money, to id: String) throws(TrackerError) {
        let incoming = try pendingCost.adding(cost)
        for member in ancestors(ofAndIncluding: id) {
            _ = try goals[member]!.totalCost.adding(incoming)
        }
    }

    /// Adds a checked spend to the goal (registering it if new) and to its ancestors.
    private mutating func add(_ cost: Money, to id: String, at time: Timestamp) -> [TrackerEvent] {
        if goals[id] == nil {
            goals[id] = Goal(name: id, warningRatio: defaultWarningRatio, isImplicit: true)
            pendingGoals[id] = nil
        }
        let chain = ancestors(ofAndIncluding: id)

        goals[id]!.directCost += cost
        goals[id]!.directCalls += 1
        var events: [TrackerEvent] = []
        for member in chain {
            goals[member]!.totalCost += cost
            goals[member]!.totalCalls += 1
            checkBudget(of: member, at: time, events: &events)
        }
        return events
    }

    mutating func restore(_ record: GoalRecord) {
        var goal = Goal(name: record.name, warningRatio: record.warningRatio, isImplicit: record.isImplicit)
        goal.parentID = record.parentID
        goal.childIDs = record.childIDs
        goal.directCost = record.directCost
        goal.totalCost = record.totalCost
        goal.directCalls = record.directCalls
        goal.totalCalls = record.totalCalls
        goal.budget = record.budget
        goal.warned = record.warned
        goal.exceeded = record.exceeded
        goals[record.goalID] = goal
    }

    func cost(of id: String) -> GoalCost? {
        guard let goal = goals[id] else { return nil }
        return GoalCost(
            goalID: id,
            name: goal.name,
            parentID: goal.parentID,
            childIDs: goal.childIDs,
            directCost: goal.directCost,
            childrenCost: Money(nanos: goal.totalCost.nanos - goal.directCost.nanos),
            totalCost: goal.totalCost,
            directCalls: goal.directCalls,
            totalCalls: goal.totalCalls,
            budget: goal.budget
        )
    }

    /// The goal, its parent, its parent's parent, … up to a root.
    private func ancestors(ofAndIncluding id: String) -> [String] {
        var chain: [String] = []
        var current: String? = id
        while let member = current, goals[member] != nil, !chain.contains(member) {
            chain.append(member)
            current = goals[member]!.parentID
        }
        return chain
    }

    private mutating func checkBudget(of id: String, at time: Timestamp, events: inout [TrackerEvent]) {
        guard let goal = goals[id], let budget = goal.budget else { return }
        let notice = GoalNotice(goalID: id, cost: goal.totalCost, budget: budget, time: time)
        let threshold = Money(nanos: Int64((Double(budget.nanos) * goal.warningRatio).rounded(.up)))
        if !goal.warned, goal.totalCost >= threshold {
            goals[id]!.warned = true
            events.append(.goalWarning(notice))
        }
        if !goal.exceeded, goal.totalCost >= budget {
            goals[id]!.exceeded = true
            events.append(.goalExceeded(notice))
        }
    }
}

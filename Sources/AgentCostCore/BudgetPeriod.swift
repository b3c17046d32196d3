/// The span of time a budget covers. Calendar periods follow UTC; at each boundary the period's spend starts from
/// zero again, while the lifetime spend is always kept.
public enum BudgetPeriod: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// One budget for the agent's whole life, as in the original Python tracker.
    case lifetime
    /// From 00:00 UTC to the next 00:00 UTC.
    case daily
    /// ISO weeks: from Monday 00:00 UTC to the next Monday.
    case weekly
    /// From the first day of a month, 00:00 UTC, to the first of the next month.
    case monthly

    public var description: String { rawValue }

    /// A number that names the period containing `time`, increasing by one from each period to the next; two
    /// times are in the same period exactly when their indices are equal. Lifetime has a single period, 0.
    func index(of time: Timestamp) -> Int64 {
        let days = time.daysSinceEpoch
        switch self {
        case .lifetime:
            return 0
        case .daily:
            return days
        case .weekly:
            // 1970-01-01 was a Thursday; shifting by three days makes weeks start on Mondays.
            return (days + 3).floorDivided(by: 7)
        case .monthly:
            let date = CivilDate(daysSinceEpoch: days)
            return date.year * 12 + date.month - 1
        }
    }

    /// The first moment of the period with the given index.
    func start(ofIndex index: Int64) -> Timestamp {
        let days: Int64
        switch self {
        case .lifetime:
            return .epoch
        case .daily:
            days = index
        case .weekly:
            days = index * 7 - 3
        case .monthly:
            days =
                CivilDate(year: index.floorDivided(by: 12), month: index - index.floorDivided(by: 12) * 12 + 1, day: 1)
                .daysSinceEpoch
        }
        return Timestamp(nanosecondsSinceEpoch: days * Timestamp.nanosPerDay)
    }
}

/// A moment in time: nanoseconds since the Unix epoch, UTC.
///
/// The tracker never reads a clock. Every event carries the time it happened, so that replaying the same events
/// gives the same state, and a cycle's duration is the time between its own start and end events rather than
/// whenever they happened to be processed.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// A time given in (possibly fractional) seconds since the epoch.
    public init(secondsSinceEpoch seconds: Double) {
        self.nanosecondsSinceEpoch = Int64((seconds * 1e9).rounded())
    }

    public static let epoch = Timestamp(nanosecondsSinceEpoch: 0)

    public var secondsSinceEpoch: Double {
        Double(nanosecondsSinceEpoch) / 1e9
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    /// This time moved by a number of seconds.
    public func advanced(bySeconds seconds: Double) -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: nanosecondsSinceEpoch + Int64((seconds * 1e9).rounded()))
    }

    /// Seconds from `self` to `later`; never negative (an end stamped before its start lasts zero seconds).
    public func seconds(until later: Timestamp) -> Double {
        Double(max(0, later.nanosecondsSinceEpoch - nanosecondsSinceEpoch)) / 1e9
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-12-03T19:16:21.042Z`.
    public var description: String {
        let nanos = nanosecondsSinceEpoch
        let days = nanos.floorDivided(by: Timestamp.nanosPerDay)
        let nanosOfDay = nanos - days * Timestamp.nanosPerDay
        let date = CivilDate(daysSinceEpoch: days)
        let secondsOfDay = nanosOfDay / 1_000_000_000
        let millis = (nanosOfDay / 1_000_000) % 1000
        return "\(date.year.padded(4))-\(date.month.padded(2))-\(date.day.padded(2))T"
            + "\((secondsOfDay / 3600).padded(2)):\((secondsOfDay / 60 % 60).padded(2)):"
            + "\((secondsOfDay % 60).padded(2)).\(millis.padded(3))Z"
    }

    static let nanosPerDay: Int64 = 86_400 * 1_000_000_000

    /// Whole days since 1970-01-01 (UTC), rounding towards the past for times before the epoch.
    var daysSinceEpoch: Int64 {
        nanosecondsSinceEpoch.floorDivided(by: Timestamp.nanosPerDay)
    }
}

/// A proleptic Gregorian calendar date, converted to and from days since the epoch with Howard Hinnant's
/// `days_from_civil` algorithm, so that the core needs no calendar library.
struct CivilDate: Equatable {
    var year: Int64
    var month: Int64
    var day: Int64

    init(year: Int64, month: Int64, day: Int64) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(daysSinceEpoch: Int64) {
        let shifted = daysSinceEpoch + 719_468
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    var daysSinceEpoch: Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear.floorDivided(by: 400)
        let yearOfEra = shiftedYear - era * 400
        let monthIndex = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension Int64 {
    /// Division rounding towards negative infinity, so that times before the epoch fall in the right day.
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    func padded(_ width: Int) -> String {
        let digits = String(self)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

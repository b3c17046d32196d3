/// An exact amount of US dollars, kept as a whole number of nano-dollars (10⁻⁹ USD).
///
/// Floating point cannot add a million spends of $0.000001 and get exactly $1; an integer count of nano-dollars
/// can. Every amount the tracker stores, compares and reports is a `Money`; `Double` appears only where a cost
/// enters (from a caller or the wire) and where a ratio leaves.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nano-dollars per dollar.
    public static let nanosPerDollar: Int64 = 1_000_000_000

    /// The largest amount a `Money` can hold, about $9.2 billion.
    public static let max = Money(nanos: Int64.max)

    public static let zero = Money(nanos: 0)

    /// The amount in nano-dollars.
    public var nanos: Int64

    public init(nanos: Int64) {
        self.nanos = nanos
    }

    /// Converts a dollar amount given as a floating-point number, rounding to the nearest nano-dollar.
    ///
    /// - Parameter dollars: a finite, non-negative number of US dollars.
    /// - Throws: `TrackerError.invalidAmount` when `dollars` is negative, NaN, infinite or too large.
    public init(dollars: Double) throws(TrackerError) {
        guard dollars.isFinite else {
            throw TrackerError(.invalidAmount, "amount \(dollars) is not a finite number; send a cost in US dollars")
        }
        guard dollars >= 0 else {
            throw TrackerError(.invalidAmount, "amount \(dollars) is negative; costs and budgets are never below $0")
        }
        let scaled = (dollars * Double(Money.nanosPerDollar)).rounded()
        guard scaled < 9.2e18 else {
            throw TrackerError(.invalidAmount, "amount \(dollars) is over the largest supported amount of $9.2e9")
        }
        self.nanos = Int64(scaled)
    }

    /// The amount as a floating-point number of dollars, for ratios and exposition.
    public var dollars: Double {
        Double(nanos) / Double(Money.nanosPerDollar)
    }

    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.nanos < rhs.nanos
    }

    /// Adds two amounts, or throws when the sum would not fit, rather than wrapping around.
    public func adding(_ other: Money) throws(TrackerError) -> Money {
        let (sum, overflow) = nanos.addingReportingOverflow(other.nanos)
        guard !overflow else {
            throw TrackerError(.invalidAmount, "adding \(other) to \(self) overflows the largest amount of $9.2e9")
        }
        return Money(nanos: sum)
    }

    /// Sums amounts whose total is known to fit (callers check with `adding(_:)` at the point of entry).
    static func + (lhs: Money, rhs: Money) -> Money {
        Money(nanos: lhs.nanos &+ rhs.nanos)
    }

    static func += (lhs: inout Money, rhs: Money) {
        lhs = lhs + rhs
    }

    /// `$0.08`, `$12.50`: two decimals from one cent up; below a cent the significant digits are kept
    /// (`$0.0042`, `$0.000001`), so that small amounts never print as `$0.00`.
    public var description: String {
        let sign = nanos < 0 ? "-" : ""
        let magnitude = nanos.magnitude
        let perDollar = UInt64(Money.nanosPerDollar)
        let centInNanos: UInt64 = 10_000_000

        if magnitude == 0 || magnitude >= centInNanos {
            // Round half up to whole cents.
            let cents = (magnitude + centInNanos / 2) / centInNanos
            let fraction = cents % 100
            return "\(sign)$\(cents / 100).\(fraction < 10 ? "0" : "")\(fraction)"
        }

        // Below one cent: keep two significant digits, dropping trailing zeros.
        var digits = String(magnitude % perDollar)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        let firstSignificant = digits.firstIndex { $0 != "0" } ?? digits.startIndex
        let end = digits.index(firstSignificant, offsetBy: 2, limitedBy: digits.endIndex) ?? digits.endIndex
        var kept = digits[..<end]
        while kept.count > 2, kept.last == "0" {
            kept.removeLast()
        }
        return "\(sign)$0.\(kept)"
    }
}

extension Money {
    /// The exact amount in dollars as a plain decimal, with no trailing zeros: `0.08`, `12`, `0.000000001`. Fit
    /// for JSON numbers and anywhere a float would round.
    public var exactDecimal: String {
        let magnitude = nanos.magnitude
        let perDollar = UInt64(Money.nanosPerDollar)
        let whole = "\(nanos < 0 ? "-" : "")\(magnitude / perDollar)"
        var fraction = magnitude % perDollar
        guard fraction != 0 else { return whole }
        var width = 9
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        let digits = String(fraction)
        return whole + "." + String(repeating: "0", count: width - digits.count) + digits
    }

    /// The ratio `self / other` as a floating-point number; nil when `other` is zero.
    public func ratio(to other: Money) -> Double? {
        other.nanos == 0 ? nil : Double(nanos) / Double(other.nanos)
    }
}

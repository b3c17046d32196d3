// Event times given as text: RFC 3339 strings and (fractional) seconds since the Unix epoch, to nanoseconds.

enum Timestamps {
    /// Nanoseconds since the epoch of an RFC 3339 time such as `2026-12-03T19:30:00.125Z` or
    /// `2026-12-03 20:30:00+01:00`; `nil` when malformed or outside what an Int64 of nanoseconds holds.
    static func parseRFC3339(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var position = 0
        func number(_ width: Int) -> Int? {
            guard bytes.count - position >= width else { return nil }
            var value = 0
            for byte in bytes[position..<position + width] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            position += width
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard position < bytes.count, characters.utf8.contains(bytes[position]) else { return false }
            position += 1
            return true
        }

        // Date and time of day.
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24,
            minute < 60, second < 61
        else { return nil }

        // Fraction: up to nanoseconds; further digits are truncated.
        var nanoseconds: Int64 = 0
        if expect(".") {
            var digits = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                if digits < 9 {
                    nanoseconds = nanoseconds * 10 + Int64(bytes[position] - UInt8(ascii: "0"))
                }
                digits += 1
                position += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 9) {
                nanoseconds *= 10
            }
        }

        // Offset from UTC.
        var offsetSeconds = 0
        if !expect("Zz") {
            guard position < bytes.count else { return nil }
            let sign = bytes[position] == UInt8(ascii: "-") ? -1 : 1
            guard expect("+-"), let offsetHours = number(2), expect(":"), let offsetMinutes = number(2),
                offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard position == bytes.count else { return nil }

        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflowAdding) = scaled.addingReportingOverflow(nanoseconds)
        return overflowAdding ? nil : total
    }

    /// Nanoseconds since the epoch of a JSON number of seconds such as `1700000000.25`; exact for plain decimals,
    /// through `Double` for exponents; `nil` when out of range.
    static func parseSeconds(_ text: String) -> Int64? {
        if !text.contains(where: { $0 == "e" || $0 == "E" }) {
            let negative = text.hasPrefix("-")
            let unsigned = negative ? text.dropFirst() : Substring(text)
            let parts = unsigned.split(separator: ".", omittingEmptySubsequences: false)
            guard let whole = Int64(parts[0]) else { return nil }
            var fraction: Int64 = 0
            if parts.count == 2 {
                let digits = String(parts[1].prefix(9))
                fraction = Int64(digits + String(repeating: "0", count: 9 - digits.count)) ?? 0
            }
            let (scaled, overflow) = whole.multipliedReportingOverflow(by: 1_000_000_000)
            guard !overflow else { return nil }
            let (total, overflowAdding) = scaled.addingReportingOverflow(fraction)
            guard !overflowAdding else { return nil }
            return negative ? -total : total
        }
        guard let seconds = Double(text) else { return nil }
        let nanoseconds = (seconds * 1e9).rounded()
        guard nanoseconds.isFinite, nanoseconds > -9.2e18, nanoseconds < 9.2e18 else { return nil }
        return Int64(nanoseconds)
    }

    private static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's days_from_civil).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

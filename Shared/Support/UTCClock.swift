#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one formatter of wall-clock times: log lines, CloudEvents `time`, export names.
public enum UTCClock {
    /// UTC time as `2026-05-20T10:00:00.123Z` (RFC 3339, milliseconds).
    public static func timestamp(epochMs: Int64 = wallClockMs()) -> String {
        var seconds = time_t(epochMs / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(epochMs % 1000), 3))Z"
    }
}

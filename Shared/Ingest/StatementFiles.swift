/// Reads a statement file whatever its format: ISO 20022 camt (XML) or MT940, detected from
/// the bytes unless given; the text encoding of MT940 is detected unless given.
public enum StatementFiles {
    /// Formats `parse` accepts as a hint: `camt` (any camt.05x), `mt940`, `csv` (with a mapping).
    public static let formats = ["camt", "mt940", "csv"]

    /// `csvMapping` is the bank's CSV column mapping; a file that is neither XML nor MT940 is read
    /// as CSV when one is given.
    /// With `onEntry` (camt and MT940), entries are handed over one by one and not kept.
    public static func parse(
        _ bytes: [UInt8], format: String? = nil, encoding: TextEncoding? = nil, csvMapping: CSVMapping? = nil,
        onEntry: ((Int, ParsedEntry) -> Void)? = nil
    ) throws(StatementFileError) -> ParsedStatementFile {
        var kind = format.map { $0.lowercased().hasPrefix("camt") ? "camt" : $0.lowercased() } ?? detect(bytes)
        if kind == "unknown", csvMapping != nil { kind = "csv" }
        switch kind {
        case "csv":
            guard let csvMapping else {
                throw StatementFileError("invalid_mapping", "a CSV file needs the bank's column mapping", at: "byte 0")
            }
            let chosen = encoding ?? TextEncoding.detect(bytes)
            guard let text = chosen.decode(bytes) else {
                throw StatementFileError("wrong_encoding", "the file is not valid \(chosen.rawValue)", at: "byte 0")
            }
            var file = try CSVStatementParser.parse(text, mapping: csvMapping)
            file.encoding = chosen
            return file
        case "camt":
            return try CamtParser.parse(bytes, onEntry: onEntry)
        case "mt940":
            let chosen = encoding ?? TextEncoding.detect(bytes)
            guard let text = chosen.decode(bytes) else {
                throw StatementFileError("wrong_encoding", "the file is not valid \(chosen.rawValue)", at: "byte 0")
            }
            var file = try MT940Parser.parse(text, onEntry: onEntry)
            file.encoding = chosen
            return file
        default:
            throw StatementFileError(
                "unknown_format",
                format.map { "format '\($0)' is not one of \(formats.joined(separator: ", "))" }
                    ?? "neither ISO 20022 XML nor MT940", at: "byte 0")
        }
    }

    /// `camt` for XML, `mt940` when a `:20:` field appears near the start, else `unknown`.
    public static func detect(_ bytes: [UInt8]) -> String {
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while start < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start]) { start += 1 }
        if start < bytes.count, bytes[start] == UInt8(ascii: "<") { return "camt" }
        let head = bytes[start..<min(bytes.count, start + 4_096)]
        let marker: [UInt8] = Array(":20:".utf8)
        var index = head.startIndex
        while index + marker.count <= head.endIndex {
            if Array(head[index..<(index + marker.count)]) == marker { return "mt940" }
            index += 1
        }
        return "unknown"
    }
}

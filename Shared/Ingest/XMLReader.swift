/// Why an XML input is refused. Permanent: the same bytes fail the same way.
public struct XMLError: Error, Sendable, CustomStringConvertible, Equatable {
    public let problem: String
    /// Byte offset where the problem was found.
    public let offset: Int

    public var description: String { "XML refused at byte \(offset): \(problem)" }
}

/// One event of an XML document: an element starts (local name, attributes), ends, or has text.
public enum XMLEvent: Sendable, Equatable {
    case start(name: String, attributes: [XMLAttribute])
    case end(name: String)
    /// Character data with entities decoded; whitespace-only runs between elements are not reported.
    case text(String)
}

public struct XMLAttribute: Sendable, Equatable {
    public let name: String
    public let value: String
}

/// A streaming XML reader over bytes: no DOM, bounded depth and text, and no document type at all.
///
/// Security: a DOCTYPE (and with it any DTD, internal or external, and every entity declaration)
/// is refused before anything in it is read, so nothing is ever resolved or expanded; only the
/// five predefined entities and numeric character references are decoded. Namespace prefixes are
/// dropped (`ns:Ntry` → `Ntry`): ISO 20022 documents use one namespace per message.
public struct XMLReader {
    public struct Limits: Sendable {
        public var maxDepth = 64
        public var maxTextBytes = 1 << 20
        public var maxNameBytes = 256
        public var maxAttributes = 64
        public init() {}
    }

    private let bytes: [UInt8]
    private var index: Int
    private let limits: Limits
    private var open: [String] = []
    private var pendingEnd: String?
    private var sawRoot = false

    public init(_ bytes: [UInt8], limits: Limits = Limits()) {
        self.bytes = bytes
        self.limits = limits
        // A UTF-8 byte order mark is allowed before the document.
        index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    }

    /// The element names open at this point, outermost first.
    public var path: [String] { open }

    /// The next event, or nil at the end of a well-formed document.
    public mutating func next() throws(XMLError) -> XMLEvent? {
        if let name = pendingEnd {
            pendingEnd = nil
            open.removeLast()
            return .end(name: name)
        }
        while index < bytes.count {
            if bytes[index] != UInt8(ascii: "<") {
                let start = index
                var onlySpaces = true
                while index < bytes.count, bytes[index] != UInt8(ascii: "<") {
                    let byte = bytes[index]
                    if byte != 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D { onlySpaces = false }
                    index += 1
                }
                if onlySpaces { continue }
                guard !open.isEmpty else { throw fail("text outside the root element", at: start) }
                guard index - start <= limits.maxTextBytes else { throw fail("text longer than the limit", at: start) }
                return .text(try decodeEntities(start, index))
            }
            // Markup.
            if matches("<!--") {
                try skip(past: "-->", what: "comment")
            } else if matches("<![CDATA[") {
                guard !open.isEmpty else { throw fail("CDATA outside the root element") }
                index += 9
                let start = index
                guard let end = find("]]>") else { throw fail("unterminated CDATA section", at: start) }
                guard end - start <= limits.maxTextBytes else { throw fail("text longer than the limit", at: start) }
                index = end + 3
                if end > start { return .text(String(decoding: bytes[start..<end], as: UTF8.self)) }
            } else if matches("<!") {
                // <!DOCTYPE, <!ENTITY, <!ELEMENT …: never read, never resolved.
                throw fail("a document type declaration (DTD) is not allowed")
            } else if matches("<?") {
                try skip(past: "?>", what: "processing instruction")
            } else if matches("</") {
                index += 2
                let name = try readName()
                skipSpaces()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else {
                    throw fail("expected '>' to end </\(name)")
                }
                index += 1
                guard let last = open.last else { throw fail("end tag </\(name)> with no open element") }
                guard last == name else { throw fail("end tag </\(name)> does not close <\(last)>") }
                open.removeLast()
                return .end(name: name)
            } else {
                index += 1
                guard !(open.isEmpty && sawRoot) else { throw fail("a second root element") }
                let name = try readName()
                var attributes: [XMLAttribute] = []
                while true {
                    let hadSpace = skipSpaces()
                    guard index < bytes.count else { throw fail("unterminated start tag <\(name)") }
                    if bytes[index] == UInt8(ascii: ">") {
                        index += 1
                        try push(name)
                        return .start(name: name, attributes: attributes)
                    }
                    if bytes[index] == UInt8(ascii: "/") {
                        guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: ">") else {
                            throw fail("expected '/>' in <\(name)")
                        }
                        index += 2
                        try push(name)
                        pendingEnd = name
                        return .start(name: name, attributes: attributes)
                    }
                    guard hadSpace else { throw fail("expected a space before an attribute of <\(name)>") }
                    guard attributes.count < limits.maxAttributes else { throw fail("too many attributes") }
                    attributes.append(try readAttribute())
                }
            }
        }
        guard open.isEmpty else { throw fail("the document ends inside <\(open.last!)> (truncated?)") }
        guard sawRoot else { throw fail("no root element") }
        return nil
    }

    // MARK: Pieces

    private mutating func push(_ name: String) throws(XMLError) {
        guard open.count < limits.maxDepth else { throw fail("elements nested deeper than \(limits.maxDepth)") }
        open.append(name)
        sawRoot = true
    }

    private func matches(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        return literal.withUTF8Buffer { pattern in
            for offset in 0..<count where bytes[index + offset] != pattern[offset] { return false }
            return true
        }
    }

    private func find(_ literal: StaticString) -> Int? {
        let count = literal.utf8CodeUnitCount
        return literal.withUTF8Buffer { pattern -> Int? in
            var position = index
            while position + count <= bytes.count {
                if bytes[position] == pattern[0] {
                    var equal = true
                    for offset in 1..<count where bytes[position + offset] != pattern[offset] {
                        equal = false
                        break
                    }
                    if equal { return position }
                }
                position += 1
            }
            return nil
        }
    }

    private mutating func skip(past terminator: StaticString, what: String) throws(XMLError) {
        let start = index
        guard let end = find(terminator) else { throw fail("unterminated \(what)", at: start) }
        index = end + terminator.utf8CodeUnitCount
    }

    @discardableResult
    private mutating func skipSpaces() -> Bool {
        let start = index
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D
        {
            index += 1
        }
        return index > start
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: ":"), 0x80...0xFF:
            return true
        default:
            return false
        }
    }

    /// A name without its namespace prefix.
    private mutating func readName() throws(XMLError) -> String {
        let start = index
        var colon = -1
        while index < bytes.count, Self.isNameByte(bytes[index]) {
            if bytes[index] == UInt8(ascii: ":") { colon = index }
            index += 1
        }
        guard index > start else { throw fail("expected a name") }
        guard index - start <= limits.maxNameBytes else { throw fail("a name longer than the limit", at: start) }
        let first = colon >= 0 ? colon + 1 : start
        guard first < index else { throw fail("a name ends with ':'", at: start) }
        return String(decoding: bytes[first..<index], as: UTF8.self)
    }

    private mutating func readAttribute() throws(XMLError) -> XMLAttribute {
        let name = try readName()
        skipSpaces()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw fail("expected '=' after \(name)") }
        index += 1
        skipSpaces()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else {
            throw fail("expected a quoted value for \(name)")
        }
        let quote = bytes[index]
        index += 1
        let start = index
        while index < bytes.count, bytes[index] != quote {
            guard bytes[index] != UInt8(ascii: "<") else { throw fail("'<' in an attribute value") }
            index += 1
        }
        guard index < bytes.count else { throw fail("unterminated attribute value", at: start) }
        let value = try decodeEntities(start, index)
        index += 1
        return XMLAttribute(name: name, value: value)
    }

    private func decodeEntities(_ start: Int, _ end: Int) throws(XMLError) -> String {
        var ampersand = start
        while ampersand < end, bytes[ampersand] != UInt8(ascii: "&") { ampersand += 1 }
        if ampersand == end { return String(decoding: bytes[start..<end], as: UTF8.self) }
        var output: [UInt8] = Array(bytes[start..<ampersand])
        var position = ampersand
        while position < end {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "&") else {
                output.append(byte)
                position += 1
                continue
            }
            var semicolon = position + 1
            while semicolon < end, semicolon - position <= 12, bytes[semicolon] != UInt8(ascii: ";") { semicolon += 1 }
            guard semicolon < end, bytes[semicolon] == UInt8(ascii: ";") else {
                throw fail("an '&' that starts no entity", at: position)
            }
            let name = String(decoding: bytes[(position + 1)..<semicolon], as: UTF8.self)
            switch name {
            case "lt": output.append(UInt8(ascii: "<"))
            case "gt": output.append(UInt8(ascii: ">"))
            case "amp": output.append(UInt8(ascii: "&"))
            case "quot": output.append(UInt8(ascii: "\""))
            case "apos": output.append(UInt8(ascii: "'"))
            default:
                guard name.hasPrefix("#") else {
                    throw fail("entity &\(name); is not one of XML's five (no DTD, so no others)", at: position)
                }
                let digits = name.dropFirst()
                let value =
                    digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
                guard let value, value != 0, let scalar = Unicode.Scalar(value) else {
                    throw fail("character reference &\(name); is not a character", at: position)
                }
                output.append(contentsOf: Array(String(Character(scalar)).utf8))
            }
            position = semicolon + 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private func fail(_ problem: String, at offset: Int? = nil) -> XMLError {
        XMLError(problem: problem, offset: offset ?? index)
    }
}

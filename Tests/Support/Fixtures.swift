import Foundation

/// The files under `Tests/Fixtures` (their sources and licences are in its PROVENANCE.md):
/// bank statements as banks wrote them and gateway webhook bodies, read by the tests from the
/// repository itself.
public enum Fixtures {
    /// `Tests/Fixtures`, found from this source file's place in the checkout.
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The path of bank statement file `name`.
    public static func bank(_ name: String) -> String { root.appendingPathComponent("bank/\(name)").path }

    /// The path of gateway event `name`.
    public static func gateway(_ name: String) -> String { root.appendingPathComponent("gateway/\(name)").path }

    /// The bytes of `path`.
    public static func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Every gateway event's file name.
    public static func gatewayEvents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("gateway").path)
            .filter { $0.hasSuffix(".json") }.sorted()
    }
}

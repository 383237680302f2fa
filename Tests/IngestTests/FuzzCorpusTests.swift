import BillingFuzz
import Foundation
import Testing

/// Every input fuzzing kept (`Tests/Fuzz/<target>/corpus`) and every input that once crashed a
/// target (`Tests/Fuzz/<target>/crashers`) goes through its target again: a trap fails the run.
@Suite("fuzz corpora replayed")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz").path

    @Test("every target has a corpus, and every kept input and crasher goes through without a trap", arguments: FuzzTargets.names)
    func replay(target: String) throws {
        let corpus = FuzzCorpus.files(at: "\(Self.root)/\(target)/corpus")
        #expect(!corpus.isEmpty, "no corpus for \(target)")
        for file in corpus + FuzzCorpus.files(at: "\(Self.root)/\(target)/crashers") {
            FuzzTargets.run(target, FuzzCorpus.read(file))
        }
    }
}

import BillingFuzz

#if canImport(Glibc)
    import Glibc
#endif

// Built with `-sanitize=fuzzer -DFUZZING` (see Deploy/local/fuzz), libFuzzer drives the target
// named by BILLING_FUZZ_TARGET; built plainly, `billing-fuzz TARGET FILE|DIRECTORY…` replays inputs
// (a crasher reproduces as a crash, with its stack).

/// The target named by `BILLING_FUZZ_TARGET`, checked once.
let fuzzTarget: String = {
    let name = getenv("BILLING_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard FuzzTargets.names.contains(name) else {
        let text = "billing-fuzz: set BILLING_FUZZ_TARGET to one of \(FuzzTargets.names.joined(separator: ", "))\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        exit(2)
    }
    return name
}()

#if FUZZING
    /// libFuzzer's driver, run from this executable's entry point (SwiftPM names an executable's
    /// `main` after its module, so libFuzzer's own `main` is not the one linked).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("billing_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        _ = fuzzTarget
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
            FuzzTargets.run(fuzzTarget, data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        }
    }
#else
    @main
    struct Replay {
        static func main() {
            let arguments = Array(CommandLine.arguments.dropFirst())
            guard let target = arguments.first, FuzzTargets.names.contains(target) else {
                print(
                    """
                    usage: billing-fuzz TARGET FILE|DIRECTORY…
                    Replays inputs through a fuzz target (\(FuzzTargets.names.joined(separator: ", "))); a crash
                    reproduces as a crash. To fuzz, use Deploy/local/fuzz.
                    """)
                exit(arguments.contains("--help") || arguments.contains("-h") ? 0 : 2)
            }
            var count = 0
            for path in arguments.dropFirst() {
                for file in FuzzCorpus.files(at: path) {
                    FuzzTargets.run(target, FuzzCorpus.read(file))
                    count += 1
                }
            }
            print("billing-fuzz: \(count) inputs through \(target), none crashed")
        }
    }
#endif

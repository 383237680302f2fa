import BillingContracts
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("the money path under faults")
    struct MoneyPath {
        struct Report: Decodable {
            struct Check: Decodable {
                let check: String
                let ok: Bool
                let detail: String
            }
            let ok: Bool
            let uniquePayments: Int
            let unidentified: Int
            let duplicates: Int
            let kills: [String: Int]
            let faultLog: [String]
            let checks: [Check]
        }

        /// The money-path generator with faults, smaller than the benchmark's run: statements stream
        /// through payment-ingest and the allocator while workers are SIGKILLed and restarted, the
        /// broker goes down and PostgreSQL restarts. Every count and `billing-ctl verify` must hold.
        /// Each worker runs two loops. The seed is random unless `BILLING_FAULT_SEED` names one,
        /// and printed for a replay.
        @Test(
            "statement stream with kills, a broker outage and a PostgreSQL restart: every payment once, verify passes",
            .timeLimit(.minutes(10)))
        func faultRun() throws {
            let stack = try TestStack.fromEnvironment()
            let seed =
                ProcessEnvironment.current().optional("BILLING_FAULT_SEED").flatMap { Int($0) }
                ?? Int.random(in: 1...999_999_999)
            print(
                "money path fault run: seed \(seed) (replay: BILLING_FAULT_SEED=\(seed), or money-bench --faults --seed \(seed) with the sizes below)"
            )
            let result = try runProcess(
                "\(stack.binDirectory)/money-bench",
                [
                    "--faults", "--seed", "\(seed)", "--accounts", "300", "--payments", "12000", "--lines-per-file",
                    "1000", "--kill-every-ms", "3000", "--json",
                ],
                // Two loops in each worker, as ops scale them: files on one bank account are imported
                // side by side, and lines repeated across them must still book once.
                environment: ["WORKER_CONCURRENCY": "2"])
            let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
            guard let start = lines.lastIndex(where: { $0.hasPrefix("{") }) else {
                Issue.record("money-bench printed no report (exit \(result.status)):\n\(result.output)")
                return
            }
            let report = try ContractJSON.decoder().decode(
                Report.self, from: Data(lines[start...].joined(separator: "\n").utf8))
            print(lines[..<start].filter { $0.contains("fault:") }.joined(separator: "\n"))
            #expect(report.checks.count == 10, "every check of the run was reported: \(report.checks.map(\.check))")
            #expect(report.checks.contains { $0.check == "billing-ctl verify" })
            for check in report.checks {
                #expect(check.ok, "seed \(seed): \(check.check): \(check.detail)")
            }
            #expect(result.status == 0 && report.ok, "seed \(seed): exit \(result.status)")
            #expect(report.kills.values.reduce(0, +) >= 2, "seed \(seed): workers were killed: \(report.kills)")
            #expect(report.faultLog.contains { $0.contains("brokers down") }, "the broker went down")
            #expect(report.faultLog.contains { $0.contains("PostgreSQL stopped") }, "PostgreSQL restarted")
            #expect(report.unidentified > 0 && report.duplicates > 0, "the stream had both kinds of awkward line")
        }
    }
}

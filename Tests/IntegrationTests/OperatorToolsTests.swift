import BillingContracts
import BillingSchema
import Foundation
import Testing

extension Integration {
    @Suite("operator tools")
    struct OperatorTools {
        @Test("the stack's broker has every contract topic, for billing-ctl and for kcat; psql reaches the database")
        func topicsAndClients() throws {
            let stack = try TestStack.fromEnvironment()
            let check = try runProcess(
                "\(stack.binDirectory)/billing-ctl", ["topics", "--check", "--json"], environment: [:])
            #expect(check.status == 0, "\(check.output)")
            let rows = try JSONDecoder().decode([[String: AnyCodable]].self, from: Data(check.output.utf8))
            #expect(rows.count == Topics.all.count)

            let kcat = try runProcess("/usr/bin/kcat", ["-b", stack.bootstrapServers, "-L"], environment: [:])
            #expect(kcat.status == 0)
            for topic in Topics.all {
                #expect(
                    kcat.output.contains("topic \"\(topic.name)\" with \(topic.partitionCount) partitions"),
                    "kcat lists \(topic.name)")
            }
            let psql = try runProcess(
                "/usr/bin/psql", [stack.ownerURL, "-Atc", "SELECT max(version) FROM schema_migrations"],
                environment: [:])
            #expect(psql.status == 0)
            #expect(psql.output.trimmingCharacters(in: .whitespacesAndNewlines) == String(SchemaMigrations.latest))
        }

        @Test("billing-ctl exit codes: 0 done, 2 usage, 3 infrastructure unavailable; --help everywhere")
        func exitCodes() throws {
            let stack = try TestStack.fromEnvironment()
            let ctl = "\(stack.binDirectory)/billing-ctl"
            #expect(try runProcess(ctl, ["topics"], environment: [:]).status == 0)
            let usage = try runProcess(ctl, ["dead-letters", "list", "--limit", "0"], environment: [:])
            #expect(usage.status == 2)
            #expect(usage.output.contains("--limit must be between 1 and 10000"))
            #expect(try runProcess(ctl, ["no-such-command"], environment: [:]).status == 2)
            let down = try runProcess(
                ctl, ["dead-letters", "list"],
                environment: ["DATABASE_URL": "postgresql://billing_owner@127.0.0.1:1/none"])
            #expect(down.status == 3)
            #expect(down.output.hasPrefix("unavailable:"))
            for command in [
                [], ["migrate"], ["topics"], ["dead-letters"], ["dead-letters", "list"], ["dead-letters", "show"],
            ] {
                let help = try runProcess(ctl, command + ["--help"], environment: [:])
                #expect(help.status == 0, "billing-ctl \(command.joined(separator: " ")) --help")
                #expect(help.output.contains("USAGE:"))
            }
            let missingID = try runProcess(ctl, ["dead-letters", "show", "nowhere-1"], environment: [:])
            #expect(missingID.status == 2)
        }

        @Test("dev-kafka takes fault-injection commands while running and refuses malformed ones")
        func devKafkaControl() throws {
            let stack = try TestStack.fromEnvironment()
            #expect(try stack.devKafka("status").contains("down=none"))
            #expect(throws: HarnessError.self) { try stack.devKafka("broker-down 7") }
            #expect(throws: HarnessError.self) { try stack.devKafka("frobnicate") }
            let ctl = try runProcess(
                "\(stack.binDirectory)/dev-kafka", ["ctl", "--port", String(stack.controlPort), "rtt", "all", "0"],
                environment: [:])
            #expect(ctl.status == 0)
            #expect(ctl.output.hasPrefix("ok"))
        }
    }
}

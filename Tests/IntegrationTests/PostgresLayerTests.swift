import BillingPostgres
import BillingSchema
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("PostgreSQL layer")
    struct PostgresLayer {
        @Test("values travel as parameters: quotes and SQL in a value are only data")
        func parameters() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            try connection.query("CREATE TABLE t (id bigint, note text, data bytea)")
            let hostile = "x'); DROP TABLE t; --"
            let bytes: [UInt8] = [0, 1, 2, 255, 39, 92]
            try connection.query("INSERT INTO t VALUES ($1, $2, $3)", [Int64.max, hostile, bytes])
            let rows = try connection.query("SELECT id, note, data FROM t")
            #expect(try rows[0].int64("id") == Int64.max)
            #expect(try rows[0].string("note") == hostile)
            #expect(try rows[0].bytes("data") == bytes)
            let arrays = try connection.query(
                "SELECT count(*) AS n, string_agg(v, '|' ORDER BY v) AS joined FROM unnest($1::text[]) AS v",
                [PGArray.strings(["a\"b", "c\\d", "{e,f}", "NULL"])])
            #expect(try arrays[0].int("n") == 4)
            #expect(try arrays[0].string("joined") == "NULL|a\"b|c\\d|{e,f}")
            let blobs = try connection.query(
                "SELECT n, v FROM unnest($1::bytea[]) WITH ORDINALITY AS u(v, n) ORDER BY n",
                [PGArray.byteStrings([bytes, nil, [], Array(repeating: 7, count: 300)])])
            #expect(blobs.count == 4)
            #expect(try blobs[0].bytes("v") == bytes)
            #expect(try blobs[1].optionalBytes("v") == nil)
            #expect(try blobs[2].bytes("v") == [])
            #expect(try blobs[3].bytes("v") == Array(repeating: 7, count: 300))
            let none = try connection.query(
                "SELECT count(*) AS n FROM unnest($1::bytea[])", [PGArray.byteStrings([[UInt8]?]())])
            #expect(try none[0].int("n") == 0)
        }

        @Test("a pipeline runs many statements in one round trip and reports the first error with its SQLSTATE")
        func pipeline() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            try connection.query("CREATE TABLE p (id int PRIMARY KEY)")
            let inserts = (1...500).map { PGStatement("INSERT INTO p VALUES ($1)", [$0]) }
            let results = try connection.pipeline(inserts + [PGStatement("SELECT count(*) FROM p")])
            #expect(results.count == 501)
            #expect(try results[500][0].int(0) == 500)

            do {
                try connection.transaction { transaction in
                    try transaction.pipeline([
                        PGStatement("INSERT INTO p VALUES ($1)", [1000]),
                        PGStatement("INSERT INTO p VALUES ($1)", [1]),
                        PGStatement("INSERT INTO p VALUES ($1)", [1001]),
                    ])
                }
                Issue.record("a duplicate key must fail")
            } catch let error as PGError {
                #expect(error.sqlState == "23505")
                #expect(error.isUniqueViolation)
                #expect(error.constraint == "p_pkey")
            }
            #expect(
                try connection.query("SELECT count(*) FROM p")[0].int(0) == 500, "the failed transaction left nothing")
            #expect(!connection.isInTransaction)
        }

        @Test("a prepared statement is parsed once per session, survives a pipeline that failed before it, and is prepared afresh after the table under it changed")
        func preparedStatements() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            try connection.query("CREATE TABLE q (id int PRIMARY KEY, note text)")
            let insert = "INSERT INTO q SELECT * FROM unnest($1::int[], $2::text[])"
            let select = "SELECT id, note FROM q WHERE id = ANY($1::int[]) ORDER BY id"
            func sessionStatements() throws -> [String] {
                try connection.query("SELECT statement FROM pg_prepared_statements ORDER BY statement").values
                    .compactMap { $0[0] }
            }

            // Alone and in pipelines, several times with other values: one server-side statement each.
            try connection.run(PGStatement(insert, [PGArray.integers([1, 2]), PGArray.strings(["a", "b"])], prepared: true))
            for round in 0..<7 {
                let base = 10 + round * 10
                let results = try connection.pipeline([
                    PGStatement(insert, [PGArray.integers([base, base + 1]), PGArray.strings(["x", nil])], prepared: true),
                    PGStatement(select, [PGArray.integers([1, base + 1])], prepared: true),
                ])
                #expect(results[1].count == 2)
                #expect(try results[1][1].int("id") == base + 1)
                #expect(results[1][1].optionalString(1) == nil)
            }
            #expect(try sessionStatements() == [insert, select])
            #expect(try connection.query("SELECT count(*) FROM q")[0].int(0) == 16)

            // An error before a statement's first use makes the server skip its Parse: the next use
            // must prepare it, not execute a name that does not exist.
            let count = "SELECT count(*) FROM q WHERE note = $1"
            do {
                try connection.pipeline([
                    PGStatement("INSERT INTO q VALUES ($1, $2)", [1, "dup"]),
                    PGStatement(count, ["x"], prepared: true),
                ])
                Issue.record("a duplicate key must fail")
            } catch let error as PGError {
                #expect(error.sqlState == "23505")
            }
            #expect(try connection.run(PGStatement(count, ["x"], prepared: true))[0].int(0) == 7)

            // The table changes under the prepared SELECT: the server refuses it once (its result
            // type changed), then the statement is prepared again and runs.
            let star = "SELECT * FROM q WHERE id = ANY($1::int[])"
            _ = try connection.run(PGStatement(star, [PGArray.integers([1])], prepared: true))
            try connection.query("ALTER TABLE q ADD COLUMN later int DEFAULT 5")
            do {
                _ = try connection.run(PGStatement(star, [PGArray.integers([1])], prepared: true))
                Issue.record("a changed result type must be refused once")
            } catch let error as PGError {
                #expect(error.sqlState == "0A000")
            }
            let again = try connection.run(PGStatement(star, [PGArray.integers([1])], prepared: true))
            #expect(try again[0].int("later") == 5)
        }

        @Test("a serialization failure is retried until the transaction commits")
        func serializationRetry() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let setup = try database.connect()
            defer { setup.close() }
            try setup.query("CREATE TABLE counter (n int)")
            try setup.query("INSERT INTO counter VALUES (0)")
            let client = PGClient(conninfo: database.ownerURL, applicationName: "tests")
            let rival = try database.connect()
            defer { rival.close() }
            var attempts = 0
            try client.transaction(isolation: .serializable) { connection in
                attempts += 1
                _ = try connection.query("SELECT n FROM counter")
                if attempts == 1 {
                    // Another session commits a conflicting change after our snapshot was taken.
                    try rival.query("UPDATE counter SET n = n + 10")
                }
                try connection.query("UPDATE counter SET n = n + 1")
            }
            #expect(attempts == 2)
            #expect(try setup.query("SELECT n FROM counter")[0].int(0) == 11)
        }

        @Test("a connection whose backend dies is detected as broken, and the client reconnects with backoff")
        func reconnect() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let client = PGClient(
                conninfo: database.ownerURL, applicationName: "tests",
                reconnectBackoff: Backoff(initialMs: 200, maxMs: 400))
            let first = try client.connection()
            let pid = first.backendPID
            let admin = try database.connect()
            defer { admin.close() }
            try admin.query("SELECT pg_terminate_backend($1)", [pid])
            #expect(throws: PGError.self) { try first.query("SELECT 1") }
            #expect(first.isBroken)
            let second = try client.connection()
            #expect(second.backendPID != pid)
            #expect(try second.query("SELECT 1 AS one")[0].int("one") == 1)

            // Against a port nobody listens on, attempts are spaced by the backoff, never a busy loop.
            let nowhere = PGClient(
                conninfo: "postgresql://billing_owner@127.0.0.1:1/none", applicationName: "tests",
                reconnectBackoff: Backoff(initialMs: 200, maxMs: 400))
            let started = monotonicMs()
            for _ in 0..<4 { _ = try? nowhere.connection() }
            #expect(monotonicMs() - started >= 300, "three waits of at least 100 ms each")
        }

        @Test("migrations applied by several processes at once are applied once")
        func concurrentMigrations() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.createEmpty(stack)
            defer { database.drop() }
            let results = Locked<[Int32]>([])
            let threads = (0..<4).map { index in
                DedicatedThread.start(name: "migrate-\(index)") {
                    let result = try? runProcess(
                        "\(stack.binDirectory)/billing-ctl", ["migrate", "--json"],
                        environment: ["DATABASE_URL": database.ownerURL])
                    results.withLock { $0.append(result?.status ?? -1) }
                }
            }
            for thread in threads { #expect(thread.join(timeoutMs: 60_000)) }
            #expect(results.current == [0, 0, 0, 0])
            #expect(try database.scalar("SELECT count(*) FROM schema_migrations") == Int64(SchemaMigrations.all.count))
        }

        @Test("outbox rows written before migration 11 become rows of one event each; unsent ones stay unsent")
        func outboxRowsMigrated() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.createEmpty(stack)
            defer { database.drop() }
            let owner = try database.connect()
            defer { owner.close() }
            _ = try Migrator(migrations: SchemaMigrations.all.filter { $0.version < 11 }).migrate(owner)
            try owner.query(
                """
                INSERT INTO ledger.outbox (topic, message_key, headers, payload, event_id, sent_at)
                VALUES ('billing.ledger.events', 'A-1', '\\x00', 'sent', 'e-1', now()),
                       ('billing.ledger.events', NULL, '\\x01', 'unsent', 'e-2', NULL)
                """)
            _ = try Migrator().migrate(owner)
            let rows = try owner.query(
                """
                SELECT m.id, o.message_count, m.position, m.topic, m.message_key, m.headers, m.payload, m.event_id,
                       m.sent_at IS NULL AS unsent
                FROM ledger.outbox_messages AS m JOIN ledger.outbox AS o USING (id) ORDER BY m.id
                """)
            #expect(rows.count == 2)
            #expect(try rows.rows.map { try $0.int("message_count") } == [1, 1])
            #expect(try rows.rows.map { try $0.int("position") } == [1, 1])
            #expect(try rows.rows.map { try $0.string("topic") } == ["billing.ledger.events", "billing.ledger.events"])
            #expect(try rows.rows.map { try $0.optionalBytes("message_key") } == [Array("A-1".utf8), nil])
            #expect(try rows.rows.map { try $0.bytes("headers") } == [[0], [1]])
            #expect(try rows.rows.map { try $0.bytes("payload") } == [Array("sent".utf8), Array("unsent".utf8)])
            #expect(try rows.rows.map { try $0.string("event_id") } == ["e-1", "e-2"])
            #expect(try rows.rows.map { try $0.bool("unsent") } == [false, true])
            // Arrays of different lengths are refused: every event has its topic, key, headers and payload.
            do {
                try owner.query(
                    """
                    INSERT INTO ledger.outbox (topics, message_keys, headers, payloads, event_ids)
                    VALUES ('{a,b}', '{NULL}', '{"\\\\x00"}', '{"\\\\x00"}', '{e}')
                    """)
                Issue.record("an outbox row with arrays of different lengths was accepted")
            } catch let error as PGError {
                #expect(error.sqlState == "23514", "refused by outbox_arrays_match: \(error)")
            }
        }

        @Test("each service role reaches only its own schema")
        func leastPrivilege() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let allocator = try database.connect(role: "billing_allocator")
            defer { allocator.close() }
            #expect(try allocator.query("SELECT count(*) FROM ledger.outbox")[0].int(0) == 0)
            #expect(try allocator.query("SELECT count(*) FROM ledger.outbox_messages")[0].int(0) == 0)
            for forbidden in [
                "SELECT 1 FROM ingest.outbox", "SELECT 1 FROM ingest.outbox_messages", "SELECT 1 FROM probe.applied",
                "CREATE TABLE ledger.x (a int)",
                "DELETE FROM ledger.dead_letters", "CREATE SCHEMA intruder",
            ] {
                do {
                    try allocator.query(forbidden)
                    Issue.record("billing_allocator could run: \(forbidden)")
                } catch let error as PGError {
                    #expect(error.sqlState == "42501", "\(forbidden): \(error)")
                }
            }
            let operatorRole = try database.connect(role: "billing_operator")
            defer { operatorRole.close() }
            #expect(try operatorRole.query("SELECT count(*) FROM ledger.dead_letters")[0].int(0) == 0)
            #expect(throws: PGError.self) { try operatorRole.query("INSERT INTO ledger.inbox VALUES ('x', 't', 0, 0)") }
        }
    }
}

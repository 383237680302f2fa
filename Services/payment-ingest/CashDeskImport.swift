import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials

/// Cash desks inside the ingest batch: shifts opened with a float, payments taken during a shift
/// (published as payments on the desk's cash channel), shifts closed with the cash counted.
extension IngestBatch {
    struct DeskState {
        let currency: Currency
        var isNew: Bool
    }

    struct ShiftState {
        let id: String
        let desk: String
        let floatMinor: Int64
        var takenMinor: Int64
        var payments: Int
        let openedBy: String
        let openedAt: String?
        var isNew: Bool
        var closedBy: String?
        var countedMinor: Int64?
        var changed = false
    }

    struct DeskPaymentRow {
        let paymentID: String
        let shiftID: String
        let account: String
        let amountMinor: Int64
        let currency: String
        let reference: String?
        let takenBy: String
    }

    func loadDesks(_ commands: [(id: String, type: String, command: CashDeskCommand)]) throws {
        let desks = Set(commands.map(\.command.desk)).sorted()
        let results = try context.connection.pipeline([
            // Each desk's lock first, in order, until COMMIT: a shift's totals are read and then
            // written whole, so two loops or replicas (fed by any partitioner) must not interleave
            // on one desk. Everything below is read once the locks are held.
            PGStatement(
                """
                SELECT pg_advisory_xact_lock(hashtextextended('billing.ingest.cash-desk:' || desk, 0))
                FROM unnest($1::text[]) AS desk
                """, [PGArray.strings(desks)]),
            CommandOutcomes.lookup(table: "ingest.command_outcomes", commands.map(\.id)),
            PGStatement(
                "SELECT desk_id, currency FROM ingest.cash_desks WHERE desk_id = ANY($1::text[])",
                [PGArray.strings(desks)]),
            PGStatement(
                """
                SELECT shift_id, desk_id, float_minor, taken_minor, payments, opened_by, opened_at::text
                FROM ingest.cash_shifts WHERE desk_id = ANY($1::text[]) AND closed_at IS NULL
                """, [PGArray.strings(desks)]),
        ])
        finishedCommands = Set(results[1].values.compactMap { $0[0] })
        for row in results[2].rows {
            deskStates[try row.string(0)] = DeskState(currency: try Currency(code: try row.string(1)), isNew: false)
        }
        for row in results[3].rows {
            openShifts[try row.string(1)] = ShiftState(
                id: try row.string(0), desk: try row.string(1), floatMinor: try row.int64(2),
                takenMinor: try row.int64(3),
                payments: try row.int(4), openedBy: try row.string(5), openedAt: row.optionalString(6), isNew: false
            )
        }
    }

    func runDeskCommand(id: String, type: String, _ command: CashDeskCommand) {
        guard finishedCommands.insert(id).inserted else { return }
        var result: [String: String] = [:]
        var account: String?
        do {
            switch type {
            case CashDeskTypes.openShift: result = try openShift(id, command)
            case CashDeskTypes.payment:
                account = command.account
                result = try deskPayment(id, command)
            default: result = try closeShift(command)
            }
            deskOutcomes.append(
                (
                    CommandOutcome(commandId: id, commandType: type, account: account, status: "done", result: result),
                    command.origin.requestedBy
                ))
        } catch let refusal as Refusal {
            deskOutcomes.append(
                (
                    CommandOutcome(
                        commandId: id, commandType: type, account: account, status: "refused", reasonCode: refusal.code,
                        reason: refusal.reason), command.origin.requestedBy
                ))
        } catch {
            deskOutcomes.append(
                (
                    CommandOutcome(
                        commandId: id, commandType: type, account: account, status: "refused",
                        reasonCode: "invalid_command",
                        reason: "\(error)"), command.origin.requestedBy
                ))
        }
    }

    private func money(_ text: String?, _ what: String, _ currency: Currency, positive: Bool) throws -> Int64 {
        guard let text else { throw Refusal(code: "invalid_command", reason: "\(what) is missing") }
        let minor: Int64
        do {
            minor = try Money.parse(text, currency: currency).minor
        } catch {
            throw Refusal(code: error.code, reason: "\(what): \(error.description)")
        }
        guard positive ? minor > 0 : minor >= 0 else {
            throw Refusal(
                code: "invalid_amount", reason: "\(what) \(text) must be \(positive ? "above" : "at least") zero")
        }
        return minor
    }

    private func openShift(_ id: String, _ command: CashDeskCommand) throws -> [String: String] {
        guard (1...40).contains(command.desk.count),
            command.desk.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        else {
            throw Refusal(
                code: "invalid_desk", reason: "desk id '\(command.desk)' must be 1 to 40 letters, digits, '_', '.', '-'"
            )
        }
        var desk = deskStates[command.desk]
        if let code = command.currency {
            guard let currency = try? Currency(code: code) else {
                throw Refusal(code: "unknown_currency", reason: "'\(code)' is not an ISO 4217 currency")
            }
            if let existing = desk, existing.currency != currency {
                throw Refusal(
                    code: "currency_mismatch",
                    reason: "desk \(command.desk) keeps \(existing.currency.code), not \(code)")
            }
            if desk == nil { desk = DeskState(currency: currency, isNew: true) }
        }
        guard let desk else {
            throw Refusal(code: "unknown_desk", reason: "desk \(command.desk) is new: give its currency")
        }
        if let open = openShifts[command.desk] {
            throw Refusal(
                code: "shift_open",
                reason: "desk \(command.desk) already has shift \(open.id) open (opened by \(open.openedBy))")
        }
        deskStates[command.desk] = desk
        let float = try money(command.float ?? "0", "the float", desk.currency, positive: false)
        let shift = ShiftState(
            id: "SH-\(id)", desk: command.desk, floatMinor: float, takenMinor: 0, payments: 0,
            openedBy: command.origin.requestedBy, openedAt: nil, isNew: true)
        openShifts[command.desk] = shift
        return [
            "shift_id": shift.id, "desk": command.desk, "float_minor": String(float), "currency": desk.currency.code,
        ]
    }

    private func deskPayment(_ id: String, _ command: CashDeskCommand) throws -> [String: String] {
        guard var shift = openShifts[command.desk], let desk = deskStates[command.desk] else {
            throw Refusal(code: "no_open_shift", reason: "desk \(command.desk) has no open shift")
        }
        guard let number = command.account, let account = directory.accounts[number] else {
            throw Refusal(
                code: "unknown_account", reason: "account \(command.account ?? "(none)") is not known here")
        }
        guard !account.isTerminated else {
            throw Refusal(code: "account_terminated", reason: "account \(number) is terminated")
        }
        guard account.currency == desk.currency.code else {
            throw Refusal(
                code: "currency_mismatch",
                reason: "desk \(command.desk) takes \(desk.currency.code), account \(number) is in \(account.currency)")
        }
        let amount = try money(command.amount, "the amount", desk.currency, positive: true)
        let paymentID = "DESK-\(id)"
        shift.takenMinor += amount
        shift.payments += 1
        shift.changed = true
        openShifts[command.desk] = shift
        deskPayments.append(
            DeskPaymentRow(
                paymentID: paymentID, shiftID: shift.id, account: number, amountMinor: amount,
                currency: desk.currency.code, reference: command.reference, takenBy: command.origin.requestedBy))
        let today = LocalDate(daysSinceEpoch: Int(wallClockMs() / 86_400_000)).description
        publishReceived(
            .identified(account: number, rule: "cash-desk", evidence: command.desk),
            Received(
                paymentID: paymentID, amountMinor: amount, currency: desk.currency.code,
                channel: "desk:\(command.desk)",
                receivedOn: today, reference: command.reference))
        return ["payment_id": paymentID, "shift_id": shift.id, "amount_minor": String(amount)]
    }

    private func closeShift(_ command: CashDeskCommand) throws -> [String: String] {
        guard var shift = openShifts[command.desk], let desk = deskStates[command.desk] else {
            throw Refusal(code: "no_open_shift", reason: "desk \(command.desk) has no open shift")
        }
        let counted = try money(command.counted, "the cash counted", desk.currency, positive: false)
        shift.countedMinor = counted
        shift.closedBy = command.origin.requestedBy
        shift.changed = true
        openShifts[command.desk] = nil
        closedShifts.append(shift)
        let expected = shift.floatMinor + shift.takenMinor
        return [
            "shift_id": shift.id, "expected_minor": String(expected), "counted_minor": String(counted),
            "difference_minor": String(counted - expected), "payments": String(shift.payments),
            "currency": desk.currency.code,
        ]
    }

    func persistDesks() {
        let newDesks = deskStates.filter(\.value.isNew).sorted { $0.key < $1.key }
        if !newDesks.isEmpty {
            context.deferStatement(
                PGStatement(
                    "INSERT INTO ingest.cash_desks (desk_id, currency) SELECT * FROM unnest($1::text[], $2::text[])",
                    [PGArray.strings(newDesks.map(\.key)), PGArray.strings(newDesks.map(\.value.currency.code))]))
        }
        let shifts = (Array(openShifts.values) + closedShifts).filter { $0.isNew || $0.changed }
        // Earlier shifts are updated first (closing one), then shifts opened in this batch are written
        // in their final state, closed ones first: no desk ever has two open shifts, even for a moment.
        let changed = shifts.filter { $0.changed && !$0.isNew }
        if !changed.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    UPDATE ingest.cash_shifts AS s SET taken_minor = v.taken, payments = v.payments,
                        closed_by = v.closed_by, counted_minor = v.counted,
                        closed_at = CASE WHEN v.counted IS NULL THEN NULL ELSE now() END,
                        difference_minor = v.counted - s.float_minor - v.taken
                    FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::text[], $5::bigint[])
                        AS v(id, taken, payments, closed_by, counted)
                    WHERE s.shift_id = v.id
                    """,
                    [
                        PGArray.strings(changed.map(\.id)), PGArray.integers(changed.map(\.takenMinor)),
                        PGArray.integers(changed.map(\.payments)), PGArray.strings(changed.map(\.closedBy)),
                        PGArray.strings(changed.map { $0.countedMinor.map(String.init) }),
                    ]))
        }
        let created = shifts.filter(\.isNew)
        if !created.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.cash_shifts (shift_id, desk_id, opened_by, float_minor, taken_minor, payments,
                        closed_by, closed_at, counted_minor, difference_minor)
                    SELECT v.id, v.desk, v.opened_by, v.float, v.taken, v.payments, v.closed_by,
                        CASE WHEN v.counted IS NULL THEN NULL ELSE now() END, v.counted, v.counted - v.float - v.taken
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::integer[],
                        $7::text[], $8::bigint[]) AS v(id, desk, opened_by, float, taken, payments, closed_by, counted)
                    ORDER BY v.counted IS NULL
                    """,
                    [
                        PGArray.strings(created.map(\.id)), PGArray.strings(created.map(\.desk)),
                        PGArray.strings(created.map(\.openedBy)), PGArray.integers(created.map(\.floatMinor)),
                        PGArray.integers(created.map(\.takenMinor)), PGArray.integers(created.map(\.payments)),
                        PGArray.strings(created.map(\.closedBy)),
                        PGArray.strings(created.map { $0.countedMinor.map(String.init) }),
                    ]))
        }
        if !deskPayments.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.desk_payments (payment_id, shift_id, account_number, amount_minor, currency,
                        reference, taken_by)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                        $7::text[])
                    """,
                    [
                        PGArray.strings(deskPayments.map(\.paymentID)), PGArray.strings(deskPayments.map(\.shiftID)),
                        PGArray.strings(deskPayments.map(\.account)), PGArray.integers(deskPayments.map(\.amountMinor)),
                        PGArray.strings(deskPayments.map(\.currency)), PGArray.strings(deskPayments.map(\.reference)),
                        PGArray.strings(deskPayments.map(\.takenBy)),
                    ]))
        }
        if !deskOutcomes.isEmpty {
            context.deferStatement(CommandOutcomes.insert(table: "ingest.command_outcomes", deskOutcomes, context: context))
            for (outcome, _) in deskOutcomes {
                publish(Topics.commandOutcomes.name, key: outcome.commandId, type: LedgerTypes.commandOutcome, outcome)
            }
        }
    }
}

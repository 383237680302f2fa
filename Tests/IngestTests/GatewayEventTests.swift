import BillingIngest
import BillingTestSupport
import Foundation
import Testing

@Suite("gateway events to movements")
struct GatewayEventTests {
    func event(_ file: String) throws -> GatewayEvent {
        try GatewayEvent.parse(try Fixtures.bytes(Fixtures.gateway(file)))
    }

    @Test("a succeeded payment intent is a payment of the amount received, on the event's day")
    func paymentIntent() throws {
        let succeeded = try event("billing-stripe-payment_intent.succeeded.json")
        #expect(succeeded.id == "evt_1BillingTestPI0001")
        let movements = try GatewayEventMapper.movements(succeeded, accountKeys: ["customer_ref"])
        guard case .payment(let id, let amount, let currency, let day, let clues) = movements.first else {
            Issue.record("not a payment: \(movements)")
            return
        }
        // created 1774952102 is 2026-03-31T10:15:02Z.
        #expect(id == "GW-pi_1BillingTestPI0001" && amount == 12_990 && currency == "EUR" && day == "2026-03-31")
        #expect(
            clues.statedAccount == "A-1001",
            "the configured metadata key names the account")
    }

    @Test("a dispute with funds withdrawn is a chargeback of the payment, with its fee; an inquiry moves nothing")
    func disputes() throws {
        let withdrawn = try GatewayEventMapper.movements(
            try event("billing-stripe-charge.dispute.created-withdrawn.json"), accountKeys: [])
        #expect(
            withdrawn == [
                .reversal(
                    reversalID: "GW-DW-dp_1BillingTestDP0001", paymentID: "GW-pi_1BillingTestPI0001",
                    amountMinor: 12_990, currency: "EUR", on: "2026-04-02", reason: "chargeback: fraudulent"),
                .fee(amountMinor: 1_500, currency: "EUR"),
            ])
        let inquiry = try GatewayEventMapper.movements(
            try event("billing-stripe-charge.dispute.created-inquiry.json"), accountKeys: [])
        guard case .nothing(let why) = inquiry.first, inquiry.count == 1 else {
            Issue.record("an inquiry must move nothing: \(inquiry)")
            return
        }
        #expect(why.contains("no money"))
    }

    @Test("a refund through the gateway reverses the charge's payment; the old array form is read")
    func refund() throws {
        let refunded = try event("stripe-mock-data-2015-charge.refunded.json")
        #expect(refunded.type == "charge.refunded")
        #expect(
            try GatewayEventMapper.movements(refunded, accountKeys: []) == [
                .reversal(
                    reversalID: "GW-re_00000000000000", paymentID: "GW-ch_00000000000000", amountMinor: 212,
                    currency: "USD", on: "2015-10-05", reason: "refund")
            ])
    }

    @Test("malformed events, unknown currencies and non-positive amounts are refused")
    func refusals() {
        #expect(throws: StatementFileError.self) { try GatewayEvent.parse(Array("{\"id\": 1}".utf8)) }
        let body =
            #"{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1","object":"payment_intent","amount_received":0,"currency":"xxx"}}}"#
        #expect(throws: StatementFileError.self) {
            try GatewayEventMapper.movements(try GatewayEvent.parse(Array(body.utf8)), accountKeys: [])
        }
    }
}

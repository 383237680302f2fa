import BillingContracts
import FoundationEssentials
import Testing

@Suite("payments read by the flat JSON fast path")
struct FlatJSONTests {
    /// What `JSONDecoder` (the contract decoder every worker used before) reads from `bytes`, or nil.
    static func standard(_ bytes: [UInt8]) -> PaymentIdentified? {
        try? ContractJSON.decoder().decode(PaymentIdentified.self, from: Data(bytes))
    }

    @Test("payments as the project writes them read the same by the fast path as by JSONDecoder")
    func generated() throws {
        let plain = ["", "A-1001", "INV-2026-000001", "Zoë Müller", "日本語の名前", "💶 paid", "a/b", "x y\u{7f}"]
        let escaped = ["say \"hi\"", "back\\slash", "line\nbreak", "tab\tstop", "bell\u{07}"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        func text(_ allowEscapes: Bool) -> String {
            let pool = allowEscapes && next(4) == 0 ? escaped : plain
            return pool[next(pool.count)]
        }
        var fastCount = 0
        for round in 0..<2_000 {
            let escapes = round % 3 == 0
            let amounts: [Int64] = [0, 1, 4_620, -17, Int64.max, Int64.min, Int64(next(1_000_000))]
            let payment = PaymentIdentified(
                paymentId: "pay-\(round)-" + text(escapes), account: text(escapes),
                amountMinor: amounts[next(amounts.count)], currency: ["EUR", "BYN", "JPY"][next(3)],
                channel: "bank:" + text(escapes), receivedOn: "2026-06-01",
                reference: next(2) == 0 ? nil : text(escapes),
                namedItems: next(3) == 0 ? nil : (0..<next(4)).map { _ in text(escapes) },
                payerName: next(2) == 0 ? nil : text(escapes))
            let bytes = ContractJSON.encode(payment)
            #expect(Self.standard(bytes) == payment, "JSONDecoder reads back what was written")
            let fast = PaymentIdentified(flatJSON: bytes)
            if let fast {
                fastCount += 1
                #expect(fast == payment)
            } else {
                #expect(bytes.contains(UInt8(ascii: "\\")), "only escapes send a written payment to JSONDecoder")
            }
        }
        #expect(fastCount > 1_000)
    }

    @Test("other spellings, numbers JSON writes otherwise and malformed bodies go to JSONDecoder")
    func declined() {
        let base =
            #""account":"A-1","amount_minor":4620,"channel":"bank:X","currency":"EUR","payment_id":"p1","received_on":"2026-06-01""#
        let declined = [
            #"{"paymentId":"p1","account":"A-1","amount_minor":1,"channel":"c","currency":"EUR","received_on":"d"}"#,
            "{\(base),\"unknown\":1}",
            "{\(base),\"payer_name\":{\"first\":\"A\"}}",
            "{\(base),\"reference\":\"r\",\"reference\":\"s\"}",
            "{\(base)} trailing",
            "{\(base),}",
            "[{\(base)}]",
            "{\(base),\"named_items\":[\"a\",null]}",
            "{\(base),\"payer_name\":true}",
            "{\(base),\"reference\":\"a\\u0041\"}",
            #"{"account":"A-1","amount_minor":1.0,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","amount_minor":1e2,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","amount_minor":-0,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","amount_minor":012,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","amount_minor":9223372036854775808,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","amount_minor":"12","channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","amount_minor":null,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            #"{"account":"A-1","channel":"c","currency":"EUR","payment_id":"p","received_on":"d"}"#,
            "",
            "{",
        ]
        for text in declined {
            #expect(PaymentIdentified(flatJSON: Array(text.utf8)) == nil, "declined: \(text)")
        }
        var invalidUTF8 = Array("{\(base),\"payer_name\":\"".utf8)
        invalidUTF8 += [0xC3, 0x28] + Array("\"}".utf8)
        #expect(PaymentIdentified(flatJSON: invalidUTF8) == nil)
        #expect(Self.standard(invalidUTF8) == nil, "JSONDecoder refuses it too")
    }

    @Test("white space, member order, nulls and the Int64 limits are read as JSONDecoder reads them")
    func accepted() throws {
        let accepted = [
            " {\n\t\"payment_id\" : \"p1\" , \"account\":\"A-1\",\r\n \"amount_minor\": -9223372036854775808,"
                + " \"currency\":\"EUR\", \"channel\":\"bank:X\", \"received_on\":\"2026-06-01\" } \n",
            #"{"received_on":"2026-06-01","channel":"c","currency":"EUR","amount_minor":9223372036854775807,"account":"Ä-1","payment_id":"p"}"#,
            #"{"account":"A-1","amount_minor":0,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d","reference":null,"named_items":null,"payer_name":null}"#,
            #"{"account":"A-1","amount_minor":5,"channel":"c","currency":"EUR","payment_id":"p","received_on":"d","named_items":[ ],"reference":"/x/"}"#,
        ]
        for text in accepted {
            let bytes = Array(text.utf8)
            let fast = try #require(PaymentIdentified(flatJSON: bytes), "accepted: \(text)")
            #expect(fast == Self.standard(bytes))
        }
    }
}

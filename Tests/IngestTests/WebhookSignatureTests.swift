import BillingIngest
import BillingTestSupport
import Foundation
import Testing

@Suite("SHA-256, HMAC (swift-crypto) and webhook signatures")
struct WebhookSignatureTests {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("SHA-256 test vectors (FIPS 180-4 examples)")
    func sha256() {
        #expect(
            hex(Digests.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Digests.sha256([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            hex(Digests.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            hex(Digests.sha256([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("HMAC-SHA256 test vectors (RFC 4231 cases 1, 2 and 6)")
    func hmac() {
        #expect(
            hex(Digests.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(
            hex(Digests.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            hex(
                Digests.hmacSHA256(
                    key: [UInt8](repeating: 0xaa, count: 131),
                    message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }


    @Test(
        "every gateway fixture verifies under a signature computed here, and fails with one byte changed",
        arguments: [
            "billing-stripe-payment_intent.succeeded.json", "billing-stripe-charge.dispute.created-withdrawn.json",
            "billing-stripe-charge.dispute.created-inquiry.json", "stripe-mock-data-2015-charge.refunded.json",
        ])
    func fixtures(_ file: String) throws {
        let body = try Fixtures.bytes(Fixtures.gateway(file))
        let secret = "whsec_test_\(file.count)"
        let now: Int64 = 1_795_400_000
        let header = WebhookSignatureVerifier.header(secret: secret, body: body, timestamp: now - 10)
        let verifier = WebhookSignatureVerifier(secrets: ["whsec_old", secret])
        #expect(try verifier.verify(header: header, body: body, nowSeconds: now) == now - 10)
        for position in [0, body.count / 2, body.count - 1] {
            var tampered = body
            tampered[position] ^= 0x01
            #expect(throws: WebhookSignatureVerifier.Failure.mismatch) {
                try verifier.verify(header: header, body: tampered, nowSeconds: now)
            }
        }
    }

    @Test("missing, malformed, expired, future and wrong-secret signatures are refused; any v1 of several passes")
    func refusals() throws {
        let body = Array(#"{"id":"evt_1"}"#.utf8)
        let verifier = WebhookSignatureVerifier(secrets: ["whsec_a"], toleranceSeconds: 300)
        let now: Int64 = 1_700_000_000
        #expect(throws: WebhookSignatureVerifier.Failure.missing) {
            try verifier.verify(header: nil, body: body, nowSeconds: now)
        }
        #expect(throws: WebhookSignatureVerifier.Failure.self) {
            try verifier.verify(header: "t=abc,v1=00", body: body, nowSeconds: now)
        }
        let old = WebhookSignatureVerifier.header(secret: "whsec_a", body: body, timestamp: now - 301)
        #expect(throws: WebhookSignatureVerifier.Failure.expired(timestamp: now - 301, now: now, tolerance: 300)) {
            try verifier.verify(header: old, body: body, nowSeconds: now)
        }
        let future = WebhookSignatureVerifier.header(secret: "whsec_a", body: body, timestamp: now + 301)
        #expect(throws: WebhookSignatureVerifier.Failure.self) {
            try verifier.verify(header: future, body: body, nowSeconds: now)
        }
        let other = WebhookSignatureVerifier.header(secret: "whsec_b", body: body, timestamp: now)
        #expect(throws: WebhookSignatureVerifier.Failure.mismatch) {
            try verifier.verify(header: other, body: body, nowSeconds: now)
        }
        let good = WebhookSignatureVerifier.header(secret: "whsec_a", body: body, timestamp: now)
        let wrongFirst = other + "," + good.split(separator: ",")[1]
        #expect(try verifier.verify(header: wrongFirst, body: body, nowSeconds: now) == now)
    }
}

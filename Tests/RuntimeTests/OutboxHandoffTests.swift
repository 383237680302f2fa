import BillingKafka
import BillingRuntime
import Glibc
import Testing

@Suite("outbox handoff from the loops to the relay")
struct OutboxHandoffTests {
    static func row(_ id: Int64, events: Int) -> OutboxHandoff.Row {
        OutboxHandoff.Row(
            id: id,
            messages: (0..<events).map { KafkaOutgoingMessage(topic: "t", key: nil, value: [UInt8(truncatingIfNeeded: $0)]) })
    }

    static func readable(_ descriptor: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) == 1
    }

    @Test("rows are kept only while the relay holds the lock, and closing forgets them")
    func onlyWhileOpen() {
        let handoff = OutboxHandoff(token: "me", eventCapacity: 100)
        handoff.offer(Self.row(1, events: 2))
        #expect(handoff.take(messageBudget: 100).rows.isEmpty, "offered before open: left to the table")
        handoff.open()
        handoff.offer(Self.row(2, events: 2))
        #expect(Self.readable(handoff.wakeDescriptor), "an offer wakes the relay")
        handoff.close()
        #expect(handoff.take(messageBudget: 100).rows.isEmpty, "closing drops what waited")
        #expect(!Self.readable(handoff.wakeDescriptor), "taking clears the wake-up")
    }

    @Test("rows come out in offer order, whole, within the budget (at least one), and the rest wait")
    func orderAndBudget() {
        let handoff = OutboxHandoff(token: "me", eventCapacity: 100)
        handoff.open()
        for id in 1...4 { handoff.offer(Self.row(Int64(id), events: 3)) }
        let first = handoff.take(messageBudget: 7)
        #expect(first.rows.map(\.id) == [1, 2])
        #expect(first.more)
        #expect(Self.readable(handoff.wakeDescriptor), "rows left keep the relay awake")
        let second = handoff.take(messageBudget: 1)
        #expect(second.rows.map(\.id) == [3], "one row even over the budget")
        let third = handoff.take(messageBudget: 100)
        #expect(third.rows.map(\.id) == [4])
        #expect(!third.more)
    }

    @Test("past its capacity a row waits by id only, in its place, and capacity frees as rows are taken")
    func spillsPastCapacity() {
        let handoff = OutboxHandoff(token: "me", eventCapacity: 5)
        handoff.open()
        handoff.offer(Self.row(1, events: 3))
        handoff.offer(Self.row(2, events: 3))  // 3 held < 5: kept
        handoff.offer(Self.row(3, events: 3))  // 6 held: by id
        handoff.offer(Self.row(4, events: 1))
        #expect(handoff.smallestWaitingID() == 1)
        let taken = handoff.take(messageBudget: 100).rows
        #expect(handoff.smallestWaitingID() == nil)
        #expect(taken.map(\.id) == [1, 2, 3, 4])
        #expect(taken.map { $0.messages != nil } == [true, true, false, false])
        #expect(taken.map(\.messageCount) == [3, 3, 3, 1])
        handoff.offer(Self.row(5, events: 3))
        #expect(handoff.take(messageBudget: 100).rows.first?.messages?.count == 3, "room again once taken")
        // Two loops' rows can arrive out of id order: the smallest id waiting, not the first.
        handoff.offer(Self.row(9, events: 1))
        handoff.offer(Self.row(7, events: 1))
        #expect(handoff.smallestWaitingID() == 7)
    }

    @Test("large values spill too: the bytes held are bounded as well as the events")
    func spillsPastByteCapacity() {
        let handoff = OutboxHandoff(token: "me", eventCapacity: 100, byteCapacity: 1_000)
        handoff.open()
        let large = KafkaOutgoingMessage(topic: "t", key: [1, 2], value: [UInt8](repeating: 7, count: 998))
        handoff.offer(OutboxHandoff.Row(id: 1, messages: [large]))  // 1,000 bytes held
        handoff.offer(OutboxHandoff.Row(id: 2, messages: [large]))
        let taken = handoff.take(messageBudget: 100).rows
        #expect(taken.map { $0.messages != nil } == [true, false])
        #expect(taken.map(\.byteCount) == [1_000, 1_000])
    }
}

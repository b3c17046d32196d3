// The one file that calls protobuf-c and the code protoc-c generated from proto/agentcost/v1/agentcost.proto.
//
// Unpacking allocates from an arena instead of malloc: protobuf-c asks for one allocation per message and per
// string (some three thousand for a batch of a thousand spend events); the arena serves them from one or two blocks
// and frees them all at once when the batch is released. That is what lets the Swift decoder keep up with, and
// beat, a bare C loop using protobuf-c's default allocator.
import CAgentCostProto
import CProtobufC

// MARK: - Decoded batch

/// A batch frame unpacked in place: the server's fast view of a batch.
///
/// It owns the unpacked protobuf-c message and the memory it lives in, both released when the last reference to
/// the batch (or to one of its events) goes away. It is a collection of `EventView`s in batch order; reading an
/// event's numbers costs no allocation, and its strings are made only when asked for. Immutable, so it may be read
/// from any thread.
public final class DecodedBatch: RandomAccessCollection, @unchecked Sendable {
    /// The sender's identity for exactly-once delivery.
    public let producerID: String
    /// The batch's sequence number within its producer.
    public let sequence: UInt64
    public let startIndex = 0
    public let endIndex: Int

    private let arena: Arena
    private let events: UnsafeMutablePointer<UnsafeMutablePointer<Agentcost__V1__Event>?>?

    fileprivate init(message: UnsafeMutablePointer<Agentcost__V1__Batch>, arena: Arena) {
        self.arena = arena
        producerID = makeString(message.pointee.producer_id)
        sequence = message.pointee.sequence
        endIndex = message.pointee.n_events
        events = message.pointee.events
    }

    /// The event at `position`, from 0.
    public subscript(position: Int) -> EventView {
        precondition(position >= startIndex && position < endIndex, "event index \(position) out of range")
        // protobuf-c fills every element of a repeated message field it unpacked.
        return EventView(batch: self, message: UnsafePointer(events.unsafelyUnwrapped[position].unsafelyUnwrapped))
    }
}

/// One event of a `DecodedBatch`, read in place. Keeps its batch alive.
public struct EventView: @unchecked Sendable {
    // Points into the batch's arena, which is never written after unpacking and lives as long as `batch`.
    private let batch: DecodedBatch
    private let message: UnsafePointer<Agentcost__V1__Event>

    fileprivate init(batch: DecodedBatch, message: UnsafePointer<Agentcost__V1__Event>) {
        self.batch = batch
        self.message = message
    }

    /// When the event happened, in nanoseconds since the Unix epoch.
    public var timeUnixNano: Int64 { message.pointee.time_unix_nano }

    /// The event's kind, or `nil` when the producer set none (or one this build does not know).
    public var kind: Event.Kind? {
        switch message.pointee.kind_case {
        case AGENTCOST__V1__EVENT__KIND_CYCLE_START: .cycleStart
        case AGENTCOST__V1__EVENT__KIND_SPEND: .spend
        case AGENTCOST__V1__EVENT__KIND_CYCLE_END: .cycleEnd
        case AGENTCOST__V1__EVENT__KIND_SET_BUDGET: .setBudget
        case AGENTCOST__V1__EVENT__KIND_RESUME: .resume
        case AGENTCOST__V1__EVENT__KIND_CREATE_GOAL: .createGoal
        default: nil
        }
    }

    /// The agent the event is about; empty for `createGoal` and for events without a kind.
    public var agentID: String {
        let event = message.pointee
        switch event.kind_case {
        case AGENTCOST__V1__EVENT__KIND_CYCLE_START: return makeString(event.cycle_start?.pointee.agent_id)
        case AGENTCOST__V1__EVENT__KIND_SPEND: return makeString(event.spend?.pointee.agent_id)
        case AGENTCOST__V1__EVENT__KIND_CYCLE_END: return makeString(event.cycle_end?.pointee.agent_id)
        case AGENTCOST__V1__EVENT__KIND_SET_BUDGET: return makeString(event.set_budget?.pointee.agent_id)
        case AGENTCOST__V1__EVENT__KIND_RESUME: return makeString(event.resume?.pointee.agent_id)
        default: return ""
        }
    }

    /// The event's kind with its fields as Swift values, or `nil` when the producer set no kind.
    public var payload: Event.Payload? {
        let event = message.pointee
        switch event.kind_case {
        case AGENTCOST__V1__EVENT__KIND_CYCLE_START:
            guard let fields = event.cycle_start?.pointee else { return nil }
            return .cycleStart(CycleStart(agentID: makeString(fields.agent_id)))
        case AGENTCOST__V1__EVENT__KIND_SPEND:
            guard let fields = event.spend?.pointee else { return nil }
            return .spend(
                Spend(
                    agentID: makeString(fields.agent_id), costUSD: fields.cost_usd, goalID: makeString(fields.goal_id),
                    model: makeString(fields.model), inputTokens: fields.input_tokens,
                    outputTokens: fields.output_tokens))
        case AGENTCOST__V1__EVENT__KIND_CYCLE_END:
            guard let fields = event.cycle_end?.pointee else { return nil }
            return .cycleEnd(CycleEnd(agentID: makeString(fields.agent_id)))
        case AGENTCOST__V1__EVENT__KIND_SET_BUDGET:
            guard let fields = event.set_budget?.pointee else { return nil }
            return .setBudget(
                SetBudget(
                    agentID: makeString(fields.agent_id), budgetUSD: fields.budget_usd,
                    period: BudgetPeriod(rawValue: Int32(truncatingIfNeeded: fields.period.rawValue)),
                    warningRatio: fields.warning_ratio, clear: fields.clear != 0))
        case AGENTCOST__V1__EVENT__KIND_RESUME:
            guard let fields = event.resume?.pointee else { return nil }
            return .resume(Resume(agentID: makeString(fields.agent_id), force: fields.force != 0))
        case AGENTCOST__V1__EVENT__KIND_CREATE_GOAL:
            guard let fields = event.create_goal?.pointee else { return nil }
            return .createGoal(
                CreateGoal(
                    goalID: makeString(fields.goal_id), name: makeString(fields.name), budgetUSD: fields.budget_usd,
                    parentID: makeString(fields.parent_id)))
        default:
            return nil
        }
    }

    /// The whole event as a Swift value, or `nil` when the producer set no kind.
    public var event: Event? {
        payload.map { Event(timeUnixNano: timeUnixNano, $0) }
    }
}

// MARK: - Packing and unpacking

/// Encoding and decoding of the agentcost.v1 messages with protobuf-c.
enum ProtobufC {
    static func unpackBatch(_ bytes: ArraySlice<UInt8>, limits: WireLimits) throws(WireError) -> DecodedBatch {
        let arena = Arena(expectedSize: bytes.count * 4, limit: limits.maxDecodedSize)
        let message = withBytes(bytes) { count, data in
            arena.withAllocator { agentcost__v1__batch__unpack($0, count, data) }
        }
        guard let message else {
            throw unpackError(arena: arena, byteCount: bytes.count, messageName: "Batch", limits: limits)
        }
        return DecodedBatch(message: message, arena: arena)
    }

    static func unpackAck(_ bytes: ArraySlice<UInt8>, limits: WireLimits) throws(WireError) -> Ack {
        let arena = Arena(expectedSize: bytes.count * 4, limit: limits.maxDecodedSize)
        let message = withBytes(bytes) { count, data in
            arena.withAllocator { agentcost__v1__ack__unpack($0, count, data) }
        }
        guard let ack = message?.pointee else {
            throw unpackError(arena: arena, byteCount: bytes.count, messageName: "Ack", limits: limits)
        }
        var rejections: [Ack.Rejection] = []
        for index in 0..<ack.n_rejections {
            guard let rejection = ack.rejections?[index]?.pointee else { continue }
            rejections.append(Ack.Rejection(index: rejection.index, reason: makeString(rejection.reason)))
        }
        var pausedAgents: [String] = []
        for index in 0..<ack.n_paused_agents {
            pausedAgents.append(makeString(ack.paused_agents?[index]))
        }
        return Ack(
            sequence: ack.sequence, status: Ack.Status(rawValue: Int32(truncatingIfNeeded: ack.status.rawValue)),
            applied: ack.applied, rejected: ack.rejected, rejections: rejections, pausedAgents: pausedAgents,
            message: makeString(ack.message))
    }

    static func unpackHello(_ bytes: ArraySlice<UInt8>, limits: WireLimits) throws(WireError) -> Hello {
        let arena = Arena(expectedSize: bytes.count * 4, limit: limits.maxDecodedSize)
        let message = withBytes(bytes) { count, data in
            arena.withAllocator { agentcost__v1__hello__unpack($0, count, data) }
        }
        guard let hello = message?.pointee else {
            throw unpackError(arena: arena, byteCount: bytes.count, messageName: "Hello", limits: limits)
        }
        return Hello(
            token: makeString(hello.token), producerID: makeString(hello.producer_id),
            clientVersion: makeString(hello.client_version))
    }

    static func pack(_ batch: Batch) throws(WireError) -> [UInt8] {
        let arena = Arena(expectedSize: 256 + batch.events.count * 256, limit: .max)
        let message = try arena.make(Agentcost__V1__Batch.self)
        agentcost__v1__batch__init(message)
        message.pointee.producer_id = try arena.cString(batch.producerID, field: "producer_id")
        message.pointee.sequence = batch.sequence
        let events = try arena.make(UnsafeMutablePointer<Agentcost__V1__Event>?.self, count: batch.events.count)
        for (index, event) in batch.events.enumerated() {
            events[index] = try makeEvent(event, index: index, in: arena)
        }
        message.pointee.n_events = batch.events.count
        message.pointee.events = events

        var bytes = [UInt8](repeating: 0, count: agentcost__v1__batch__get_packed_size(message))
        bytes.withUnsafeMutableBufferPointer { _ = agentcost__v1__batch__pack(message, $0.baseAddress) }
        return bytes
    }

    static func pack(_ ack: Ack) throws(WireError) -> [UInt8] {
        let arena = Arena(expectedSize: 256 + ack.rejections.count * 64 + ack.pausedAgents.count * 32, limit: .max)
        let message = try arena.make(Agentcost__V1__Ack.self)
        agentcost__v1__ack__init(message)
        message.pointee.sequence = ack.sequence
        message.pointee.status = Agentcost__V1__Ack__Status(
            rawValue: Agentcost__V1__Ack__Status.RawValue(truncatingIfNeeded: ack.status.rawValue))
        message.pointee.applied = ack.applied
        message.pointee.rejected = ack.rejected
        let rejections = try arena.make(
            UnsafeMutablePointer<Agentcost__V1__Ack__Rejection>?.self, count: ack.rejections.count)
        for (index, rejection) in ack.rejections.enumerated() {
            let fields = try arena.make(Agentcost__V1__Ack__Rejection.self)
            agentcost__v1__ack__rejection__init(fields)
            fields.pointee.index = rejection.index
            fields.pointee.reason = try arena.cString(rejection.reason, field: "rejections[\(index)].reason")
            rejections[index] = fields
        }
        message.pointee.n_rejections = ack.rejections.count
        message.pointee.rejections = rejections
        let pausedAgents = try arena.make(UnsafeMutablePointer<CChar>?.self, count: ack.pausedAgents.count)
        for (index, agent) in ack.pausedAgents.enumerated() {
            pausedAgents[index] = try arena.cString(agent, field: "paused_agents[\(index)]")
        }
        message.pointee.n_paused_agents = ack.pausedAgents.count
        message.pointee.paused_agents = pausedAgents
        message.pointee.message = try arena.cString(ack.message, field: "message")

        var bytes = [UInt8](repeating: 0, count: agentcost__v1__ack__get_packed_size(message))
        bytes.withUnsafeMutableBufferPointer { _ = agentcost__v1__ack__pack(message, $0.baseAddress) }
        return bytes
    }

    static func pack(_ hello: Hello) throws(WireError) -> [UInt8] {
        let arena = Arena(expectedSize: 1024, limit: .max)
        let message = try arena.make(Agentcost__V1__Hello.self)
        agentcost__v1__hello__init(message)
        message.pointee.token = try arena.cString(hello.token, field: "token")
        message.pointee.producer_id = try arena.cString(hello.producerID, field: "producer_id")
        message.pointee.client_version = try arena.cString(hello.clientVersion, field: "client_version")

        var bytes = [UInt8](repeating: 0, count: agentcost__v1__hello__get_packed_size(message))
        bytes.withUnsafeMutableBufferPointer { _ = agentcost__v1__hello__pack(message, $0.baseAddress) }
        return bytes
    }

    private static func makeEvent(
        _ event: Event, index: Int, in arena: Arena
    ) throws(WireError) -> UnsafeMutablePointer<Agentcost__V1__Event> {
        let message = try arena.make(Agentcost__V1__Event.self)
        agentcost__v1__event__init(message)
        message.pointee.time_unix_nano = event.timeUnixNano
        let field = "events[\(index)]"
        switch event.payload {
        case .cycleStart(let cycleStart):
            let fields = try arena.make(Agentcost__V1__CycleStart.self)
            agentcost__v1__cycle_start__init(fields)
            fields.pointee.agent_id = try arena.cString(cycleStart.agentID, field: field + ".agent_id")
            message.pointee.kind_case = AGENTCOST__V1__EVENT__KIND_CYCLE_START
            message.pointee.cycle_start = fields
        case .spend(let spend):
            let fields = try arena.make(Agentcost__V1__Spend.self)
            agentcost__v1__spend__init(fields)
            fields.pointee.agent_id = try arena.cString(spend.agentID, field: field + ".agent_id")
            fields.pointee.cost_usd = spend.costUSD
            fields.pointee.goal_id = try arena.cString(spend.goalID, field: field + ".goal_id")
            fields.pointee.model = try arena.cString(spend.model, field: field + ".model")
            fields.pointee.input_tokens = spend.inputTokens
            fields.pointee.output_tokens = spend.outputTokens
            message.pointee.kind_case = AGENTCOST__V1__EVENT__KIND_SPEND
            message.pointee.spend = fields
        case .cycleEnd(let cycleEnd):
            let fields = try arena.make(Agentcost__V1__CycleEnd.self)
            agentcost__v1__cycle_end__init(fields)
            fields.pointee.agent_id = try arena.cString(cycleEnd.agentID, field: field + ".agent_id")
            message.pointee.kind_case = AGENTCOST__V1__EVENT__KIND_CYCLE_END
            message.pointee.cycle_end = fields
        case .setBudget(let setBudget):
            let fields = try arena.make(Agentcost__V1__SetBudget.self)
            agentcost__v1__set_budget__init(fields)
            fields.pointee.agent_id = try arena.cString(setBudget.agentID, field: field + ".agent_id")
            fields.pointee.budget_usd = setBudget.budgetUSD
            fields.pointee.period = Agentcost__V1__BudgetPeriod(
                rawValue: Agentcost__V1__BudgetPeriod.RawValue(truncatingIfNeeded: setBudget.period.rawValue))
            fields.pointee.warning_ratio = setBudget.warningRatio
            fields.pointee.clear = setBudget.clear ? 1 : 0
            message.pointee.kind_case = AGENTCOST__V1__EVENT__KIND_SET_BUDGET
            message.pointee.set_budget = fields
        case .resume(let resume):
            let fields = try arena.make(Agentcost__V1__Resume.self)
            agentcost__v1__resume__init(fields)
            fields.pointee.agent_id = try arena.cString(resume.agentID, field: field + ".agent_id")
            fields.pointee.force = resume.force ? 1 : 0
            message.pointee.kind_case = AGENTCOST__V1__EVENT__KIND_RESUME
            message.pointee.resume = fields
        case .createGoal(let createGoal):
            let fields = try arena.make(Agentcost__V1__CreateGoal.self)
            agentcost__v1__create_goal__init(fields)
            fields.pointee.goal_id = try arena.cString(createGoal.goalID, field: field + ".goal_id")
            fields.pointee.name = try arena.cString(createGoal.name, field: field + ".name")
            fields.pointee.budget_usd = createGoal.budgetUSD
            fields.pointee.parent_id = try arena.cString(createGoal.parentID, field: field + ".parent_id")
            message.pointee.kind_case = AGENTCOST__V1__EVENT__KIND_CREATE_GOAL
            message.pointee.create_goal = fields
        }
        return message
    }

    /// Calls `body` with the byte count and a pointer to the bytes, never null (protobuf-c is given a valid
    /// pointer even for an empty message).
    private static func withBytes<Result>(
        _ bytes: ArraySlice<UInt8>, _ body: (Int, UnsafePointer<UInt8>) -> Result
    ) -> Result {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                var empty: UInt8 = 0
                return body(0, &empty)
            }
            return body(buffer.count, base)
        }
    }

    private static func unpackError(
        arena: Arena, byteCount: Int, messageName: String, limits: WireLimits
    ) -> WireError {
        if arena.exceededLimit {
            return WireError(
                .decodedTooLarge,
                "unpacking a \(byteCount)-byte \(messageName) needs more than the maximum decoded size of "
                    + "\(limits.maxDecodedSize) bytes; send smaller batches or raise the limit")
        }
        return WireError(
            .invalidProtobuf,
            "payload of \(byteCount) bytes is not a valid agentcost.v1.\(messageName) protobuf message; "
                + "encode it from proto/agentcost/v1/agentcost.proto")
    }
}

/// A C string's contents as a Swift string; invalid UTF-8 is repaired, a null pointer reads as empty.
package func makeString(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer, pointer.pointee != 0 else { return "" }
    return String(cString: pointer)
}

package func makeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    makeString(UnsafePointer(pointer))
}

// MARK: - Arena

/// The arena's bookkeeping, reachable from the C allocator callbacks through `allocator_data`.
private struct ArenaState {
    /// The current block; its first word points to the previous block, forming a list freed at the end.
    var block: UnsafeMutableRawPointer?
    var used: Int
    var capacity: Int
    var nextBlockSize: Int
    var totalSize: Int
    var limit: Int
    var exceededLimit: Bool
}

private let arenaAlignment = 16
private let arenaBlockHeader = 16

private func arenaAllocate(_ data: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
    guard let state = data?.assumingMemoryBound(to: ArenaState.self) else { return nil }
    let rounded = (size + arenaAlignment - 1) & ~(arenaAlignment - 1)
    if state.pointee.block == nil || state.pointee.used + rounded > state.pointee.capacity {
        // A new block, at least twice the last one so that the block count stays logarithmic.
        let blockSize = max(state.pointee.nextBlockSize, arenaBlockHeader + rounded)
        guard state.pointee.totalSize + blockSize <= state.pointee.limit else {
            state.pointee.exceededLimit = true
            return nil
        }
        let block = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: arenaAlignment)
        block.storeBytes(of: state.pointee.block, as: UnsafeMutableRawPointer?.self)
        state.pointee.block = block
        state.pointee.used = arenaBlockHeader
        state.pointee.capacity = blockSize
        state.pointee.totalSize += blockSize
        state.pointee.nextBlockSize = blockSize * 2
    }
    guard let block = state.pointee.block else { return nil }
    let pointer = block + state.pointee.used
    state.pointee.used += rounded
    return pointer
}

private func arenaFree(_ data: UnsafeMutableRawPointer?, _ pointer: UnsafeMutableRawPointer?) {
    // Everything is freed at once when the arena goes away.
}

/// Bump allocation for protobuf-c: many small allocations served from a few blocks, all freed together. Shared
/// with the storage module's snapshot codec (`package`), the other place protobuf-c messages are built.
package final class Arena {
    private let state: UnsafeMutablePointer<ArenaState>

    /// - Parameters:
    ///   - expectedSize: the size of the first block, so that most messages need only one.
    ///   - limit: the most bytes all blocks together may take; past it allocations fail.
    package init(expectedSize: Int, limit: Int) {
        state = UnsafeMutablePointer<ArenaState>.allocate(capacity: 1)
        let firstBlock = min(max(expectedSize, 1024) + arenaBlockHeader, max(limit, arenaBlockHeader))
        state.initialize(
            to: ArenaState(
                block: nil, used: 0, capacity: 0, nextBlockSize: firstBlock, totalSize: 0, limit: limit,
                exceededLimit: false))
    }

    deinit {
        var block = state.pointee.block
        while let current = block {
            block = current.load(as: UnsafeMutableRawPointer?.self)
            current.deallocate()
        }
        state.deinitialize(count: 1)
        state.deallocate()
    }

    package var exceededLimit: Bool { state.pointee.exceededLimit }

    package func withAllocator<Result>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) -> Result) -> Result {
        var allocator = ProtobufCAllocator(
            alloc: arenaAllocate, free: arenaFree, allocator_data: UnsafeMutableRawPointer(state))
        return body(&allocator)
    }

    package func make<Value>(_: Value.Type, count: Int = 1) throws(WireError) -> UnsafeMutablePointer<Value> {
        guard let raw = arenaAllocate(UnsafeMutableRawPointer(state), max(1, count) * MemoryLayout<Value>.stride) else {
            throw WireError(.internalFailure, "out of memory while encoding a message")
        }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, count) * MemoryLayout<Value>.stride)
        return raw.bindMemory(to: Value.self, capacity: max(1, count))
    }

    /// A NUL-terminated copy of `string` in the arena.
    package func cString(_ string: String, field: String) throws(WireError) -> UnsafeMutablePointer<CChar> {
        let utf8 = string.utf8
        guard !utf8.contains(0) else {
            throw WireError(
                .encodingFailed,
                "field \(field) contains a NUL byte, which protobuf-c strings cannot carry; remove it")
        }
        let pointer = try make(CChar.self, count: utf8.count + 1)
        let buffer = UnsafeMutableRawBufferPointer(start: pointer, count: utf8.count + 1)
        buffer.copyBytes(from: utf8)
        buffer[utf8.count] = 0
        return pointer
    }
}

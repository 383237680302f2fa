#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One accepted connection of a `TCPServer`. Reads and writes time out after the server's bound.
public struct TCPConnection: Sendable {
    public let descriptor: Int32

    /// Reads until `terminator` (included) appears, the peer closes, or `byteCountMax` is reached.
    public func read(until terminator: [UInt8], byteCountMax: Int) -> [UInt8]? {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while received.count < byteCountMax {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            received.append(contentsOf: chunk[0..<count])
            if let range = received.firstRange(of: terminator) {
                return Array(received[..<range.upperBound])
            }
        }
        return received.isEmpty ? nil : received
    }

    public func write(_ text: String) { write(Array(text.utf8)) }

    public func write(_ bytes: [UInt8]) {
        var offset = 0
        bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0, errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// A small TCP server on a loopback address, serving one connection at a time on a dedicated thread.
///
/// Meant for low-traffic endpoints (health, metrics, fault-injection commands): every read and
/// write is bounded by `ioTimeoutMs`, so a silent client cannot hold it.
public final class TCPServer: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let ioTimeoutMs: Int
    private let stopped = Locked(false)

    /// Binds `host:port` (port 0 picks a free one; see `port`).
    public init(host: String = "127.0.0.1", port: Int, ioTimeoutMs: Int = 2_000) throws {
        self.ioTimeoutMs = ioTimeoutMs
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw ServerError.socket("socket", errno) }
        var reuse: Int32 = 1
        setsockopt(socketDescriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(socketDescriptor)
            throw ServerError.address(host)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(socketDescriptor)
            throw ServerError.socket("bind \(host):\(port)", code)
        }
        guard listen(socketDescriptor, 16) == 0 else {
            let code = errno
            close(socketDescriptor)
            throw ServerError.socket("listen", code)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketDescriptor, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listener = socketDescriptor
    }

    /// Serves connections on a dedicated thread until `stop()`; `handler` must return promptly.
    public func start(name: String, handler: @escaping @Sendable (TCPConnection) -> Void) {
        let listener = self.listener
        let timeoutMs = ioTimeoutMs
        DedicatedThread.start(name: name) { [self] in
            while !stopped.current {
                var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 200) > 0 else { continue }
                let client = accept(listener, nil, nil)
                if client < 0 { continue }
                var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                handler(TCPConnection(descriptor: client))
                close(client)
            }
            close(listener)
        }
    }

    public func stop() { stopped.withLock { $0 = true } }

    public enum ServerError: Error, CustomStringConvertible {
        case socket(String, Int32)
        case address(String)

        public var description: String {
            switch self {
            case .socket(let what, let code): return "\(what) failed: \(String(cString: strerror(code)))"
            case .address(let host): return "'\(host)' is not an IPv4 address"
            }
        }
    }
}

/// Connects to `host:port` (an IPv4 or IPv6 address, or a name) with send and receive bounded by
/// `timeoutMs`; the descriptor, which the caller closes, or nil when nothing accepts.
public func tcpConnect(host: String = "127.0.0.1", port: Int, timeoutMs: Int = 5_000) -> Int32? {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var found: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return nil }
    defer { freeaddrinfo(first) }
    var candidate: UnsafeMutablePointer<addrinfo>? = first
    while let address = candidate {
        candidate = address.pointee.ai_next
        let descriptor = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard descriptor >= 0 else { continue }
        var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 { return descriptor }
        close(descriptor)
    }
    return nil
}

/// Connects to `host:port` and exchanges one request for the full response (until the peer closes).
public func tcpExchange(host: String = "127.0.0.1", port: Int, request: [UInt8], timeoutMs: Int = 5_000) -> [UInt8]? {
    guard let descriptor = tcpConnect(host: host, port: port, timeoutMs: timeoutMs) else { return nil }
    defer { close(descriptor) }
    let connection = TCPConnection(descriptor: descriptor)
    connection.write(request)
    shutdown(descriptor, Int32(SHUT_WR))
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        response.append(contentsOf: chunk[0..<count])
    }
    return response
}

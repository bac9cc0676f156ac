extension Handshake {
    /// Largest payload accepted before the peer has authenticated. The handshake's messages are
    /// a few hundred bytes of JSON; a stranger must not make us allocate more than this.
    public static let maxFramePayload: UInt64 = 4096

    /// Validates a header received before authentication: a score-cluster frame of one of the
    /// `allowed` types, at most `maxFramePayload` bytes long. Checked before anything is allocated.
    static func decodeUnauthenticatedHeader(_ bytes: UnsafeRawBufferPointer, allowed: Set<MessageType>,
                                            peer: String) throws(WireError) -> FrameHeader {
        let header = try FrameHeader.decode(bytes, maxPayload: .max)
        guard header.payloadLength <= maxFramePayload else {
            throw .frameTooLargeBeforeAuthentication(peer: peer, bytes: header.payloadLength, limit: maxFramePayload)
        }
        guard allowed.contains(header.type) else { throw .notAHandshakeFrame(peer: peer, type: header.type) }
        return header
    }
}

extension Connection {
    /// Receives one frame of the handshake: only the `allowed` types, only small ones
    /// (`Handshake.maxFramePayload`), and all of it by `deadline`.
    /// - Throws: `WireError.frameTooLargeBeforeAuthentication`, `.notAHandshakeFrame`,
    ///   `.handshakeTimedOut`, or what `receive()` throws.
    public func receiveHandshakeFrame(allowed: Set<MessageType>, deadline: HandshakeDeadline) throws -> Frame {
        try receive(deadline: deadline) { (bytes) throws(WireError) in
            try Handshake.decodeUnauthenticatedHeader(bytes, allowed: allowed, peer: peer)
        }
    }

    /// The coordinator's side of the handshake with the peer that connected: TLS when `tls` is
    /// given, then challenge-response (`CoordinatorHandshake`), all by `deadline`. A refused peer
    /// is told why when it can be and the connection is closed; the refusal's message is the line
    /// to log. Never throws and never waits past `deadline`.
    public func authenticateWorker(token: ClusterToken?, tls: TLSContext?, deadline: HandshakeDeadline) -> Handshake.Outcome {
        func refuse(_ code: Handshake.Refusal.Code, _ message: String) -> Handshake.Outcome {
            close()
            return .refused(Handshake.Refusal(code, message))
        }
        if let tls {
            // A TLS client speaks first; a worker without TLS waits for the challenge, so it is
            // told in plain words rather than left to time out.
            let wait = min(5000, deadline.millisecondsLeft())
            guard waitForPeer(milliseconds: wait) else {
                let reason = "this coordinator requires TLS: start the worker with --tls-ca FILE (the certificate or CA to trust)"
                try? send(.handshakeResult, HandshakeResult(accepted: false, reason: reason))
                let waited = wait % 1000 == 0 ? "\(wait / 1000) s" : "\(Double(wait) / 1000) s"
                return refuse(.tlsFailed, "refused \(peer): it did not start TLS within \(waited) (a worker without --tls-ca?)")
            }
            do { try startTLS(tls, deadline: deadline) } catch {
                return refuse(.tlsFailed, "refused \(peer): \(error) (a worker without --tls-ca, or not a worker)")
            }
        }
        var handshake = CoordinatorHandshake(token: token, peer: peer, peerIsLoopback: peerIsLoopback)
        var action = handshake.start()
        do {
            if case .sendChallenge(let challenge) = action {
                try send(.challenge, challenge)
                let answer = try receiveHandshakeFrame(allowed: [.challengeResponse], deadline: deadline)
                action = handshake.receive(try answer.decode(ChallengeResponse.self))
            }
        } catch let error as WireError {
            switch error {
            case .handshakeTimedOut(_, let allowed):
                return refuse(.timedOut, "refused \(peer): it did not finish the handshake within \(allowed)")
            case .frameTooLargeBeforeAuthentication(_, let bytes, let limit):
                return refuse(.frameTooLarge, "refused \(peer): it announced a frame of \(bytes) bytes before authenticating, "
                                              + "which exceeds the limit of \(limit) bytes until then")
            case .closed: return refuse(.connectionLost, "refused \(peer): it closed the connection during the handshake")
            case .notAHandshakeFrame(_, let type): action = handshake.receiveUnexpected("a \(type) frame")
            default: action = handshake.receiveUnexpected("\(error)")
            }
        } catch {
            action = handshake.receiveUnexpected("\(error)")
        }
        switch action {
        case .accept(let result):
            do { try send(.handshakeResult, result) } catch {
                return refuse(.connectionLost, "refused \(peer): cannot send the handshake's result: \(error)")
            }
            return .accepted
        case .refuse(let result, let refusal):
            try? send(.handshakeResult, result)
            close()
            return .refused(refusal)
        case .sendChallenge:
            return refuse(.unexpectedMessage, "refused \(peer): the handshake did not finish")
        }
    }

    /// The worker's side of the handshake with the coordinator it connected to (after TLS, when
    /// used): answers the challenge (`WorkerHandshake`) and checks the coordinator's proof, taking
    /// only small handshake frames until the coordinator has proved itself, all by `deadline`.
    /// - Throws: `WireError.unexpected` with the refusal's message when either side refuses the
    ///   other; `WireError.closed` when the coordinator hangs up first; other `WireError`s.
    public func authenticateCoordinator(token: ClusterToken?, loopbackMayOmitToken: Bool, deadline: HandshakeDeadline) throws {
        var handshake = WorkerHandshake(token: token, coordinator: peer, coordinatorIsLoopback: peerIsLoopback,
                                        loopbackMayOmitToken: loopbackMayOmitToken)
        let first = try receiveHandshakeFrame(allowed: [.challenge, .handshakeResult], deadline: deadline)
        if first.header.type == .handshakeResult {
            // A coordinator that refuses before challenging (no token for a remote worker, no TLS).
            guard let result = try? first.decode(HandshakeResult.self), !result.accepted else {
                throw WireError.unexpected("the coordinator sent a handshake result instead of a challenge")
            }
            throw WireError.unexpected("the coordinator refused this worker: \(result.reason ?? "no reason given")")
        }
        switch handshake.receive(try first.decode(Challenge.self)) {
        case .respond(let response): try send(.challengeResponse, response)
        case .refuse(let refusal): throw WireError.unexpected(refusal.message)
        case .accepted: break
        }
        let second = try receiveHandshakeFrame(allowed: [.handshakeResult], deadline: deadline)
        if case .refuse(let refusal) = handshake.receive(try second.decode(HandshakeResult.self)) {
            throw WireError.unexpected(refusal.message)
        }
    }
}

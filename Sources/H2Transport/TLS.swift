import CLibevent

#if canImport(Glibc)
import Glibc
#endif

/// TLS for a server: certificate chain and private key, PEM files. ALPN `h2` only.
public struct TLSServerConfiguration: Sendable {
    public var certificateChainFile: String
    public var privateKeyFile: String

    public init(certificateChainFile: String, privateKeyFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }
}

/// TLS for a client: which certificates to trust. ALPN `h2` only.
public struct TLSClientConfiguration: Sendable {
    /// PEM file of trusted CA certificates; nil uses the system's.
    public var trustRootsFile: String?
    /// Skip certificate verification (testing only).
    public var insecureSkipVerify: Bool
    /// The name to verify and send as SNI; defaults to the host connected to.
    public var serverName: String?

    public init(trustRootsFile: String? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil) {
        self.trustRootsFile = trustRootsFile
        self.insecureSkipVerify = insecureSkipVerify
        self.serverName = serverName
    }
}

/// OpenSSL contexts and TLS bufferevents.
enum TLS {
    private static let h2: [UInt8] = [2, UInt8(ascii: "h"), UInt8(ascii: "2")]

    /// The reasons of the OpenSSL error codes `next` yields until 0:
    /// "error:0A000086:SSL routines::certificate verify failed" -> "certificate verify failed".
    private static func reasons(_ next: () -> UInt) -> [String] {
        var reasons: [String] = []
        while true {
            let code = next()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(cChars: buffer)
            reasons.append(text.split(separator: ":").last.map(String.init) ?? text)
        }
        return reasons
    }

    /// The most recent OpenSSL error as one sentence, and clears the queue.
    static func lastError() -> String {
        let messages = reasons { ERR_get_error() }
        return messages.isEmpty ? "unknown TLS error" : messages.joined(separator: "; ")
    }

    /// `h2Only`: negotiate h2 by ALPN or refuse (the gRPC port); otherwise no
    /// ALPN, so clients speak HTTP/1.1 (the web listener).
    static func makeServerContext(_ configuration: TLSServerConfiguration, h2Only: Bool = true) throws -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TransportError.tls("cannot create a TLS context: \(lastError())")
        }
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        guard SSL_CTX_use_certificate_chain_file(context, configuration.certificateChainFile) == 1 else {
            SSL_CTX_free(context)
            throw TransportError.tls("cannot load the TLS certificate \(configuration.certificateChainFile): \(lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, configuration.privateKeyFile, SSL_FILETYPE_PEM) == 1,
            SSL_CTX_check_private_key(context) == 1
        else {
            SSL_CTX_free(context)
            throw TransportError.tls("cannot load the TLS key \(configuration.privateKeyFile): \(lastError())")
        }
        guard h2Only else { return context }
        SSL_CTX_set_alpn_select_cb(context, { _, out, outLength, input, inputLength, _ in
            // Pick h2 from the client's list, or refuse the handshake.
            var i = 0
            let length = Int(inputLength)
            while i < length {
                let entryLength = Int(input![i])
                if entryLength == 2 && i + 2 < length && input![i + 1] == UInt8(ascii: "h") && input![i + 2] == UInt8(ascii: "2") {
                    out!.pointee = UnsafePointer(input! + i + 1)
                    outLength!.pointee = 2
                    return SSL_TLSEXT_ERR_OK
                }
                i += 1 + entryLength
            }
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }, nil)
        return context
    }

    static func makeClientContext(_ configuration: TLSClientConfiguration) throws -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TransportError.tls("cannot create a TLS context: \(lastError())")
        }
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        if configuration.insecureSkipVerify {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            let loaded: Int32
            if let file = configuration.trustRootsFile {
                loaded = SSL_CTX_load_verify_locations(context, file, nil)
            } else {
                loaded = SSL_CTX_set_default_verify_paths(context)
            }
            guard loaded == 1 else {
                SSL_CTX_free(context)
                throw TransportError.tls("cannot load trusted certificates\(configuration.trustRootsFile.map { " from \($0)" } ?? ""): \(lastError())")
            }
        }
        h2.withUnsafeBufferPointer { _ = SSL_CTX_set_alpn_protos(context, $0.baseAddress, UInt32($0.count)) }
        return context
    }

    static func free(_ context: OpaquePointer) {
        SSL_CTX_free(context)
    }

    /// Another reference to a context (released with `free`): connections
    /// being set up keep the context they started with across a reload.
    static func retain(_ context: OpaquePointer) {
        SSL_CTX_up_ref(context)
    }

    static func acceptingBufferevent(base: OpaquePointer, fd: Int32, context: OpaquePointer) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        return bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
    }

    static func connectingBufferevent(base: OpaquePointer, context: OpaquePointer, serverName: String, verify: Bool) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        // SNI (SSL_set_tlsext_host_name is a macro) and host name verification.
        _ = serverName.withCString { SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
        // Without host name verification a valid certificate for any name would do: refuse to go on.
        if verify && SSL_set1_host(ssl, serverName) != 1 {
            SSL_free(ssl)
            return nil
        }
        return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
    }

    /// Whether the TLS handshake on `bev` selected h2.
    static func negotiatedH2(_ bev: OpaquePointer?) -> Bool {
        guard let bev, let ssl = bufferevent_openssl_get_ssl(bev) else { return false }
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        return length == 2 && data?[0] == UInt8(ascii: "h") && data?[1] == UInt8(ascii: "2")
    }

    /// Why the TLS layer of `bev` failed, if it did.
    static func failure(_ bev: OpaquePointer?) -> String? {
        guard let bev else { return nil }
        var found = reasons { bufferevent_get_openssl_error(bev) }
        if let ssl = bufferevent_openssl_get_ssl(bev) {
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                found.append(String(cString: X509_verify_cert_error_string(verify)))
            }
        }
        return found.isEmpty ? nil : found.joined(separator: "; ")
    }
}

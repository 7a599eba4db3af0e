import H2Transport
import ProtoMessages
import RPCCore

/// The web listener (`--web-listen`): the Import Status screen, and the
/// import service over the Connect protocol and gRPC-Web for it and for curl.
enum WebConsole {
    static let uploadPath = "/softrip.marketing.imports.v1.ImportService/UploadContacts"

    static func configuration(host: String, port: Int, tls: TLSServerConfiguration?, allowedOrigins: [String], maxUploadChunk: Int) -> WebServer.Configuration {
        var configuration = WebServer.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.tls = tls
        configuration.allowedOrigins = allowedOrigins
        configuration.maxRequestBytes = maxUploadChunk
        let page = WebAsset(contentType: "text/html; charset=utf-8", body: PackageResources.index_html)
        configuration.assets = [
            "/": page,
            "/index.html": page,
            "/app.js": WebAsset(contentType: "text/javascript; charset=utf-8", body: PackageResources.app_js),
            "/app.css": WebAsset(contentType: "text/css; charset=utf-8", body: PackageResources.app_css),
        ]
        configuration.upload = WebUploadRoute(methodPath: uploadPath, firstMessage: { json, codec in
            // The session's body is the UploadOptions message as JSON.
            try codec.request(path: uploadPath, fromJSON: Array("{\"options\":".utf8) + (json.isEmpty ? Array("{}".utf8) : json) + Array("}".utf8))
        }, chunkMessage: { bytes in
            var request = ImportsV1.UploadContactsRequest()
            request.item = .chunk(bytes)
            return request.serializedBytes()
        })
        return configuration
    }

    /// JSON for the import service and health.
    static func codec() -> ProtoJSONCodec {
        ProtoJSONCodec(services: ["softrip.marketing.imports.v1.ImportService", "grpc.health.v1.Health"])
    }
}

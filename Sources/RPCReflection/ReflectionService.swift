import ProtoMessages
import RPCCore

/// gRPC server reflection (doc/server-reflection.md): `grpc.reflection.v1` and
/// the older `grpc.reflection.v1alpha` (the same messages on the wire, served
/// by one implementation), so grpcurl, grpcui or Postman can call the server
/// without its .proto files. The descriptors are those compiled in
/// (`ProtoDescriptors`, embedded by scripts/generate-protos.sh).
public struct ReflectionService: Sendable {
    public static let v1 = MethodDescriptor(
        service: "grpc.reflection.v1.ServerReflection", method: "ServerReflectionInfo", kind: .bidirectionalStreaming)
    public static let v1alpha = MethodDescriptor(
        service: "grpc.reflection.v1alpha.ServerReflection", method: "ServerReflectionInfo", kind: .bidirectionalStreaming)

    /// The services to list: what the router serves once reflection is on it.
    private let services: [String]
    private let files: [String: (dependencies: [String], descriptor: [UInt8])]
    private let symbols: [String: String]

    /// Reflection for the services `router` serves (and reflection itself).
    public init(services: [String]) {
        self.services = Array(Set(services + [Self.v1.service, Self.v1alpha.service])).sorted()
        var files: [String: (dependencies: [String], descriptor: [UInt8])] = [:]
        for file in ProtoDescriptors.files {
            files[file.name] = (file.dependencies, Base64.decode(file.descriptor.utf8) ?? [])
        }
        self.files = files
        symbols = ProtoDescriptors.symbols
    }

    /// Adds both versions' ServerReflectionInfo to `router`, listing the services
    /// registered on it so far.
    public static func register(on router: inout RPCRouter) {
        let service = ReflectionService(services: router.methods.map(\.service))
        for method in [v1, v1alpha] {
            router.registerBidirectionalStreaming(
                method, GrpcReflectionV1.ServerReflectionRequest.self, GrpcReflectionV1.ServerReflectionResponse.self
            ) { requests, writer, _ in
                for try await request in requests {
                    try await writer.write(service.answer(request))
                }
            }
        }
    }

    /// The response to one request.
    public func answer(_ request: GrpcReflectionV1.ServerReflectionRequest) -> GrpcReflectionV1.ServerReflectionResponse {
        var response = GrpcReflectionV1.ServerReflectionResponse()
        response.validHost = request.host
        response.originalRequest = request
        switch request.messageRequest {
        case .listServices?:
            var list = GrpcReflectionV1.ListServiceResponse()
            list.service = services.map { name in
                var service = GrpcReflectionV1.ServiceResponse()
                service.name = name
                return service
            }
            response.messageResponse = .listServicesResponse(list)
        case .fileByFilename(let name)?:
            response.messageResponse = fileResponse(name, or: "no file \(name)")
        case .fileContainingSymbol(let symbol)?:
            let name = symbols[symbol] ?? symbols[Self.trimmingLeadingDot(symbol)]
            response.messageResponse = fileResponse(name, or: "no symbol \(symbol)")
        case .fileContainingExtension(let request)?:
            response.messageResponse = Self.error(.notFound, "no extension \(request.extensionNumber) of \(request.containingType): none are defined")
        case .allExtensionNumbersOfType(let type)?:
            if symbols[Self.trimmingLeadingDot(type)] != nil {
                var numbers = GrpcReflectionV1.ExtensionNumberResponse()
                numbers.baseTypeName = type
                response.messageResponse = .allExtensionNumbersResponse(numbers)
            } else {
                response.messageResponse = Self.error(.notFound, "no type \(type)")
            }
        case nil:
            response.messageResponse = Self.error(.invalidArgument, "the request asks for nothing")
        }
        return response
    }

    /// The file and everything it imports, the file first (clients build their
    /// descriptor pool from these).
    private func fileResponse(_ name: String?, or missing: String) -> GrpcReflectionV1.ServerReflectionResponse.MessageResponse {
        guard let name, files[name] != nil else { return Self.error(.notFound, missing) }
        var seen: Set<String> = []
        var order: [String] = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let file = files[next] else { continue }
            order.append(next)
            pending += file.dependencies.reversed()
        }
        var descriptors = GrpcReflectionV1.FileDescriptorResponse()
        descriptors.fileDescriptorProto = order.compactMap { files[$0]?.descriptor }
        return .fileDescriptorResponse(descriptors)
    }

    private static func error(_ code: Status.Code, _ message: String) -> GrpcReflectionV1.ServerReflectionResponse.MessageResponse {
        var error = GrpcReflectionV1.ErrorResponse()
        error.errorCode = Int32(code.rawValue)
        error.errorMessage = message
        return .errorResponse(error)
    }

    private static func trimmingLeadingDot(_ symbol: String) -> String {
        symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
    }
}

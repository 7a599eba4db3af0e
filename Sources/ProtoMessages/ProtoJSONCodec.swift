import CProtobufC
import CProtos
import RPCCore

/// proto3's JSON mapping (protobuf.dev/programming-guides/json) for the
/// messages of compiled-in services, driven by protobuf-c's descriptors: the
/// Connect protocol's `application/json` codec.
///
/// Output: lowerCamelCase field names, fields at their default omitted (but
/// oneof members and messages that are present), enums by name, 64-bit
/// integers as strings, bytes as padded base64, Timestamps in RFC 3339, maps
/// as objects. Input: either field name form, numbers or strings for
/// integers, enum names or numbers, standard or URL-safe base64, `null` as the
/// default; unknown fields are ignored (a newer client, an older server).
public final class ProtoJSONCodec: RPCJSONCodec {
    /// The deepest message nesting read or written.
    public static let maxDepth = 32

    private let schemas: [MessageSchema]
    /// Method path (`/package.Service/Method`) -> (input, output) schema indexes.
    private let methods: [String: (input: Int, output: Int)]
    /// Full message name -> schema index, for error details.
    private let byName: [String: Int]

    /// The services of this product whose messages the codec knows: the import
    /// service, health, and the test services.
    public static let compiledServices: [String] = [
        "softrip.marketing.imports.v1.ImportService", "grpc.health.v1.Health", "rpctest.v1.TestService", "grpc.testing.TestService",
    ]

    /// A codec for the named services (see `compiledServices`); unknown names are ignored.
    public init(services: [String] = ProtoJSONCodec.compiledServices) {
        var builder = SchemaBuilder()
        var methods: [String: (input: Int, output: Int)] = [:]
        // C's const globals come to Swift as values: their addresses are valid
        // only inside `withUnsafePointer`, but what they point to is static.
        func add(_ service: UnsafePointer<ProtobufCServiceDescriptor>) {
            let name = String(cString: service.pointee.name)
            guard services.contains(name) else { return }
            for i in 0..<Int(service.pointee.n_methods) {
                let method = service.pointee.methods[i]
                methods["/\(name)/\(String(cString: method.name))"] = (builder.schema(method.input), builder.schema(method.output))
            }
        }
        withUnsafePointer(to: softrip__marketing__imports__v1__import_service__descriptor) { add($0) }
        withUnsafePointer(to: grpc__health__v1__health__descriptor) { add($0) }
        withUnsafePointer(to: rpctest__v1__test_service__descriptor) { add($0) }
        withUnsafePointer(to: grpc__testing__test_service__descriptor) { add($0) }
        // Error details: the descriptor's copy is used here only; its fields are static.
        withUnsafePointer(to: google__rpc__bad_request__descriptor) { _ = builder.schema($0) }
        self.schemas = builder.schemas
        self.methods = methods
        self.byName = builder.byName
    }

    /// Whether the codec knows the method at `path`.
    public func knows(path: String) -> Bool { methods[path] != nil }

    public func request(path: String, fromJSON json: [UInt8]) throws -> [UInt8] {
        guard let method = methods[path] else { throw RPCError(code: .unimplemented, message: "method \(path) has no JSON mapping here") }
        let value: JSONValue
        do {
            // An empty body is the empty message, as Connect's clients send it.
            value = json.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) ? .object([]) : try JSONValue.parse(json)
        } catch {
            throw RPCError(code: .invalidArgument, message: "the request is not JSON: \(error)")
        }
        return try encode(value, as: method.input)
    }

    public func response(path: String, toJSON payload: [UInt8]) throws -> [UInt8] {
        guard let method = methods[path] else { throw RPCError(code: .unimplemented, message: "method \(path) has no JSON mapping here") }
        return Array(try decode(payload, as: method.output).text.utf8)
    }

    /// The JSON of a serialized message of a method's request (`input`) or response type.
    public func json(path: String, payload: [UInt8], input: Bool) throws -> JSONValue {
        guard let method = methods[path] else { throw RPCError(code: .unimplemented, message: "method \(path) has no JSON mapping here") }
        return try decode(payload, as: input ? method.input : method.output)
    }

    public func errorDetails(statusDetails: [UInt8]) -> [(type: String, value: [UInt8], json: String?)] {
        // google.rpc.Status: 1 code, 2 message, 3 repeated Any {1 type_url, 2 value}.
        var details: [(type: String, value: [UInt8], json: String?)] = []
        var status = WireReader(statusDetails[...])
        while let (number, wireType) = try? status.key() {
            guard number == 3, wireType == 2, let any = try? status.lengthDelimited() else {
                guard (try? status.skip(wireType)) != nil else { break }
                continue
            }
            var reader = WireReader(any)
            var typeURL = ""
            var value: [UInt8] = []
            while let (field, type) = try? reader.key() {
                if field == 1, type == 2, let text = try? reader.lengthDelimited() { typeURL = String(decoding: text, as: UTF8.self) }
                else if field == 2, type == 2, let bytes = try? reader.lengthDelimited() { value = Array(bytes) }
                else if (try? reader.skip(type)) == nil { break }
            }
            let typeName = String(typeURL.split(separator: "/").last ?? "")
            let json = byName[typeName].flatMap { try? decode(value, as: $0).text }
            details.append((typeName, value, json))
        }
        return details
    }

    // MARK: - Binary to JSON

    func decode(_ bytes: [UInt8], as schema: Int) throws -> JSONValue {
        do {
            return try decodeMessage(bytes[...], schema: schemas[schema], depth: 0)
        } catch {
            throw RPCError(code: .internal, message: "cannot print a \(schemas[schema].fullName) as JSON: \(error.reason)")
        }
    }

    private func decodeMessage(_ bytes: ArraySlice<UInt8>, schema: MessageSchema, depth: Int) throws(ProtoJSONError) -> JSONValue {
        guard depth < Self.maxDepth else { throw ProtoJSONError("messages nested too deep") }
        var reader = WireReader(bytes)
        var values = [[(JSONValue, Bool)]](repeating: [], count: schema.fields.count)
        while let (number, wireType) = try reader.key() {
            guard let index = schema.byNumber[number] else {
                try reader.skip(wireType)
                continue
            }
            let field = schema.fields[index]
            if field.repeated, wireType == 2, field.kind.isPackable {
                var packed = WireReader(try reader.lengthDelimited())
                while !packed.isAtEnd {
                    values[index].append(try decodeValue(&packed, wireType: field.kind.wireType, field: field, depth: depth))
                }
            } else {
                values[index].append(try decodeValue(&reader, wireType: wireType, field: field, depth: depth))
            }
        }
        if schema.wellKnown == .timestamp {
            return .string(Self.timestampText(values: values, schema: schema))
        }
        var pairs: [JSONValue.Pair] = []
        for (index, field) in schema.fields.enumerated() where !values[index].isEmpty {
            if field.isMap {
                // Map entries decode to {"key": k, "value": v} objects.
                var entries: [JSONValue.Pair] = []
                for (entry, _) in values[index] {
                    guard case .object(let kv) = entry else { continue }
                    let key: String
                    switch kv.first(where: { $0.key == "key" })?.value {
                    case .string(let s)?: key = s
                    case .int(let i)?: key = String(i)
                    case .uint(let u)?: key = String(u)
                    case .bool(let b)?: key = b ? "true" : "false"
                    default: key = ""
                    }
                    entries.append(JSONValue.Pair(key, kv.first(where: { $0.key == "value" })?.value ?? Self.zero(of: field.mapValue)))
                }
                pairs.append(JSONValue.Pair(field.jsonName, .object(entries)))
            } else if field.repeated {
                pairs.append(JSONValue.Pair(field.jsonName, .array(values[index].map(\.0))))
            } else {
                let (value, isDefault) = values[index][values[index].count - 1]
                if !isDefault || field.oneof || field.kind == .message {
                    pairs.append(JSONValue.Pair(field.jsonName, value))
                }
            }
        }
        return .object(pairs)
    }

    private static func zero(of kind: FieldKind?) -> JSONValue {
        switch kind {
        case .string?, .bytes?: return .string("")
        case .int64?, .uint64?: return .string("0")
        case .bool?: return .bool(false)
        case .message?: return .object([])
        default: return .int(0)
        }
    }

    private static func timestampText(values: [[(JSONValue, Bool)]], schema: MessageSchema) -> String {
        var timestamp = GoogleProtobuf.Timestamp()
        for (index, field) in schema.fields.enumerated() {
            guard let (value, _) = values[index].last else { continue }
            switch (field.number, value) {
            case (1, .string(let s)): timestamp.seconds = Int64(s) ?? 0
            case (2, .int(let n)): timestamp.nanos = Int32(truncatingIfNeeded: n)
            default: break
            }
        }
        return timestamp.rfc3339
    }

    /// One value of `field`, and whether it is the type's default.
    private func decodeValue(_ reader: inout WireReader, wireType: UInt8, field: FieldSchema, depth: Int) throws(ProtoJSONError) -> (JSONValue, Bool) {
        guard wireType == field.kind.wireType else { throw ProtoJSONError("field \(field.name) has wire type \(wireType)") }
        switch field.kind {
        case .int32:
            let v = Int32(truncatingIfNeeded: try reader.varint())
            return (.int(Int64(v)), v == 0)
        case .sint32:
            let raw = UInt32(truncatingIfNeeded: try reader.varint())
            let v = Int32(bitPattern: raw >> 1) ^ -Int32(bitPattern: raw & 1)
            return (.int(Int64(v)), v == 0)
        case .sfixed32:
            let v = Int32(bitPattern: try reader.fixed32())
            return (.int(Int64(v)), v == 0)
        case .uint32:
            let v = UInt32(truncatingIfNeeded: try reader.varint())
            return (.uint(UInt64(v)), v == 0)
        case .fixed32:
            let v = try reader.fixed32()
            return (.uint(UInt64(v)), v == 0)
        case .int64:
            let v: Int64
            switch field.cType {
            case PROTOBUF_C_TYPE_SINT64:
                let raw = try reader.varint()
                v = Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
            case PROTOBUF_C_TYPE_SFIXED64: v = Int64(bitPattern: try reader.fixed64())
            default: v = Int64(bitPattern: try reader.varint())
            }
            return (.string(String(v)), v == 0)
        case .uint64:
            let v = field.cType == PROTOBUF_C_TYPE_FIXED64 ? try reader.fixed64() : try reader.varint()
            return (.string(String(v)), v == 0)
        case .float:
            let v = Double(Float(bitPattern: try reader.fixed32()))
            return (Self.number(v), v == 0)
        case .double:
            let v = Double(bitPattern: try reader.fixed64())
            return (Self.number(v), v == 0)
        case .bool:
            let v = try reader.varint() != 0
            return (.bool(v), !v)
        case .enumeration:
            let v = Int32(truncatingIfNeeded: try reader.varint())
            if let name = field.enumeration?.byNumber[v] { return (.string(name), v == 0) }
            return (.int(Int64(v)), v == 0)
        case .string:
            let bytes = try reader.lengthDelimited()
            guard let text = String(validating: bytes, as: UTF8.self) else { throw ProtoJSONError("field \(field.name) is not valid UTF-8") }
            return (.string(text), text.isEmpty)
        case .bytes:
            let bytes = try reader.lengthDelimited()
            return (.string(Base64.encode(Array(bytes), padded: true)), bytes.isEmpty)
        case .message:
            let bytes = try reader.lengthDelimited()
            return (try decodeMessage(bytes, schema: schemas[field.message!], depth: depth + 1), false)
        }
    }

    private static func number(_ v: Double) -> JSONValue {
        if v.isNaN { return .string("NaN") }
        if v.isInfinite { return .string(v < 0 ? "-Infinity" : "Infinity") }
        return .double(v)
    }

    // MARK: - JSON to binary

    func encode(_ value: JSONValue, as schema: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        do {
            try encodeMessage(value, schema: schemas[schema], into: &out, depth: 0)
        } catch {
            throw RPCError(code: .invalidArgument, message: "the request does not fit \(schemas[schema].fullName): \(error.reason)")
        }
        return out
    }

    private func encodeMessage(_ value: JSONValue, schema: MessageSchema, into out: inout [UInt8], depth: Int) throws(ProtoJSONError) {
        guard depth < Self.maxDepth else { throw ProtoJSONError("messages nested too deep") }
        if schema.wellKnown == .timestamp {
            guard case .string(let text) = value, let (seconds, nanos) = Self.parseTimestamp(text) else {
                throw ProtoJSONError("\(schema.fullName) must be an RFC 3339 timestamp string")
            }
            if seconds != 0 { WireWriter.key(1, 0, into: &out); WireWriter.varint(UInt64(bitPattern: seconds), into: &out) }
            if nanos != 0 { WireWriter.key(2, 0, into: &out); WireWriter.varint(UInt64(bitPattern: Int64(nanos)), into: &out) }
            return
        }
        guard case .object(let pairs) = value else { throw ProtoJSONError("\(schema.fullName) must be a JSON object") }
        for pair in pairs {
            guard let index = schema.byName[pair.key] else { continue }
            let field = schema.fields[index]
            if case .null = pair.value { continue }
            if field.isMap {
                guard case .object(let entries) = pair.value else { throw ProtoJSONError("\(pair.key) must be an object") }
                let entrySchema = schemas[field.message!]
                for entry in entries {
                    var body: [UInt8] = []
                    let keyValue: JSONValue = entrySchema.fields[0].kind == .string ? .string(entry.key) : .string(entry.key)
                    try encodeField(keyValue, field: entrySchema.fields[0], into: &body, depth: depth + 1)
                    try encodeField(entry.value, field: entrySchema.fields[1], into: &body, depth: depth + 1)
                    WireWriter.key(field.number, 2, into: &out)
                    WireWriter.varint(UInt64(body.count), into: &out)
                    out.append(contentsOf: body)
                }
            } else if field.repeated {
                guard case .array(let items) = pair.value else { throw ProtoJSONError("\(pair.key) must be an array") }
                for item in items { try encodeField(item, field: field, into: &out, depth: depth + 1) }
            } else {
                try encodeField(pair.value, field: field, into: &out, depth: depth + 1)
            }
        }
    }

    private func encodeField(_ value: JSONValue, field: FieldSchema, into out: inout [UInt8], depth: Int) throws(ProtoJSONError) {
        func integer() throws(ProtoJSONError) -> Int64 {
            switch value {
            case .int(let i): return i
            case .uint(let u) where u <= UInt64(Int64.max): return Int64(u)
            case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
            case .string(let s): if let i = Int64(s) { return i }
            default: break
            }
            throw ProtoJSONError("\(field.jsonName) must be an integer")
        }
        func unsigned() throws(ProtoJSONError) -> UInt64 {
            switch value {
            case .int(let i) where i >= 0: return UInt64(i)
            case .uint(let u): return u
            case .double(let d) where d == d.rounded() && d >= 0 && d < 1.8e19: return UInt64(d)
            case .string(let s): if let u = UInt64(s) { return u }
            default: break
            }
            throw ProtoJSONError("\(field.jsonName) must be an unsigned integer")
        }
        func real() throws(ProtoJSONError) -> Double {
            switch value {
            case .int(let i): return Double(i)
            case .uint(let u): return Double(u)
            case .double(let d): return d
            case .string("NaN"): return .nan
            case .string("Infinity"): return .infinity
            case .string("-Infinity"): return -.infinity
            case .string(let s): if let d = Double(s) { return d }
            default: break
            }
            throw ProtoJSONError("\(field.jsonName) must be a number")
        }
        func range<T: FixedWidthInteger>(_ v: some BinaryInteger, _: T.Type) throws(ProtoJSONError) -> T {
            guard let t = T(exactly: v) else { throw ProtoJSONError("\(field.jsonName) is out of range") }
            return t
        }
        let number = field.number
        switch field.kind {
        case .int32:
            let v = try range(try integer(), Int32.self)
            WireWriter.key(number, 0, into: &out)
            if field.cType == PROTOBUF_C_TYPE_SINT32 {
                WireWriter.varint(UInt64(UInt32(bitPattern: (v << 1) ^ (v >> 31))), into: &out)
            } else {
                WireWriter.varint(UInt64(bitPattern: Int64(v)), into: &out)
            }
        case .sint32:
            let v = try range(try integer(), Int32.self)
            WireWriter.key(number, 0, into: &out)
            WireWriter.varint(UInt64(UInt32(bitPattern: (v << 1) ^ (v >> 31))), into: &out)
        case .sfixed32:
            let v = try range(try integer(), Int32.self)
            WireWriter.key(number, 5, into: &out)
            WireWriter.fixed32(UInt32(bitPattern: v), into: &out)
        case .uint32:
            let v = try range(try unsigned(), UInt32.self)
            WireWriter.key(number, 0, into: &out)
            WireWriter.varint(UInt64(v), into: &out)
        case .fixed32:
            let v = try range(try unsigned(), UInt32.self)
            WireWriter.key(number, 5, into: &out)
            WireWriter.fixed32(v, into: &out)
        case .int64:
            let v = try integer()
            switch field.cType {
            case PROTOBUF_C_TYPE_SINT64:
                WireWriter.key(number, 0, into: &out)
                WireWriter.varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)), into: &out)
            case PROTOBUF_C_TYPE_SFIXED64:
                WireWriter.key(number, 1, into: &out)
                WireWriter.fixed64(UInt64(bitPattern: v), into: &out)
            default:
                WireWriter.key(number, 0, into: &out)
                WireWriter.varint(UInt64(bitPattern: v), into: &out)
            }
        case .uint64:
            let v = try unsigned()
            if field.cType == PROTOBUF_C_TYPE_FIXED64 {
                WireWriter.key(number, 1, into: &out)
                WireWriter.fixed64(v, into: &out)
            } else {
                WireWriter.key(number, 0, into: &out)
                WireWriter.varint(v, into: &out)
            }
        case .float:
            WireWriter.key(number, 5, into: &out)
            WireWriter.fixed32(Float(try real()).bitPattern, into: &out)
        case .double:
            WireWriter.key(number, 1, into: &out)
            WireWriter.fixed64(try real().bitPattern, into: &out)
        case .bool:
            guard case .bool(let b) = value else { throw ProtoJSONError("\(field.jsonName) must be true or false") }
            WireWriter.key(number, 0, into: &out)
            WireWriter.varint(b ? 1 : 0, into: &out)
        case .enumeration:
            let v: Int32
            if case .string(let name) = value {
                guard let known = field.enumeration?.byName[name] else { throw ProtoJSONError("\(name) is not a value of \(field.jsonName)") }
                v = known
            } else {
                v = try range(try integer(), Int32.self)
            }
            WireWriter.key(number, 0, into: &out)
            WireWriter.varint(UInt64(bitPattern: Int64(v)), into: &out)
        case .string:
            guard case .string(let s) = value else { throw ProtoJSONError("\(field.jsonName) must be a string") }
            WireWriter.key(number, 2, into: &out)
            WireWriter.varint(UInt64(s.utf8.count), into: &out)
            out.append(contentsOf: s.utf8)
        case .bytes:
            guard case .string(let s) = value else { throw ProtoJSONError("\(field.jsonName) must be a base64 string") }
            let standard = String(s.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            guard let bytes = Base64.decode(Array(standard.utf8)) else { throw ProtoJSONError("\(field.jsonName) is not base64") }
            WireWriter.key(number, 2, into: &out)
            WireWriter.varint(UInt64(bytes.count), into: &out)
            out.append(contentsOf: bytes)
        case .message:
            var body: [UInt8] = []
            try encodeMessage(value, schema: schemas[field.message!], into: &body, depth: depth + 1)
            WireWriter.key(number, 2, into: &out)
            WireWriter.varint(UInt64(body.count), into: &out)
            out.append(contentsOf: body)
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` to seconds and nanos since the epoch.
    public static func parseTimestamp(_ text: String) -> (Int64, Int32)? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ count: Int) -> Int64? {
            guard at + count <= b.count else { return nil }
            var v: Int64 = 0
            for i in at..<at + count {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == 0x2D, let month = digits(5, 2), b[7] == 0x2D, let day = digits(8, 2),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"), let hour = digits(11, 2), b[13] == 0x3A,
              let minute = digits(14, 2), b[16] == 0x3A, let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        var nanos: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if count < 9 { nanos = nanos * 10 + Int64(b[i] - 0x30) }
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 9) { nanos *= 10 }
        }
        var offset: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let om = digits(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return (days * 86400 + hour * 3600 + minute * 60 + second - offset, Int32(nanos))
    }
}

// MARK: - Schemas read from protobuf-c's descriptors

struct ProtoJSONError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

enum FieldKind: Equatable {
    case int32, sint32, sfixed32, uint32, fixed32, int64, uint64, float, double, bool, enumeration, string, bytes, message

    var wireType: UInt8 {
        switch self {
        case .int32, .sint32, .uint32, .int64, .uint64, .bool, .enumeration: return 0
        case .sfixed32, .fixed32, .float: return 5
        case .double: return 1
        case .string, .bytes, .message: return 2
        }
    }

    var isPackable: Bool { wireType != 2 }
}

struct EnumSchema {
    let byNumber: [Int32: String]
    let byName: [String: Int32]
}

struct FieldSchema {
    let name: String
    let jsonName: String
    let number: UInt32
    let cType: ProtobufCType
    let kind: FieldKind
    let repeated: Bool
    let oneof: Bool
    let message: Int?
    let enumeration: EnumSchema?
    /// A `map<K, V>` field (a repeated `...Entry` message with key and value).
    var isMap = false
    var mapValue: FieldKind?
}

struct MessageSchema {
    enum WellKnown { case timestamp }
    let fullName: String
    var fields: [FieldSchema] = []
    var byNumber: [UInt32: Int] = [:]
    var byName: [String: Int] = [:]
    var wellKnown: WellKnown?
}

private struct SchemaBuilder {
    var schemas: [MessageSchema] = []
    var byName: [String: Int] = [:]

    /// The schema of a message; messages are keyed by full name (a
    /// descriptor's address may be a copy's, see `ProtoJSONCodec.init`).
    mutating func schema(_ descriptor: UnsafePointer<ProtobufCMessageDescriptor>) -> Int {
        let fullName = String(cString: descriptor.pointee.name)
        if let index = byName[fullName] { return index }
        let index = schemas.count
        byName[fullName] = index
        schemas.append(MessageSchema(fullName: fullName, wellKnown: fullName == "google.protobuf.Timestamp" ? .timestamp : nil))
        var fields: [FieldSchema] = []
        for i in 0..<Int(descriptor.pointee.n_fields) {
            let f = descriptor.pointee.fields[i]
            let name = String(cString: f.name)
            var message: Int?
            var enumeration: EnumSchema?
            if f.type == PROTOBUF_C_TYPE_MESSAGE, let nested = f.descriptor {
                message = schema(nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self))
            }
            if f.type == PROTOBUF_C_TYPE_ENUM, let e = f.descriptor?.assumingMemoryBound(to: ProtobufCEnumDescriptor.self) {
                var byNumber: [Int32: String] = [:]
                var names: [String: Int32] = [:]
                for v in 0..<Int(e.pointee.n_values) {
                    let value = e.pointee.values[v]
                    let valueName = String(cString: value.name)
                    if byNumber[Int32(value.value)] == nil { byNumber[Int32(value.value)] = valueName }
                    names[valueName] = Int32(value.value)
                }
                enumeration = EnumSchema(byNumber: byNumber, byName: names)
            }
            var field = FieldSchema(
                name: name, jsonName: Self.lowerCamel(name), number: f.id, cType: f.type, kind: Self.kind(f.type),
                repeated: f.label == PROTOBUF_C_LABEL_REPEATED, oneof: f.flags & UInt32(PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue) != 0,
                message: message, enumeration: enumeration)
            if field.repeated, let message, schemas[message].fullName.hasSuffix("Entry"),
               schemas[message].fullName.split(separator: ".").last.map(String.init) == Self.upperCamel(name) + "Entry",
               schemas[message].fields.count == 2, schemas[message].fields[0].name == "key", schemas[message].fields[1].name == "value" {
                field.isMap = true
                field.mapValue = schemas[message].fields[1].kind
            }
            fields.append(field)
        }
        schemas[index].fields = fields
        for (i, field) in fields.enumerated() {
            schemas[index].byNumber[field.number] = i
            schemas[index].byName[field.name] = i
            schemas[index].byName[field.jsonName] = i
        }
        return index
    }

    static func kind(_ type: ProtobufCType) -> FieldKind {
        switch type {
        case PROTOBUF_C_TYPE_INT32: return .int32
        case PROTOBUF_C_TYPE_SINT32: return .sint32
        case PROTOBUF_C_TYPE_SFIXED32: return .sfixed32
        case PROTOBUF_C_TYPE_UINT32: return .uint32
        case PROTOBUF_C_TYPE_FIXED32: return .fixed32
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64: return .int64
        case PROTOBUF_C_TYPE_SFIXED64: return .int64
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64: return .uint64
        case PROTOBUF_C_TYPE_FLOAT: return .float
        case PROTOBUF_C_TYPE_DOUBLE: return .double
        case PROTOBUF_C_TYPE_BOOL: return .bool
        case PROTOBUF_C_TYPE_ENUM: return .enumeration
        case PROTOBUF_C_TYPE_STRING: return .string
        case PROTOBUF_C_TYPE_BYTES: return .bytes
        default: return .message
        }
    }

    /// `origin_campaign_id` -> `originCampaignId` (protoc's json_name rule).
    static func lowerCamel(_ name: String) -> String {
        var out = ""
        var upper = false
        for c in name {
            if c == "_" { upper = true; continue }
            out.append(upper ? Character(c.uppercased()) : c)
            upper = false
        }
        return out
    }

    static func upperCamel(_ name: String) -> String {
        let lower = lowerCamel(name)
        return lower.prefix(1).uppercased() + lower.dropFirst()
    }
}

// MARK: - The wire format

struct WireReader {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var isAtEnd: Bool { index >= bytes.endIndex }

    /// The next field's number and wire type, or nil at the end.
    mutating func key() throws(ProtoJSONError) -> (UInt32, UInt8)? {
        guard !isAtEnd else { return nil }
        let key = try varint()
        guard key >> 3 > 0, key >> 3 <= UInt64(UInt32.max >> 3) else { throw ProtoJSONError("field number 0 or out of range") }
        return (UInt32(key >> 3), UInt8(key & 7))
    }

    mutating func varint() throws(ProtoJSONError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.endIndex, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw ProtoJSONError("a truncated or overlong varint")
    }

    mutating func fixed32() throws(ProtoJSONError) -> UInt32 {
        guard bytes.endIndex - index >= 4 else { throw ProtoJSONError("a truncated fixed32") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[index + i]) << (8 * UInt32(i)) }
        index += 4
        return v
    }

    mutating func fixed64() throws(ProtoJSONError) -> UInt64 {
        guard bytes.endIndex - index >= 8 else { throw ProtoJSONError("a truncated fixed64") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[index + i]) << (8 * UInt64(i)) }
        index += 8
        return v
    }

    mutating func lengthDelimited() throws(ProtoJSONError) -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(bytes.endIndex - index) else { throw ProtoJSONError("a length past the end of the message") }
        defer { index += Int(length) }
        return bytes[index..<index + Int(length)]
    }

    mutating func skip(_ wireType: UInt8) throws(ProtoJSONError) {
        switch wireType {
        case 0: _ = try varint()
        case 1: _ = try fixed64()
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw ProtoJSONError("wire type \(wireType) is not supported")
        }
    }
}

enum WireWriter {
    static func key(_ number: UInt32, _ wireType: UInt8, into out: inout [UInt8]) {
        varint(UInt64(number) << 3 | UInt64(wireType), into: &out)
    }

    static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func fixed32(_ value: UInt32, into out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    static func fixed64(_ value: UInt64, into out: inout [UInt8]) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }
}

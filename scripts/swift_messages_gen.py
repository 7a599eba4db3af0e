#!/usr/bin/env python3
"""Generates the Swift side of the protobuf-c messages.

usage: swift_messages_gen.py DESCRIPTOR_SET OUT_DIR PROTO [PROTO...]

Reads a FileDescriptorSet (protoc-c --include_imports --descriptor_set_out) and
writes, for every PROTO named, OUT_DIR/<path>.pb.swift with:

- a Swift value type per message and enum, inside a namespace per proto package
  (`ImportsV1.ImportJob`, `GrpcHealthV1.HealthCheckRequest`, ...);
- the conversion between each value type and its protobuf-c struct (the only code
  that touches protobuf-c structs), through the `ProtobufCMessage` protocol of
  the ProtoMessages target;
- for every service: method descriptors, a server protocol with one `async`
  function per method and its route registration, and a typed client.

The output is deterministic: the same input always gives the same bytes, so a
test can regenerate it and compare with what is committed.
"""
import os
import re
import sys

from google.protobuf import descriptor_pb2

FD = descriptor_pb2.FieldDescriptorProto

# Swift namespace for each proto package.
NAMESPACES = {
    "softrip.marketing.imports.v1": "ImportsV1",
    "grpc.health.v1": "GrpcHealthV1",
    "grpc.testing": "GrpcTesting",
    "grpc.reflection.v1": "GrpcReflectionV1",
    "grpc.reflection.v1alpha": "GrpcReflectionV1alpha",
    "google.protobuf": "GoogleProtobuf",
    "google.rpc": "GoogleRPC",
    "rpctest.v1": "RPCTestV1",
}

SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func",
    "import", "init", "inout", "internal", "let", "open", "operator", "private",
    "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias",
    "var", "break", "case", "continue", "default", "defer", "do", "else",
    "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where",
    "while", "as", "catch", "false", "is", "nil", "super", "self", "Self", "throw",
    "throws", "true", "try", "Type", "Protocol",
}

SCALARS = {
    # type: (swift type, default, C -> Swift expression, Swift -> C expression)
    FD.TYPE_DOUBLE: ("Double", "0", "{v}", "{v}"),
    FD.TYPE_FLOAT: ("Float", "0", "{v}", "{v}"),
    FD.TYPE_INT64: ("Int64", "0", "{v}", "{v}"),
    FD.TYPE_SINT64: ("Int64", "0", "{v}", "{v}"),
    FD.TYPE_SFIXED64: ("Int64", "0", "{v}", "{v}"),
    FD.TYPE_UINT64: ("UInt64", "0", "{v}", "{v}"),
    FD.TYPE_FIXED64: ("UInt64", "0", "{v}", "{v}"),
    FD.TYPE_INT32: ("Int32", "0", "{v}", "{v}"),
    FD.TYPE_SINT32: ("Int32", "0", "{v}", "{v}"),
    FD.TYPE_SFIXED32: ("Int32", "0", "{v}", "{v}"),
    FD.TYPE_UINT32: ("UInt32", "0", "{v}", "{v}"),
    FD.TYPE_FIXED32: ("UInt32", "0", "{v}", "{v}"),
    FD.TYPE_BOOL: ("Bool", "false", "({v} != 0)", "({v} ? 1 : 0)"),
}


def swift_type_name(name):
    """A proto type name that Swift reserves (Any, Type, ...) gets a suffix."""
    return name + "Message" if name in ("Any", "Type", "Protocol", "Self") else name


def camel_to_lower(name):
    """protoc-c's CamelToLower: "ImportJob" -> "import_job", "V1" -> "v1"."""
    out = []
    was_upper = True
    for ch in name:
        if ch.isupper():
            if not was_upper:
                out.append("_")
            out.append(ch.lower())
            was_upper = True
        else:
            out.append(ch)
            was_upper = False
    return "".join(out)


def upper_first(s):
    return s[:1].upper() + s[1:]


def lower_camel(name):
    """proto field name -> Swift property: origin_campaign_id -> originCampaignID."""
    parts = [p for p in name.split("_") if p]
    words = []
    for i, p in enumerate(parts):
        low = p.lower()
        if low in ("id", "ids", "url", "urls"):
            w = {"id": "ID", "ids": "IDs", "url": "URL", "urls": "URLs"}[low]
            if i == 0:
                w = w.lower()
        elif i == 0:
            w = p[:1].lower() + p[1:]
        else:
            w = p[:1].upper() + p[1:]
        words.append(w)
    s = "".join(words)
    return "`%s`" % s if s in SWIFT_KEYWORDS else s


def enum_case_name(enum_name, value_name):
    """IMPORT_STATE_QUEUED in ImportState -> queued; NOT_SERVING -> notServing."""
    prefix = camel_to_lower(enum_name).upper() + "_"
    v = value_name[len(prefix):] if value_name.startswith(prefix) else value_name
    parts = v.lower().split("_")
    s = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    if s[:1].isdigit():
        s = "_" + s
    return "`%s`" % s if s in SWIFT_KEYWORDS else s


class Registry:
    """Knows every message and enum of the descriptor set by full name."""

    def __init__(self, fds):
        self.messages = {}  # ".pkg.Msg" -> (file, DescriptorProto, swift name, c type, c lower)
        self.enums = {}  # ".pkg.Enum" -> (file, EnumDescriptorProto, swift name, c type)
        for f in fds.file:
            ns = NAMESPACES.get(f.package)
            if ns is None:
                raise SystemExit("no Swift namespace for package %r" % f.package)
            pkg_c = [upper_first(p) for p in f.package.split(".")]
            pkg_lower = [camel_to_lower(p) for p in f.package.split(".")]
            for m in f.message_type:
                self._add_message(f, m, ns, [m.name], pkg_c, pkg_lower)
            for e in f.enum_type:
                self._add_enum(f, e, ns, [e.name], pkg_c)

    def _add_message(self, f, m, ns, path, pkg_c, pkg_lower):
        full = "." + f.package + "." + ".".join(path)
        swift = ns + "." + ".".join(swift_type_name(p) for p in path)
        c_type = "__".join(pkg_c + path)
        c_lower = "__".join(pkg_lower + [camel_to_lower(p) for p in path])
        self.messages[full] = (f, m, swift, c_type, c_lower, len(path) == 1)
        for n in m.nested_type:
            self._add_message(f, n, ns, path + [n.name], pkg_c, pkg_lower)
        for e in m.enum_type:
            self._add_enum(f, e, ns, path + [e.name], pkg_c)

    def _add_enum(self, f, e, ns, path, pkg_c):
        full = "." + f.package + "." + ".".join(path)
        swift = ns + "." + ".".join(swift_type_name(p) for p in path)
        self.enums[full] = (f, e, swift, "__".join(pkg_c + path))

    def is_map_entry(self, type_name):
        return self.messages[type_name][1].options.map_entry


class Writer:
    def __init__(self):
        self.lines = []
        self.depth = 0

    def __call__(self, line=""):
        self.lines.append(("    " * self.depth + line) if line else "")

    def indent(self):
        self.depth += 1

    def dedent(self):
        self.depth -= 1

    def text(self):
        return "\n".join(self.lines) + "\n"


def doc_comment(w, location):
    if location is None:
        return
    for line in location.leading_comments.rstrip("\n").split("\n"):
        w(("///" + line).rstrip())


class FileGenerator:
    def __init__(self, reg, f):
        self.reg = reg
        self.f = f
        self.ns = NAMESPACES[f.package]
        self.locations = {}
        for loc in f.source_code_info.location:
            if loc.leading_comments:
                self.locations[tuple(loc.path)] = loc

    # -- field helpers -------------------------------------------------------

    def field_info(self, field):
        """(swift type, default value, kind) for a field."""
        repeated = field.label == FD.LABEL_REPEATED
        if field.type == FD.TYPE_MESSAGE and repeated and self.reg.is_map_entry(field.type_name):
            entry = self.reg.messages[field.type_name][1]
            k = self.field_info(entry.field[0])[0]
            v = self.field_info(entry.field[1])[0].rstrip("?")  # a map's message values are present
            return "[%s: %s]" % (k, v), "[:]", "map"
        if field.type in SCALARS:
            base, default = SCALARS[field.type][0], SCALARS[field.type][1]
            kind = "scalar"
        elif field.type == FD.TYPE_STRING:
            base, default, kind = "String", '""', "string"
        elif field.type == FD.TYPE_BYTES:
            base, default, kind = "[UInt8]", "[]", "bytes"
        elif field.type == FD.TYPE_ENUM:
            _, enum, base, _ = self.reg.enums[field.type_name]
            default, kind = "." + enum_case_name(enum.name, enum.value[0].name), "enum"
        elif field.type == FD.TYPE_MESSAGE:
            base, default, kind = self.reg.messages[field.type_name][2], "nil", "message"
        else:
            raise SystemExit("unsupported field type %d (%s)" % (field.type, field.name))
        if repeated:
            return "[%s]" % base, "[]", "repeated_" + kind
        if kind == "message":
            return base + "?", "nil", kind
        return base, default, kind

    # -- C -> Swift ----------------------------------------------------------

    def read_value(self, field, expr):
        """Swift expression converting one C value `expr` of this (singular) field."""
        if field.type in SCALARS:
            return SCALARS[field.type][2].format(v=expr)
        if field.type == FD.TYPE_STRING:
            return "cString(%s)" % expr
        if field.type == FD.TYPE_BYTES:
            return "cBytes(%s)" % expr
        if field.type == FD.TYPE_ENUM:
            return "%s(rawValue: Int32(bitPattern: %s.rawValue))" % (self.reg.enums[field.type_name][2], expr)
        if field.type == FD.TYPE_MESSAGE:
            return "%s(cMessage: %s)" % (self.reg.messages[field.type_name][2], expr)
        raise AssertionError(field)

    def write_value(self, field, expr):
        """Swift expression converting one Swift value `expr` to its C value."""
        if field.type in SCALARS:
            return SCALARS[field.type][3].format(v=expr)
        if field.type == FD.TYPE_STRING:
            return "arena.cString(%s)" % expr
        if field.type == FD.TYPE_BYTES:
            return "arena.binary(%s)" % expr
        if field.type == FD.TYPE_ENUM:
            return "%s(rawValue: UInt32(bitPattern: %s.rawValue))" % (self.reg.enums[field.type_name][3], expr)
        if field.type == FD.TYPE_MESSAGE:
            return "arena.message(%s)" % expr
        raise AssertionError(field)

    # -- messages ------------------------------------------------------------

    def gen_message(self, w, m, full, loc_path):
        _, _, swift, c_type, c_lower, top_level = self.reg.messages[full]
        name = swift.split(".")[-1]
        doc_comment(w, self.locations.get(tuple(loc_path)))
        w("public struct %s: Sendable, Hashable {" % name)
        w.indent()
        oneofs = {}
        for i, field in enumerate(m.field):
            if field.HasField("oneof_index") and not field.proto3_optional:
                oneofs.setdefault(field.oneof_index, []).append(field)
                continue
            if field.proto3_optional:
                raise SystemExit("proto3 optional is not supported (%s)" % field.name)
            t, default, _ = self.field_info(field)
            doc_comment(w, self.locations.get(tuple(loc_path + [2, i])))
            w("public var %s: %s = %s" % (lower_camel(field.name), t, default))
        for idx, fields in sorted(oneofs.items()):
            oname = m.oneof_decl[idx].name
            w("public var %s: %s? = nil" % (lower_camel(oname), upper_first(lower_camel(oname).strip("`"))))
        w()
        w("public init() {}")
        for idx, fields in sorted(oneofs.items()):
            w()
            oname = m.oneof_decl[idx].name
            w("public enum %s: Sendable, Hashable {" % upper_first(lower_camel(oname).strip("`")))
            w.indent()
            for field in fields:
                t, _, _ = self.field_info(field)
                w("case %s(%s)" % (lower_camel(field.name), t.rstrip("?")))
            w.dedent()
            w("}")
        for j, n in enumerate(m.nested_type):
            if n.options.map_entry:
                continue
            w()
            self.gen_message(w, n, full + "." + n.name, loc_path + [3, j])
        for j, e in enumerate(m.enum_type):
            w()
            self.gen_enum(w, e, full + "." + e.name, loc_path + [4, j])
        w.dedent()
        w("}")

    def gen_message_conversion(self, w, m, full):
        _, _, swift, c_type, c_lower, top_level = self.reg.messages[full]
        if m.options.map_entry:
            return
        w()
        conformance = "ProtobufCMessage" if top_level else "ProtobufCNested"
        w("extension %s: %s {" % (swift, conformance))
        w.indent()
        w("package typealias CMessage = %s" % c_type)
        w()
        w("package static func cInit(_ message: UnsafeMutablePointer<%s>) {" % c_type)
        w("    %s__init(message)" % c_lower)
        w("}")
        if top_level:
            w()
            w("package static func cPackedSize(_ message: UnsafePointer<%s>) -> Int {" % c_type)
            w("    %s__get_packed_size(message)" % c_lower)
            w("}")
            w()
            w("package static func cPack(_ message: UnsafePointer<%s>, _ out: UnsafeMutablePointer<UInt8>) -> Int {" % c_type)
            w("    %s__pack(message, out)" % c_lower)
            w("}")
            w()
            w("package static func cUnpack(_ count: Int, _ data: UnsafePointer<UInt8>) -> UnsafeMutablePointer<%s>? {" % c_type)
            w("    %s__unpack(nil, count, data)" % c_lower)
            w("}")
            w()
            w("package static func cFree(_ message: UnsafeMutablePointer<%s>) {" % c_type)
            w("    %s__free_unpacked(message, nil)" % c_lower)
            w("}")
        # C -> Swift
        w()
        w("package init(cMessage c: UnsafePointer<%s>) {" % c_type)
        w.indent()
        w("self.init()")
        oneofs = {}
        for field in m.field:
            if field.HasField("oneof_index"):
                oneofs.setdefault(field.oneof_index, []).append(field)
                continue
            prop = lower_camel(field.name)
            cf = "c.pointee.%s" % field.name
            _, _, kind = self.field_info(field)
            if kind == "map":
                entry = self.reg.messages[field.type_name][1]
                kf, vf = entry.field[0], entry.field[1]
                w("for i in 0..<c.pointee.n_%s {" % field.name)
                w("    if let e = %s[i] {" % cf)
                if vf.type == FD.TYPE_MESSAGE:
                    # An entry without its value decodes as the message's defaults.
                    value_type = self.reg.messages[vf.type_name][2]
                    value = "e.pointee.value.map { %s(cMessage: $0) } ?? %s()" % (value_type, value_type)
                else:
                    value = self.read_value(vf, "e.pointee.value")
                w("        self.%s[%s] = %s" % (prop, self.read_value(kf, "e.pointee.key"), value))
                w("    }")
                w("}")
            elif kind.startswith("repeated_"):
                if field.type == FD.TYPE_MESSAGE:
                    w("self.%s = cMessages(%s, c.pointee.n_%s) { %s(cMessage: $0) }" % (
                        prop, cf, field.name, self.reg.messages[field.type_name][2]))
                else:
                    w("self.%s = cArray(%s, c.pointee.n_%s) { %s }" % (prop, cf, field.name, self.read_value(field, "$0")))
            elif kind == "message":
                w("if let m = %s { self.%s = %s }" % (cf, prop, self.read_value(field, "m")))
            else:
                w("self.%s = %s" % (prop, self.read_value(field, cf)))
        for idx, fields in sorted(oneofs.items()):
            oname = m.oneof_decl[idx].name
            oprop = lower_camel(oname)
            w("switch c.pointee.%s_case.rawValue {" % oname)
            for field in fields:
                w("case %d:" % field.number)
                cf = "c.pointee.%s" % field.name
                if field.type == FD.TYPE_MESSAGE:
                    w("    if let m = %s { self.%s = .%s(%s) }" % (cf, oprop, lower_camel(field.name), self.read_value(field, "m")))
                else:
                    w("    self.%s = .%s(%s)" % (oprop, lower_camel(field.name), self.read_value(field, cf)))
            w("default:")
            w("    self.%s = nil" % oprop)
            w("}")
        w.dedent()
        w("}")
        # Swift -> C
        w()
        w("package func fill(_ c: UnsafeMutablePointer<%s>, arena: CArena) {" % c_type)
        w.indent()
        body = False
        for field in m.field:
            if field.HasField("oneof_index"):
                continue
            body = True
            prop = "self." + lower_camel(field.name)
            cf = "c.pointee.%s" % field.name
            _, _, kind = self.field_info(field)
            if kind == "map":
                entry_swift = self.reg.messages[field.type_name]
                entry = entry_swift[1]
                kf, vf = entry.field[0], entry.field[1]
                w("if !%s.isEmpty {" % prop)
                w.indent()
                w("let entries = arena.pointerArray(%s.self, count: %s.count)" % (entry_swift[3], prop))
                w("for (i, key) in %s.keys.sorted().enumerated() {" % prop)
                w("    let e = arena.allocate(%s.self)" % entry_swift[3])
                w("    %s__init(e)" % entry_swift[4])
                w("    e.pointee.key = %s" % self.write_value(kf, "key"))
                w("    e.pointee.value = %s" % self.write_value(vf, "%s[key]!" % prop))
                w("    entries[i] = e")
                w("}")
                w("c.pointee.n_%s = %s.count" % (field.name, prop))
                w("%s = entries" % cf)
                w.dedent()
                w("}")
            elif kind.startswith("repeated_"):
                w("if !%s.isEmpty {" % prop)
                w.indent()
                if field.type == FD.TYPE_MESSAGE:
                    w("%s = arena.messageArray(%s)" % (cf, prop))
                else:
                    w("%s = arena.array(%s) { %s }" % (cf, prop, self.write_value(field, "$0")))
                w("c.pointee.n_%s = %s.count" % (field.name, prop))
                w.dedent()
                w("}")
            elif kind == "message":
                w("if let m = %s { %s = %s }" % (prop, cf, self.write_value(field, "m")))
            elif kind in ("string", "bytes"):
                w("if !%s.isEmpty { %s = %s }" % (prop, cf, self.write_value(field, prop)))
            else:
                w("%s = %s" % (cf, self.write_value(field, prop)))
        oneofs = {}
        for field in m.field:
            if field.HasField("oneof_index"):
                oneofs.setdefault(field.oneof_index, []).append(field)
        for idx, fields in sorted(oneofs.items()):
            body = True
            oname = m.oneof_decl[idx].name
            case_type = c_type + "__" + upper_first(lower_camel(oname).strip("`")) + "Case"
            w("switch self.%s {" % lower_camel(oname))
            for field in fields:
                w("case .%s(let v):" % lower_camel(field.name))
                w("    c.pointee.%s_case = %s(rawValue: %d)" % (oname, case_type, field.number))
                w("    c.pointee.%s = %s" % (field.name, self.write_value(field, "v")))
            w("case nil:")
            w("    break")
            w("}")
        if not body:
            w("_ = (c, arena)")
        w.dedent()
        w("}")
        w.dedent()
        w("}")
        for n in m.nested_type:
            self.gen_message_conversion(w, n, full + "." + n.name)

    # -- JSON ----------------------------------------------------------------

    def json_value(self, field, expr):
        """JSONValue expression for one (singular) value of `field`."""
        if field.type == FD.TYPE_MESSAGE:
            if field.type_name == ".google.protobuf.Timestamp":
                return ".string(%s.rfc3339)" % expr
            return "%s.protoJSON" % expr
        if field.type == FD.TYPE_ENUM:
            return ".string(%s.protoName)" % expr
        if field.type == FD.TYPE_STRING:
            return ".string(%s)" % expr
        if field.type == FD.TYPE_BYTES:
            return ".string(Base64.encode(%s, padded: true))" % expr
        if field.type == FD.TYPE_BOOL:
            return ".bool(%s)" % expr
        if field.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
            return ".double(Double(%s))" % expr
        if field.type in (FD.TYPE_UINT64, FD.TYPE_FIXED64, FD.TYPE_UINT32, FD.TYPE_FIXED32):
            return ".uint(UInt64(%s))" % expr
        return ".int(Int64(%s))" % expr

    def gen_message_json(self, w, m, full):
        _, _, swift, _, _, _ = self.reg.messages[full]
        if m.options.map_entry:
            return
        w()
        w("extension %s: ProtoJSONRepresentable {" % swift)
        w.indent()
        w("public var protoJSON: JSONValue {")
        w.indent()
        if not m.field:
            w("return .object([])")
            w.dedent()
            w("}")
            w.dedent()
            w("}")
            return
        w("var pairs: [JSONValue.Pair] = []")
        oneofs = {}
        for field in m.field:
            if field.HasField("oneof_index"):
                oneofs.setdefault(field.oneof_index, []).append(field)
                continue
            prop = "self." + lower_camel(field.name)
            _, _, kind = self.field_info(field)
            if kind == "map":
                entry = self.reg.messages[field.type_name][1]
                # JSON object keys are strings, whatever the key type.
                key = "$0" if entry.field[0].type == FD.TYPE_STRING else "String($0)"
                w('pairs.append(JSONValue.Pair("%s", .object(%s.keys.sorted().map { JSONValue.Pair(%s, %s) })))' % (
                    field.name, prop, key, self.json_value(entry.field[1], "%s[$0]!" % prop)))
            elif kind.startswith("repeated_"):
                w('pairs.append(JSONValue.Pair("%s", .array(%s.map { %s })))' % (field.name, prop, self.json_value(field, "$0")))
            elif kind == "message":
                w('pairs.append(JSONValue.Pair("%s", %s.map { %s } ?? .null))' % (field.name, prop, self.json_value(field, "$0")))
            else:
                w('pairs.append(JSONValue.Pair("%s", %s))' % (field.name, self.json_value(field, prop)))
        for idx, fields in sorted(oneofs.items()):
            w("switch self.%s {" % lower_camel(m.oneof_decl[idx].name))
            for field in fields:
                w("case .%s(let v): pairs.append(JSONValue.Pair(\"%s\", %s))" % (lower_camel(field.name), field.name, self.json_value(field, "v")))
            w("case nil: break")
            w("}")
        w("return .object(pairs)")
        w.dedent()
        w("}")
        w.dedent()
        w("}")
        for n in m.nested_type:
            self.gen_message_json(w, n, full + "." + n.name)

    # -- enums ---------------------------------------------------------------

    def gen_enum(self, w, e, full, loc_path):
        name = self.reg.enums[full][2].split(".")[-1]
        doc_comment(w, self.locations.get(tuple(loc_path)))
        w("public enum %s: Sendable, Hashable, CaseIterable {" % name)
        w.indent()
        for i, v in enumerate(e.value):
            doc_comment(w, self.locations.get(tuple(loc_path + [2, i])))
            w("case %s" % enum_case_name(e.name, v.name))
        w("/// A value this build does not know (proto3 enums are open).")
        w("case unrecognized(Int32)")
        w()
        w("public static let allCases: [%s] = [%s]" % (
            name, ", ".join("." + enum_case_name(e.name, v.name) for v in e.value)))
        w()
        w("public init(rawValue: Int32) {")
        w("    switch rawValue {")
        seen = set()
        for v in e.value:
            if v.number in seen:
                continue
            seen.add(v.number)
            w("    case %d: self = .%s" % (v.number, enum_case_name(e.name, v.name)))
        w("    default: self = .unrecognized(rawValue)")
        w("    }")
        w("}")
        w()
        w("public var rawValue: Int32 {")
        w("    switch self {")
        for v in e.value:
            w("    case .%s: return %d" % (enum_case_name(e.name, v.name), v.number))
        w("    case .unrecognized(let v): return v")
        w("    }")
        w("}")
        w()
        w("/// The value's name in the .proto file.")
        w("public var protoName: String {")
        w("    switch self {")
        for v in e.value:
            w('    case .%s: return "%s"' % (enum_case_name(e.name, v.name), v.name))
        w('    case .unrecognized(let v): return String(v)')
        w("    }")
        w("}")
        w.dedent()
        w("}")

    # -- services ------------------------------------------------------------

    def gen_service(self, w, s, index):
        full_service = self.f.package + "." + s.name
        kinds = {
            (False, False): "unary", (True, False): "clientStreaming",
            (False, True): "serverStreaming", (True, True): "bidirectionalStreaming",
        }
        w()
        w("extension %s {" % self.ns)
        w.indent()
        doc_comment(w, self.locations.get((6, index)))
        w("public enum %s {" % s.name)
        w.indent()
        w('public static let serviceName = "%s"' % full_service)
        w()
        w("/// The service's methods.")
        w("public enum Method {")
        w.indent()
        for m in s.method:
            kind = kinds[(m.client_streaming, m.server_streaming)]
            w('public static let %s = MethodDescriptor(service: serviceName, method: "%s", kind: .%s)' % (
                lower_camel(camel_to_lower(m.name)), m.name, kind))
        w("public static let all: [MethodDescriptor] = [%s]" % ", ".join(
            lower_camel(camel_to_lower(m.name)) for m in s.method))
        w.dedent()
        w("}")
        # server protocol
        w()
        w("/// Implement this to serve `%s`; `registerRoutes(with:)` adds it to a router." % full_service)
        w("public protocol ServiceProtocol: Sendable {")
        w.indent()
        for j, m in enumerate(s.method):
            req = self.reg.messages[m.input_type][2]
            resp = self.reg.messages[m.output_type][2]
            fn = lower_camel(camel_to_lower(m.name))
            doc_comment(w, self.locations.get((6, index, 2, j)))
            if not m.client_streaming and not m.server_streaming:
                w("func %s(request: %s, context: ServerContext) async throws -> %s" % (fn, req, resp))
            elif m.client_streaming and not m.server_streaming:
                w("func %s(requests: RPCAsyncSequence<%s>, context: ServerContext) async throws -> %s" % (fn, req, resp))
            elif not m.client_streaming and m.server_streaming:
                w("func %s(request: %s, response: RPCWriter<%s>, context: ServerContext) async throws" % (fn, req, resp))
            else:
                w("func %s(requests: RPCAsyncSequence<%s>, response: RPCWriter<%s>, context: ServerContext) async throws" % (fn, req, resp))
        w.dedent()
        w("}")
        w()
        # client
        w("/// A typed client of `%s` over any client transport." % full_service)
        w("public struct Client: Sendable {")
        w.indent()
        w("public let rpc: RPCClient")
        w()
        w("public init(_ rpc: RPCClient) {")
        w("    self.rpc = rpc")
        w("}")
        for m in s.method:
            req = self.reg.messages[m.input_type][2]
            resp = self.reg.messages[m.output_type][2]
            fn = lower_camel(camel_to_lower(m.name))
            md = "Method.%s" % fn
            w()
            if not m.client_streaming and not m.server_streaming:
                w("public func %s(_ request: %s, options: CallOptions = .defaults) async throws -> %s {" % (fn, req, resp))
                w("    try await rpc.unary(%s, request: request, options: options)" % md)
                w("}")
            elif m.client_streaming and not m.server_streaming:
                w("public func %s(options: CallOptions = .defaults, requests: @Sendable (RPCWriter<%s>) async throws -> Void) async throws -> %s {" % (fn, req, resp))
                w("    try await rpc.clientStreaming(%s, options: options, requests: requests)" % md)
                w("}")
            elif not m.client_streaming and m.server_streaming:
                w("public func %s<Result: Sendable>(_ request: %s, options: CallOptions = .defaults, onResponse: (RPCAsyncSequence<%s>) async throws -> Result) async throws -> Result {" % (fn, req, resp))
                w("    try await rpc.serverStreaming(%s, request: request, options: options, onResponse: onResponse)" % md)
                w("}")
            else:
                w("public func %s<Result: Sendable>(options: CallOptions = .defaults, requests: @escaping @Sendable (RPCWriter<%s>) async throws -> Void, onResponse: (RPCAsyncSequence<%s>) async throws -> Result) async throws -> Result {" % (fn, req, resp))
                w("    try await rpc.bidirectionalStreaming(%s, options: options, requests: requests, onResponse: onResponse)" % md)
                w("}")
        w.dedent()
        w("}")
        w.dedent()
        w("}")
        w.dedent()
        w("}")
        # route registration
        w()
        w("extension %s.%s.ServiceProtocol {" % (self.ns, s.name))
        w.indent()
        w("/// Adds every method of the service to `router`.")
        w("public func registerRoutes(with router: inout RPCRouter) {")
        w.indent()
        for m in s.method:
            req = self.reg.messages[m.input_type][2]
            resp = self.reg.messages[m.output_type][2]
            fn = lower_camel(camel_to_lower(m.name))
            md = "%s.%s.Method.%s" % (self.ns, s.name, fn)
            if not m.client_streaming and not m.server_streaming:
                w("router.registerUnary(%s, %s.self, %s.self) { try await self.%s(request: $0, context: $1) }" % (md, req, resp, fn))
            elif m.client_streaming and not m.server_streaming:
                w("router.registerClientStreaming(%s, %s.self, %s.self) { try await self.%s(requests: $0, context: $1) }" % (md, req, resp, fn))
            elif not m.client_streaming and m.server_streaming:
                w("router.registerServerStreaming(%s, %s.self, %s.self) { try await self.%s(request: $0, response: $1, context: $2) }" % (md, req, resp, fn))
            else:
                w("router.registerBidirectionalStreaming(%s, %s.self, %s.self) { try await self.%s(requests: $0, response: $1, context: $2) }" % (md, req, resp, fn))
        w.dedent()
        w("}")
        w.dedent()
        w("}")

    # -- file ----------------------------------------------------------------

    def generate(self):
        w = Writer()
        w("// DO NOT EDIT. Generated by scripts/swift_messages_gen.py from %s." % self.f.name)
        w("// Regenerate with scripts/generate-protos.sh.")
        w()
        w("import CProtos")
        w("import RPCCore")
        w()
        if self.f.message_type or self.f.enum_type:
            w("extension %s {" % self.ns)
            w.indent()
            first = True
            for i, e in enumerate(self.f.enum_type):
                if not first:
                    w()
                first = False
                self.gen_enum(w, e, "." + self.f.package + "." + e.name, [5, i])
            for i, m in enumerate(self.f.message_type):
                if not first:
                    w()
                first = False
                self.gen_message(w, m, "." + self.f.package + "." + m.name, [4, i])
            w.dedent()
            w("}")
            for m in self.f.message_type:
                self.gen_message_conversion(w, m, "." + self.f.package + "." + m.name)
            for m in self.f.message_type:
                self.gen_message_json(w, m, "." + self.f.package + "." + m.name)
        for i, s in enumerate(self.f.service):
            self.gen_service(w, s, i)
        return w.text()


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as fh:
        fds.ParseFromString(fh.read())
    reg = Registry(fds)
    out_dir = sys.argv[2]
    wanted = set(sys.argv[3:])
    for f in fds.file:
        if f.name not in wanted:
            continue
        text = FileGenerator(reg, f).generate()
        path = os.path.join(out_dir, re.sub(r"\.proto$", ".pb.swift", f.name).replace("/", "_"))
        with open(path, "w") as fh:
            fh.write(text)
    # The namespaces themselves.
    lines = ["// DO NOT EDIT. Generated by scripts/swift_messages_gen.py.", ""]
    for pkg in sorted(NAMESPACES, key=lambda p: NAMESPACES[p]):
        if any(f.package == pkg for f in fds.file if f.name in wanted):
            lines.append("/// Messages, enums and services of proto package `%s`." % pkg)
            lines.append("public enum %s {}" % NAMESPACES[pkg])
            lines.append("")
    with open(os.path.join(out_dir, "Namespaces.pb.swift"), "w") as fh:
        fh.write("\n".join(lines))
    write_descriptors(fds, wanted, os.path.join(out_dir, "Descriptors.pb.swift"))


def write_descriptors(fds, wanted, path):
    """Every generated .proto file's FileDescriptorProto (source info stripped),
    and where each symbol is defined, for server reflection."""
    import base64

    files = [f for f in fds.file if f.name in wanted or any(f.name in g.dependency for g in fds.file if g.name in wanted)]
    symbols = {}

    def add_messages(prefix, messages, file_name):
        for m in messages:
            name = prefix + "." + m.name
            symbols[name] = file_name
            add_messages(name, m.nested_type, file_name)
            for e in m.enum_type:
                symbols[name + "." + e.name] = file_name

    lines = ["// DO NOT EDIT. Generated by scripts/swift_messages_gen.py.", "",
             "/// The descriptors of every .proto file compiled in, for server reflection.",
             "public enum ProtoDescriptors {",
             "    /// Each file: its name, the files it imports, and its FileDescriptorProto",
             "    /// (serialized, base64, without source info).",
             "    public static let files: [(name: String, dependencies: [String], descriptor: String)] = ["]
    for f in sorted(files, key=lambda f: f.name):
        copy = descriptor_pb2.FileDescriptorProto()
        copy.CopyFrom(f)
        copy.ClearField("source_code_info")
        encoded = base64.b64encode(copy.SerializeToString()).decode()
        deps = ", ".join('"%s"' % d for d in f.dependency)
        lines.append('        ("%s", [%s], "%s"),' % (f.name, deps, encoded))
        prefix = f.package
        add_messages(prefix, f.message_type, f.name)
        for e in f.enum_type:
            symbols[prefix + "." + e.name] = f.name
        for svc in f.service:
            symbols[prefix + "." + svc.name] = f.name
            for method in svc.method:
                symbols[prefix + "." + svc.name + "." + method.name] = f.name
    lines.append("    ]")
    lines.append("")
    lines.append("    /// Fully qualified services, methods, messages and enums, and the file of each.")
    lines.append("    public static let symbols: [String: String] = [")
    for name in sorted(symbols):
        lines.append('        "%s": "%s",' % (name, symbols[name]))
    lines.append("    ]")
    lines.append("}")
    lines.append("")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()

/// Prepared rows of one import, ready to apply: every value in one byte buffer,
/// addressed by ranges, so a batch of thousands of rows is a handful of arrays.
public struct RowBatch: Sendable {
    /// Values per row: the 17 contact fields, then the email key.
    public static let slots = ContactField.allCases.count + 1
    public static let emailKeySlot = ContactField.allCases.count

    /// Trimmed, unescaped UTF-8 values.
    public var bytes: [UInt8] = []
    /// Data row number (1 = the first row after the header).
    public var rowNumbers: [Int] = []
    /// Byte offset of each row in the spooled file.
    public var offsets: [Int64] = []
    /// Per row, `slots` pairs of (start, length) into `bytes`; length 0 = empty.
    public var ranges: [Int32] = []
    /// Rows that failed (index in the batch -> errors); the rest are valid.
    public var failures: [Int: [RowError]] = [:]
    /// Where reading continues after this batch (the checkpoint).
    public var nextOffset: Int64 = 0

    public init() {}

    public var count: Int { rowNumbers.count }
    public var hasFailures: Bool { !failures.isEmpty }
    public var isEmpty: Bool { rowNumbers.isEmpty }

    // Inlinable: the store reads a row's ranges a score of times per row.
    @inlinable
    public func range(_ row: Int, _ slot: Int) -> Range<Int> {
        let base = (row * RowBatch.slots + slot) * 2
        let start = Int(ranges[base])
        return start..<(start + Int(ranges[base + 1]))
    }

    @inlinable
    public func range(_ row: Int, _ field: ContactField) -> Range<Int> { range(row, field.rawValue) }

    public func value(_ row: Int, _ field: ContactField) -> ArraySlice<UInt8> { bytes[range(row, field)] }

    public func string(_ row: Int, _ field: ContactField) -> String? {
        let r = range(row, field)
        return r.isEmpty ? nil : String(decoding: bytes[r], as: UTF8.self)
    }

    public func emailKey(_ row: Int) -> ArraySlice<UInt8> { bytes[range(row, RowBatch.emailKeySlot)] }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        rowNumbers.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        failures.removeAll(keepingCapacity: true)
    }
}

/// Turns CSV records into batch rows: maps columns, trims, checks encoding,
/// lengths, formats and required fields. Row numbering and blank-line skipping
/// live here so every pass over a file (upload count, processing, resume) agrees.
public struct RowPreparer: Sendable {
    public let mapping: HeaderMapping
    /// Column index per field slot (-1 when the field has no column).
    private let columnOfField: [Int]

    public init(mapping: HeaderMapping) {
        self.mapping = mapping
        var columns = [Int](repeating: -1, count: ContactField.allCases.count)
        for (index, field) in mapping.columns.enumerated() {
            if let field { columns[field.rawValue] = index }
        }
        self.columnOfField = columns
    }

    /// A record that is no row at all: every field empty or white space.
    public static func isBlank<S>(_ reader: CSVReader<S>) -> Bool {
        if reader.problem != nil { return false }
        for i in 0..<reader.fieldCount where !reader.rawField(i).allSatisfy(FieldRules.isWhitespace) {
            return false
        }
        return true
    }

    /// Appends the reader's current record to `batch` as row `rowNumber`.
    /// Returns the row's index in the batch; failures are recorded in the batch.
    @discardableResult
    public func append<S>(_ reader: CSVReader<S>, rowNumber: Int, to batch: inout RowBatch) -> Int {
        let index = batch.count
        batch.rowNumbers.append(rowNumber)
        batch.offsets.append(reader.recordOffset)
        // The row's ranges are set in a buffer of their own and appended at
        // the end: one append, not a checked store into the batch per value.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: RowBatch.slots * 2) { ranges in
            ranges.initialize(repeating: 0)
            if let errors = fill(reader, ranges, &batch) { batch.failures[index] = errors }
            batch.ranges.append(contentsOf: ranges)
        }
        return index
    }

    /// Appends the record's values to `batch.bytes` and sets their ranges;
    /// the row's errors, if any.
    private func fill<S>(_ reader: CSVReader<S>, _ ranges: UnsafeMutableBufferPointer<Int32>, _ batch: inout RowBatch) -> [RowError]? {
        if let problem = reader.problem {
            return [RowError(code: .malformedRow, column: "", message: problem.message)]
        } else if reader.fieldCount != mapping.header.count {
            return [RowError(code: .malformedRow, column: "",
                message: "the row has \(reader.fieldCount) field\(reader.fieldCount == 1 ? "" : "s"), the header has \(mapping.header.count)")]
        }
        var errors: [RowError] = []
        // The record is copied once; each value is a range of the copy (a
        // field with doubled quotes is undone into a copy of its own after it).
        let shift = reader.appendRawFields(to: &batch.bytes)
        for field in ContactField.all {
            let column = columnOfField[field.rawValue]
            guard column >= 0 else { continue }
            let start: Int
            let end: Int
            if reader.isEscaped(column) {
                start = batch.bytes.count
                reader.appendField(column, to: &batch.bytes)
                end = batch.bytes.count
            } else {
                let raw = reader.rawRange(column)
                (start, end) = (raw.lowerBound + shift, raw.upperBound + shift)
            }
            let (lower, upper) = batch.bytes.withUnsafeBufferPointer { bytes in
                // Trim.
                var lower = start
                var upper = end
                while lower < upper && FieldRules.isWhitespace(bytes[lower]) { lower += 1 }
                while upper > lower && FieldRules.isWhitespace(bytes[upper - 1]) { upper -= 1 }
                // A formula-looking value that an error export neutralized ('=...):
                // the apostrophe goes, so a fix-and-upload round trip keeps the value.
                if upper - lower >= 2 && bytes[lower] == UInt8(ascii: "'") && CSVWriter.startsFormula(bytes[lower + 1]) {
                    lower += 1
                    while lower < upper && FieldRules.isWhitespace(bytes[lower]) { lower += 1 }
                }
                return (lower, upper)
            }
            if let error = Self.check(field, batch.bytes[lower..<upper], column: column, of: mapping.header) {
                errors.append(error)
            }
            ranges[field.rawValue * 2] = Int32(lower)
            ranges[field.rawValue * 2 + 1] = Int32(upper - lower)
        }
        // Required fields.
        for field in [ContactField.firstName, .lastName] {
            if ranges[field.rawValue * 2 + 1] == 0 && !errors.contains(where: { $0.column == mapping.columnName(for: field) }) {
                errors.append(RowError(code: .missingRequired, column: mapping.columnName(for: field), message: "\(field.name) is required"))
            }
        }
        let contactPoints = ContactField.contactPoints
        if contactPoints.allSatisfy({ ranges[$0.rawValue * 2 + 1] == 0 }) {
            let columns = contactPoints.compactMap { mapping.column(for: $0).map { mapping.header[$0] } }
            errors.append(RowError(code: .missingRequired, column: columns.joined(separator: "/"),
                message: "at least one of email, phone or mobile is required"))
        }
        // The email key.
        let email = ContactField.email.rawValue * 2
        let emailRange = Int(ranges[email])..<Int(ranges[email] + ranges[email + 1])
        if !emailRange.isEmpty && errors.isEmpty {
            let keyStart = batch.bytes.count
            FieldRules.appendEmailKey(of: emailRange, in: &batch.bytes)
            ranges[RowBatch.emailKeySlot * 2] = Int32(keyStart)
            ranges[RowBatch.emailKeySlot * 2 + 1] = Int32(batch.bytes.count - keyStart)
        }
        return errors.isEmpty ? nil : errors
    }

    /// The first problem of one trimmed value, if any; `header[column]` names it.
    static func check(_ field: ContactField, _ value: ArraySlice<UInt8>, column: Int, of header: [String]) -> RowError? {
        if value.isEmpty { return nil }
        // One pass: any byte past ASCII, any NUL.
        var high: UInt8 = 0
        var nul = false
        value.withUnsafeBufferPointer { bytes in
            for b in bytes {
                high |= b
                nul = nul || b == 0
            }
        }
        let ascii = high < 0x80
        if !ascii && !FieldRules.isValidUTF8(value) {
            let columnName = header[column]
            return RowError(code: .invalidEncoding, column: columnName,
                message: "\(columnName) is not valid UTF-8; if the file was saved as windows-1252 or iso-8859-1, upload it with that encoding")
        }
        if nul {
            // Valid UTF-8, but no use in a contact and cut short by every C string on the way out.
            let columnName = header[column]
            return RowError(code: .invalidEncoding, column: columnName, message: "\(columnName) contains a NUL byte")
        }
        let length = ascii ? value.count : FieldRules.characterCount(value)
        if length > field.maxLength {
            let columnName = header[column]
            return RowError(code: .valueTooLong, column: columnName,
                message: "\(columnName) is \(length) characters long; the limit is \(field.maxLength)")
        }
        switch field {
        case .email where !FieldRules.isValidEmail(value):
            return RowError(code: .invalidEmail, column: header[column], message: "\"\(Self.quoted(value))\" is not a valid email address")
        case .phone where !FieldRules.isValidPhone(value), .mobile where !FieldRules.isValidPhone(value):
            return RowError(code: .invalidPhone, column: header[column],
                message: "\"\(Self.quoted(value))\" is not a valid phone number (6 to 20 digits, optional leading +)")
        case .birthDate where !FieldRules.isValidDate(value):
            return RowError(code: .invalidDate, column: header[column], message: "\"\(Self.quoted(value))\" is not a valid date (YYYY-MM-DD)")
        default:
            return nil
        }
    }

    private static func quoted(_ value: ArraySlice<UInt8>) -> String {
        let text = String(decoding: value.prefix(80), as: UTF8.self)
        return value.count > 80 ? text + "…" : text
    }
}

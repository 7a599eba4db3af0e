/// Why a row failed, as the contract names it.
public enum RowErrorCode: String, Sendable, Hashable, CaseIterable {
    case missingRequired = "MISSING_REQUIRED"
    case invalidEmail = "INVALID_EMAIL"
    case invalidPhone = "INVALID_PHONE"
    case invalidDate = "INVALID_DATE"
    case valueTooLong = "VALUE_TOO_LONG"
    case duplicateInFile = "DUPLICATE_IN_FILE"
    case malformedRow = "MALFORMED_ROW"
    case invalidEncoding = "INVALID_ENCODING"
    /// Beyond the contract: the row's external_id matches one contact and its
    /// email belongs to another, so merging would make two contacts one.
    case conflictingContact = "CONFLICTING_CONTACT"
}

/// One problem of one row: the code, the column (as headed in the file) and a
/// sentence a person can act on.
public struct RowError: Sendable, Hashable {
    public var code: RowErrorCode
    public var column: String
    public var message: String

    public init(code: RowErrorCode, column: String, message: String) {
        self.code = code
        self.column = column
        self.message = message
    }
}

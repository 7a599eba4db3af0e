/// A contact field a CSV column can map to. Names are the contract's.
public enum ContactField: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// Every field, in order, made once: `allCases` builds a new array each
    /// time it is read, which per-row loops (a million rows) paid for.
    public static let all: [ContactField] = allCases

    case externalID, title, firstName, lastName, email, phone, mobile, address1, address2
    case city, state, postalCode, country, birthDate, gender, company, notes

    /// The field's name in the contract and in headers (`first_name`).
    public var name: String {
        switch self {
        case .externalID: return "external_id"
        case .title: return "title"
        case .firstName: return "first_name"
        case .lastName: return "last_name"
        case .email: return "email"
        case .phone: return "phone"
        case .mobile: return "mobile"
        case .address1: return "address1"
        case .address2: return "address2"
        case .city: return "city"
        case .state: return "state"
        case .postalCode: return "postal_code"
        case .country: return "country"
        case .birthDate: return "birth_date"
        case .gender: return "gender"
        case .company: return "company"
        case .notes: return "notes"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let field = ContactField.allCases.first(where: { $0.name == name }) else { return nil }
        self = field
    }

    /// Longest value in characters (Unicode scalars) before VALUE_TOO_LONG.
    public var maxLength: Int {
        switch self {
        case .notes: return 4000
        case .email: return 254
        default: return 255
        }
    }

    /// first_name and last_name are required; so is one of email, phone, mobile.
    public var isRequired: Bool { self == .firstName || self == .lastName }

    /// The fields of which a row needs at least one.
    public static let contactPoints: [ContactField] = [.email, .phone, .mobile]

    /// Other header spellings that mean this field (normalised: lower case, no
    /// spaces, dashes, underscores or dots).
    public var aliases: [String] {
        switch self {
        case .externalID: return ["externalid", "id", "contactid", "customerid", "crmid", "externalreference", "reference"]
        case .title: return ["title", "salutation", "honorific", "nameprefix"]
        case .firstName: return ["firstname", "givenname", "forename", "first", "fname"]
        case .lastName: return ["lastname", "surname", "familyname", "last", "lname"]
        case .email: return ["email", "emailaddress", "mail", "emailid"]
        case .phone: return ["phone", "phonenumber", "telephone", "tel", "homephone", "workphone", "landline"]
        case .mobile: return ["mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "cellular"]
        case .address1: return ["address1", "address", "addressline1", "street", "streetaddress"]
        case .address2: return ["address2", "addressline2", "apartment", "suite", "apt"]
        case .city: return ["city", "town", "locality"]
        case .state: return ["state", "province", "region", "county", "stateprovince"]
        case .postalCode: return ["postalcode", "zip", "zipcode", "postcode", "postal"]
        case .country: return ["country", "countrycode", "nation"]
        case .birthDate: return ["birthdate", "dateofbirth", "dob", "birthday"]
        case .gender: return ["gender", "sex"]
        case .company: return ["company", "companyname", "organization", "organisation", "employer"]
        case .notes: return ["notes", "note", "comments", "comment", "remarks"]
        }
    }

    /// Aliases as people write them, for the template and help.
    public var displayAliases: [String] {
        switch self {
        case .externalID: return ["ID", "Contact ID", "Customer ID", "CRM ID"]
        case .title: return ["Salutation", "Honorific"]
        case .firstName: return ["First Name", "Given Name", "Forename"]
        case .lastName: return ["Last Name", "Surname", "Family Name"]
        case .email: return ["E-mail", "Email Address", "Mail"]
        case .phone: return ["Phone Number", "Telephone", "Tel", "Home Phone"]
        case .mobile: return ["Mobile Phone", "Cell", "Cell Phone"]
        case .address1: return ["Address", "Address Line 1", "Street"]
        case .address2: return ["Address Line 2", "Apartment", "Suite"]
        case .city: return ["Town"]
        case .state: return ["Province", "Region", "County"]
        case .postalCode: return ["Zip", "Zip Code", "Postcode"]
        case .country: return ["Country Code"]
        case .birthDate: return ["Date of Birth", "DOB", "Birthday"]
        case .gender: return ["Sex"]
        case .company: return ["Company Name", "Organization", "Employer"]
        case .notes: return ["Note", "Comments", "Remarks"]
        }
    }

    /// What the field is, for the template.
    public var help: String {
        switch self {
        case .externalID: return "Your system's id for the contact; matched first when deduplicating. Up to 255 characters."
        case .title: return "Mr, Ms, Dr, ... Up to 255 characters."
        case .firstName: return "Required. Up to 255 characters."
        case .lastName: return "Required. Up to 255 characters."
        case .email: return "A valid address; at least one of email, phone or mobile is required. Matched case-insensitively when deduplicating. Up to 254 characters."
        case .phone: return "6 to 20 digits, optional leading +, spaces, dots, dashes and parentheses."
        case .mobile: return "6 to 20 digits, optional leading +, spaces, dots, dashes and parentheses."
        case .address1: return "Street and number. Up to 255 characters."
        case .address2: return "Apartment, suite, floor. Up to 255 characters."
        case .city: return "Up to 255 characters."
        case .state: return "State, province or region. Up to 255 characters."
        case .postalCode: return "Up to 255 characters."
        case .country: return "Country name or ISO code. Up to 255 characters."
        case .birthDate: return "YYYY-MM-DD (ISO 8601), a real calendar date."
        case .gender: return "Free text. Up to 255 characters."
        case .company: return "Up to 255 characters."
        case .notes: return "Free text, may span lines when quoted. Up to 4,000 characters."
        }
    }

    public var example: String {
        switch self {
        case .externalID: return "CRM-000123"
        case .title: return "Ms"
        case .firstName: return "María"
        case .lastName: return "García"
        case .email: return "maria.garcia@example.org"
        case .phone: return "+34 91 123 4567"
        case .mobile: return "+34 612 345 678"
        case .address1: return "Calle Mayor 12"
        case .address2: return "3º B"
        case .city: return "Madrid"
        case .state: return "Madrid"
        case .postalCode: return "28013"
        case .country: return "ES"
        case .birthDate: return "1985-04-23"
        case .gender: return "female"
        case .company: return "Wanderlust Travel"
        case .notes: return "Prefers window seats"
        }
    }
}

/// A header normalised for matching: lower case, without spaces, dashes,
/// underscores and dots ("E-mail Address" -> "emailaddress").
public func normalizedHeader(_ header: String) -> String {
    String(header.lowercased().unicodeScalars.filter { !" -_.\t".unicodeScalars.contains($0) && !$0.properties.isWhitespace }.map(Character.init))
}

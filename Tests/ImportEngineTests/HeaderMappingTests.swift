import ImportEngine
import Testing

@Suite struct HeaderMappingTests {
    @Test(arguments: [
        ("E-mail", ContactField.email), ("Email Address", .email), ("EMAIL", .email), ("Zip", .postalCode),
        ("Postcode", .postalCode), ("DOB", .birthDate), ("Date of Birth", .birthDate), ("Surname", .lastName),
        ("Given Name", .firstName), ("first_name", .firstName), ("First-Name", .firstName), ("  Last Name ", .lastName),
        ("Mobile Phone", .mobile), ("Company", .company), ("external_id", .externalID), ("Address Line 2", .address2),
    ])
    func aliasesAndSpellingsMap(header: String, field: ContactField) throws {
        // The required columns, with the one for `field` spelled as `header`.
        var columns = ["first name": ContactField.firstName, "last name": .lastName, "email": .email]
            .filter { $0.value != field }.map(\.key).sorted()
        columns.append(header)
        let mapping = try HeaderMapping.resolve(header: columns, columnMap: [:], ignoreUnknownColumns: false)
        #expect(mapping.columns.last == field)
    }

    @Test func unknownColumnIsRefusedWithTheClosestField() {
        #expect(throws: HeaderProblems.self) {
            try HeaderMapping.resolve(header: ["first_name", "last_name", "emial", "Frequent Flyer"], columnMap: [:], ignoreUnknownColumns: false)
        }
        do {
            _ = try HeaderMapping.resolve(header: ["first_name", "last_name", "emial", "Frequent Flyer"], columnMap: [:], ignoreUnknownColumns: false)
        } catch {
            #expect(error.problems.contains(.unknownColumn(column: "emial", suggestion: .email)))
            #expect(error.problems.contains(.unknownColumn(column: "Frequent Flyer", suggestion: nil)))
            // No email column: the contact-point rule fails too, in the same answer.
            #expect(error.problems.contains(.missingContactPoint))
            #expect(error.description.contains("did you mean email?"))
        }
    }

    @Test(arguments: [("emial", ContactField.email), ("Frist Name", .firstName), ("phne", .phone), ("Surename", .lastName),
                      ("zipcod", .postalCode), ("Loyalty", nil), ("Frequent Flyer", nil), ("notez", .notes)])
    func suggestionsCatchTyposNotLookalikes(header: String, expected: ContactField?) {
        #expect(HeaderMapping.closestField(to: header) == expected)
    }

    @Test func ignoreUnknownColumnsAndColumnMap() throws {
        let ignoring = try HeaderMapping.resolve(header: ["first_name", "last_name", "email", "Loyalty Tier"], columnMap: [:], ignoreUnknownColumns: true)
        #expect(ignoring.columns == [.firstName, .lastName, .email, nil])
        let mapped = try HeaderMapping.resolve(
            header: ["Vorname", "Nachname", "Mail", "Junk"], columnMap: ["Vorname": "first_name", "Nachname": "last_name", "Junk": ""],
            ignoreUnknownColumns: false)
        #expect(mapped.columns == [.firstName, .lastName, .email, nil])
    }

    @Test func missingRequiredAndDuplicateMappingsAreReported() {
        do {
            _ = try HeaderMapping.resolve(header: ["first_name", "Email", "E-mail"], columnMap: [:], ignoreUnknownColumns: false)
            Issue.record("expected refusal")
        } catch {
            #expect(error.problems.contains(.missingRequired(field: .lastName)))
            #expect(error.problems.contains(.duplicateField(field: .email, columns: ["Email", "E-mail"])))
        }
    }

    @Test func columnMapToAnUnknownFieldIsRefused() {
        do {
            _ = try HeaderMapping.resolve(header: ["first_name", "last_name", "email", "x"], columnMap: ["x": "emial"], ignoreUnknownColumns: false)
            Issue.record("expected refusal")
        } catch {
            #expect(error.problems == [.unknownMapTarget(column: "x", field: "emial", suggestion: .email)])
        }
    }
}


import ImportEngine
import Testing

@Suite struct FieldRulesTests {
    private func bytes(_ s: String) -> ArraySlice<UInt8> { ArraySlice(s.utf8) }

    @Test(arguments: [
        "a@b.co", "john.smith@example.org", "o'brien+tag@mail.example.co.uk", "x_y-z@sub-domain.example.travel",
        "josé@correo.es", "用户@例子.广告", "a@b-c.de",
    ])
    func validEmails(_ email: String) {
        #expect(FieldRules.isValidEmail(bytes(email)))
    }

    @Test(arguments: [
        "plainaddress", "@example.com", "john@", "john@localhost", "john@example", "john..smith@example.com",
        ".john@example.com", "john.@example.com", "john smith@example.com", "john@exa mple.com", "john@@example.com",
        "john@example..com", "john@-example.com", "john@example-.com", "john@example.c", "john@example.123",
        "john@example.com.", "jo(hn)@example.com",
    ])
    func invalidEmails(_ email: String) {
        #expect(!FieldRules.isValidEmail(bytes(email)))
    }

    @Test(arguments: ["+1 (555) 123-4567", "0044.20.7946.0958", "123456", "+12345678901234567890", "555-0100 12"])
    func validPhones(_ phone: String) {
        #expect(FieldRules.isValidPhone(bytes(phone)))
    }

    @Test(arguments: ["12345", "+123456789012345678901", "555-CALL-NOW", "1+234567", "123456 ext 7", "++123456"])
    func invalidPhones(_ phone: String) {
        #expect(!FieldRules.isValidPhone(bytes(phone)))
    }

    @Test(arguments: ["1985-04-23", "2000-02-29", "2024-02-29", "0001-01-01", "9999-12-31"])
    func validDates(_ date: String) {
        #expect(FieldRules.isValidDate(bytes(date)))
    }

    @Test(arguments: ["1900-02-29", "2023-02-29", "1990-02-30", "1990-13-01", "1990-04-31", "1990-01-32", "0000-00-00",
                      "1990-1-1", "90-01-01", "1990/01/01", "23.04.1985", "1985-04-23T00:00"])
    func invalidDates(_ date: String) {
        #expect(!FieldRules.isValidDate(bytes(date)))
    }

    @Test func utf8AndCharacterCounting() {
        #expect(FieldRules.isValidUTF8(bytes("Müller 日本 😀")))
        #expect(!FieldRules.isValidUTF8([0x4D, 0xFC, 0x6C]))  // windows-1252 ü
        #expect(!FieldRules.isValidUTF8([0xC0, 0xAF]))  // overlong
        #expect(!FieldRules.isValidUTF8([0xED, 0xA0, 0x80]))  // surrogate
        #expect(!FieldRules.isValidUTF8([0xF4, 0x90, 0x80, 0x80]))  // past U+10FFFF
        #expect(!FieldRules.isValidUTF8([0xE2, 0x82]))  // truncated
        #expect(FieldRules.characterCount(bytes("Müller 日本 😀")) == 11)
    }

    @Test func emailKeysFoldCase() {
        var out: [UInt8] = []
        FieldRules.appendEmailKey(bytes("John.Smith@Example.ORG"), to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "john.smith@example.org")
        out = []
        FieldRules.appendEmailKey(bytes("ÉLODIE@Exemple.FR"), to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "élodie@exemple.fr")
    }
}

@Suite struct RowPreparerTests {
    let mapping = try! HeaderMapping.resolve(
        header: ["First Name", "Last Name", "Email", "Phone", "DOB", "Notes"], columnMap: [:], ignoreUnknownColumns: false)

    private func prepare(_ rows: String) throws -> RowBatch {
        let text = "First Name,Last Name,Email,Phone,DOB,Notes\n" + rows
        var reader = CSVReader(source: MemorySource(text), delimiter: UInt8(ascii: ","))
        _ = try reader.next()
        let preparer = RowPreparer(mapping: mapping)
        var batch = RowBatch()
        var number = 0
        while try reader.next() {
            if RowPreparer.isBlank(reader) { continue }
            number += 1
            preparer.append(reader, rowNumber: number, to: &batch)
        }
        return batch
    }

    private func codes(_ batch: RowBatch, _ row: Int) -> [RowErrorCode] {
        (batch.failures[row] ?? []).map(\.code)
    }

    @Test func validRowIsTrimmedAndKeyed() throws {
        let batch = try prepare("  Ana , Pérez ,Ana.Perez@Example.ES, +34 600 000 000 ,1990-05-01,\"multi\nline\"\n")
        #expect(batch.count == 1)
        #expect(batch.failures.isEmpty)
        #expect(batch.string(0, .firstName) == "Ana")
        #expect(batch.string(0, .lastName) == "Pérez")
        #expect(batch.string(0, .phone) == "+34 600 000 000")
        #expect(batch.string(0, .notes) == "multi\nline")
        #expect(String(decoding: batch.emailKey(0), as: UTF8.self) == "ana.perez@example.es")
        #expect(batch.string(0, .city) == nil)
        // A quoted value with doubled quotes is undone; the values around it
        // are read from the record's one copy.
        let quoted = try prepare("Ana,\"O\"\"Neil \",ana@example.org,,,\"say \"\"hi\"\"\"\n")
        #expect(quoted.string(0, .firstName) == "Ana" && quoted.string(0, .lastName) == "O\"Neil")
        #expect(quoted.string(0, .email) == "ana@example.org" && quoted.string(0, .notes) == "say \"hi\"")
        #expect(quoted.failures.isEmpty)
        // Past ASCII the key is lower-cased by Unicode's rules, and the
        // email itself is left as it was.
        let accented = try prepare("Élodie,Durand,ÉLODIE.Durand@Exemple.FR,,,\n")
        #expect(String(decoding: accented.emailKey(0), as: UTF8.self) == "élodie.durand@exemple.fr")
        #expect(accented.string(0, .email) == "ÉLODIE.Durand@Exemple.FR")
    }

    @Test func everyRowErrorCode() throws {
        let long = String(repeating: "x", count: 4001)
        let batch = try prepare("""
            ,Smith,a@b.co,,,
            Ann,Smith,,,,
            Ann,Smith,not-an-email,,,
            Ann,Smith,,12,,
            Ann,Smith,a@b.co,,1990-02-30,
            Ann,Smith,a@b.co,,,\(long)
            Ann,Smith,a@b.co,,
            Ann,"Sm"ith,a@b.co,,,

            Ann,Smith,a@b.co,,,ok

            """)
        #expect(batch.count == 9, "the blank line is no row")
        #expect(codes(batch, 0) == [.missingRequired])
        #expect(batch.failures[0]?.first?.column == "First Name")
        #expect(codes(batch, 1) == [.missingRequired])
        #expect(batch.failures[1]?.first?.column == "Email/Phone")
        #expect(codes(batch, 2) == [.invalidEmail])
        #expect(codes(batch, 3) == [.invalidPhone])
        #expect(codes(batch, 4) == [.invalidDate])
        #expect(codes(batch, 5) == [.valueTooLong])
        #expect(batch.failures[5]?.first?.message == "Notes is 4001 characters long; the limit is 4000")
        #expect(codes(batch, 6) == [.malformedRow])
        #expect(codes(batch, 7) == [.malformedRow])
        #expect(codes(batch, 8) == [])
        #expect(batch.rowNumbers == Array(1...9))
    }

    @Test(arguments: [
        (Array("M".utf8) + [0xFC] + Array("ller,Smith,a@b.co,,,\n".utf8), "First Name", "First Name is not valid UTF-8"),
        (Array("Ann,Smith,a@b.co,,,call".utf8) + [0] + Array("me\n".utf8), "Notes", "Notes contains a NUL byte"),
    ])
    func badBytesAreInvalidEncoding(row: [UInt8], column: String, message: String) throws {
        let bytes = Array("First Name,Last Name,Email,Phone,DOB,Notes\n".utf8) + row
        var reader = CSVReader(source: MemorySource(bytes), delimiter: UInt8(ascii: ","))
        _ = try reader.next()
        _ = try reader.next()
        var batch = RowBatch()
        RowPreparer(mapping: mapping).append(reader, rowNumber: 1, to: &batch)
        #expect(codes(batch, 0) == [.invalidEncoding])
        #expect(batch.failures[0]?.first?.column == column)
        #expect(batch.failures[0]?.first?.message.hasPrefix(message) == true)
    }
}

import ArgumentParser

/// A duration on the command line: `15m`, `2s`, `500ms`, `1h`, `1h30m`.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let duration: Duration
    let description: String

    init?(argument: String) {
        var total = Duration.zero
        var number = ""
        var index = argument.startIndex
        var sawUnit = false
        while index < argument.endIndex {
            let c = argument[index]
            if c.isNumber {
                number.append(c)
                index = argument.index(after: index)
                continue
            }
            var unit = String(c)
            let next = argument.index(after: index)
            if c == "m", next < argument.endIndex, argument[next] == "s" { unit = "ms" }
            guard let value = Int64(number) else { return nil }
            switch unit {
            case "h": total += .seconds(value * 3600)
            case "m": total += .seconds(value * 60)
            case "s": total += .seconds(value)
            case "ms": total += .milliseconds(value)
            default: return nil
            }
            number = ""
            sawUnit = true
            index = argument.index(index, offsetBy: unit.count)
        }
        guard sawUnit, number.isEmpty, total > .zero else { return nil }
        self.duration = total
        self.description = argument
    }
}

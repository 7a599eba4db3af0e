import ArgumentParser
import ProtoMessages

@main
struct Importctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "importctl",
        abstract: "Import contacts and leads into importd from CSV files, and follow the imports.",
        discussion: """
            Every command takes the connection options (--server, --token, TLS) and --json.
            The server and token can also come from IMPORTCTL_SERVER and IMPORTCTL_TOKEN.

            Quick start:
              export IMPORTCTL_TOKEN=$(cat data/admin.token)
              importctl template -o contacts.csv          # the columns importd knows
              importctl campaigns create "Summer 2026" --code SUMMER26
              importctl upload contacts.csv --campaign cmp_1 --watch
              importctl summary imp_1 --group-by error    # what went wrong, grouped
              importctl errors imp_1 -o failed.csv        # fix these rows, upload again

            Exit status: 0 success; 1 the server refused the call (its gRPC status and
            message are printed) or could not be reached; 64 bad usage; 3 the watched import
            FAILED; 4 it was CANCELLED or REVERTED; 130 interrupted (Ctrl-C).
            """,
        version: ImportdVersion.string,
        subcommands: [
            Template.self, Campaigns.self, Subscriptions.self, Upload.self, Imports.self, Status.self, Watch.self,
            ControlCommand<Pause>.self, ControlCommand<Resume>.self, ControlCommand<Cancel>.self, Revert.self, Rows.self, Summary.self, Errors.self, Contact.self,
        ])
}

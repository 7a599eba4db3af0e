"""The end-to-end tests' thin grpcio helper: raw requests with the token, and
the stub at hand, for tests that poke at the wire (wrong fields, odd chunks,
exact statuses). Services use the real client, clients/python (importd_client).
"""
import hashlib
import os

import grpc

from importd_protos import imports_grpc, imports_pb2

CHUNK = 256 * 1024


class ImportdClient:
    def __init__(self, target, token=None, root_certificates=None, options=None):
        if root_certificates is not None:
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates), options=options or [])
        else:
            self.channel = grpc.insecure_channel(target, options=options or [])
        self.stub = imports_grpc.ImportServiceStub(self.channel)
        self.metadata = [("authorization", "Bearer " + token)] if token else []

    def close(self):
        self.channel.close()

    def call(self, method, request, **kwargs):
        """Calls a unary RPC by name with the token."""
        return getattr(self.stub, method)(request, metadata=self.metadata, **kwargs)

    def upload(self, source, chunk_size=CHUNK, with_sha256=True, timeout=None, **options):
        """Streams a file (a path or bytes) in chunks; returns the QUEUED ImportJob.
        `options` are UploadOptions fields (file_name, origin_campaign_id, ...)."""
        data = open(source, "rb").read() if isinstance(source, (str, os.PathLike)) else bytes(source)
        if with_sha256 and "sha256" not in options:
            options["sha256"] = hashlib.sha256(data).hexdigest()
        if isinstance(source, (str, os.PathLike)):
            options.setdefault("file_name", os.path.basename(source))

        def requests():
            yield imports_pb2.UploadContactsRequest(options=imports_pb2.UploadOptions(**options))
            for offset in range(0, len(data), chunk_size):
                yield imports_pb2.UploadContactsRequest(chunk=data[offset:offset + chunk_size])

        return self.stub.UploadContacts(requests(), metadata=self.metadata, timeout=timeout)

    def watch(self, import_id, **kwargs):
        """The import's snapshots: now, every change, the terminal one last."""
        return self.stub.WatchImport(imports_pb2.WatchImportRequest(import_id=import_id), metadata=self.metadata, **kwargs)

    def wait(self, import_id, timeout=120):
        """Watches until the import ends; returns the last snapshot."""
        last = None
        for last in self.watch(import_id, timeout=timeout):
            pass
        return last

    def rows(self, import_id, outcome=0, page_size=1000):
        """Every row result, following page tokens."""
        token = ""
        while True:
            page = self.call("ListImportRows", imports_pb2.ListImportRowsRequest(
                import_id=import_id, outcome=outcome, page_size=page_size, page_token=token))
            yield from page.rows
            token = page.next_page_token
            if not token:
                return

    def summary(self, import_id, group_by=0):
        response = self.call("SummarizeImport", imports_pb2.SummarizeImportRequest(import_id=import_id, group_by=group_by))
        return {g.key: g.count for g in response.groups}

    def errors_csv(self, import_id):
        return b"".join(chunk.data for chunk in self.stub.ExportImportErrors(
            imports_pb2.ExportImportErrorsRequest(import_id=import_id), metadata=self.metadata))


def bad_request_violations(error):
    """The google.rpc.BadRequest field violations of a failed call, as (field, description)."""
    from importd_client import errors

    return errors.from_rpc_error(error).violations

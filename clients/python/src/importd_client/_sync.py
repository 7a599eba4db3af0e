"""ImportClient: importd from blocking Python code."""
import time
from typing import Dict, Iterable, Iterator, Optional

import grpc

from . import _common as common
from . import errors
from . import import_service_pb2 as pb
from . import import_service_pb2_grpc as pb_grpc


class ImportClient:
    """A client of one importd. Thread-safe; close it (or use `with`) when done.

    `target` is "host:port"; `token` a bearer token (importd's admin.token or one
    from `importd token create`); `tls=True` (or grpc.ChannelCredentials, or
    `root_certificates`) for a TLS server; `compression=True` gzips uploads (a
    CSV shrinks 4-5x: worth it over a network). Unary calls have a default
    deadline of 30 s (`timeout=` on each call changes it); idempotent calls are
    retried with backoff while the server is UNAVAILABLE. Failures raise
    `importd_client.errors.ImportdError` subclasses (`NotFound`, ...)."""

    def __init__(self, target: str, token: Optional[str] = None, *, tls=False, root_certificates: Optional[bytes] = None,
                 compression: bool = False, options=None):
        creds = common.credentials(tls, root_certificates)
        channel_options = common.CHANNEL_OPTIONS + list(options or [])
        self._channel = (grpc.secure_channel(target, creds, options=channel_options) if creds
                         else grpc.insecure_channel(target, options=channel_options))
        self._stub = pb_grpc.ImportServiceStub(self._channel)
        self._metadata = common.metadata(token)
        self._compression = grpc.Compression.Gzip if compression else None

    def close(self) -> None:
        """Closes the connection; calls in progress fail."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # MARK: - Plumbing

    def _call(self, method: str, request, *, timeout=common.UNARY_TIMEOUT, retry=False):
        attempts = common.RETRY_ATTEMPTS if retry else 1
        for attempt in range(attempts):
            try:
                return getattr(self._stub, method)(request, metadata=self._metadata, timeout=timeout)
            except grpc.RpcError as error:
                if retry and error.code() == grpc.StatusCode.UNAVAILABLE and attempt + 1 < attempts:
                    time.sleep(common.RETRY_BACKOFF * 2 ** attempt)
                    continue
                raise errors.from_rpc_error(error) from None

    def _pages(self, method: str, make_request, field: str, page_size: int, timeout):
        token = ""
        while True:
            page = self._call(method, make_request(page_size, token), timeout=timeout, retry=True)
            yield from getattr(page, field)
            token = page.next_page_token
            if not token:
                return

    # MARK: - Uploads

    def upload(self, source: common.Source, *, file_name: Optional[str] = None, kind=None, campaign: Optional[str] = None,
               subscriptions: Iterable[str] = (), on_duplicate=None, column_map: Optional[Dict[str, str]] = None,
               ignore_unknown_columns: bool = False, validate_only: bool = False, encoding: Optional[str] = None,
               chunk_size: int = common.CHUNK_SIZE, timeout: Optional[float] = None) -> pb.ImportJob:
        """Streams a CSV file and returns the QUEUED import.

        `source`: a path, a binary file object, bytes, or an iterable of bytes;
        it is read one chunk at a time (memory stays about one chunk). `kind`:
        "contact" or "lead"; `campaign`: a campaign id or code; `subscriptions`:
        ids or codes; `on_duplicate`: "update" or "skip"; `column_map`: CSV
        header -> field ("" ignores a column); `validate_only`: a dry run that
        starts at once; `encoding`: "utf-8", "windows-1252" or "iso-8859-1"
        (default: detected). The SHA-256 is computed while streaming and
        checked against what the server stored (`IntegrityError` otherwise)."""
        options = common.upload_options(source, file_name, kind, campaign, subscriptions, on_duplicate, column_map,
                                        ignore_unknown_columns, validate_only, encoding)
        stream = common.UploadStream(options, source, chunk_size)
        try:
            job = self._stub.UploadContacts(iter(stream), metadata=self._metadata, timeout=timeout,
                                            compression=self._compression)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        if job.sha256 and job.sha256 != stream.sha256.hexdigest():
            self.cancel(job.id)
            raise errors.IntegrityError("the server stored a file with SHA-256 %s, %s was sent; import %s was cancelled"
                                        % (job.sha256, stream.sha256.hexdigest(), job.id))
        return job

    # MARK: - Following imports

    def watch(self, import_id: str, *, reconnect: bool = True) -> Iterator[pb.ImportJob]:
        """The import's snapshots: now, then every change, until it ends (the
        last one is COMPLETED, FAILED, CANCELLED or REVERTED). A lost connection
        (a server restart) is retried for up to 5 minutes, and the watch goes
        on from a fresh snapshot."""
        request = pb.WatchImportRequest(import_id=import_id)
        for job in self._reconnecting(lambda: self._stub.WatchImport(request, metadata=self._metadata), reconnect):
            yield job
            if job.state in common.TERMINAL:
                return

    def watch_all(self, states=(), *, reconnect: bool = True) -> Iterator[pb.ImportJob]:
        """Every import: those still going first, then each change, until closed."""
        request = pb.WatchImportsRequest(states=[common.state(s) for s in states])
        yield from self._reconnecting(lambda: self._stub.WatchImports(request, metadata=self._metadata), reconnect)

    def _reconnecting(self, open_stream, reconnect):
        """Yields a server stream's messages; after UNAVAILABLE, once something
        was received, opens it again (backing off 0.5 s to 5 s, for up to
        RECONNECT_PATIENCE). Leaving early cancels the call."""
        received = False
        lost_at = None
        delay = 0.5
        while True:
            call = open_stream()
            try:
                for message in call:
                    received, lost_at, delay = True, None, 0.5
                    yield message
                return
            except grpc.RpcError as error:
                if not (reconnect and received and error.code() == grpc.StatusCode.UNAVAILABLE):
                    raise errors.from_rpc_error(error) from None
                lost_at = lost_at or time.monotonic()
                if time.monotonic() - lost_at > common.RECONNECT_PATIENCE:
                    raise errors.from_rpc_error(error) from None
            finally:
                call.cancel()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def wait(self, import_id: str, *, timeout: Optional[float] = None) -> pb.ImportJob:
        """Watches until the import ends; returns its last snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        for last in self.watch(import_id):
            if deadline is not None and time.monotonic() > deadline:
                raise errors.DeadlineExceeded("import %s did not end within %s s" % (import_id, timeout))
        return last

    def get(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """One snapshot of an import."""
        return self._call("GetImport", pb.GetImportRequest(import_id=import_id), timeout=timeout, retry=True)

    def list_imports(self, states=(), *, page_size: int = 100, timeout=common.UNARY_TIMEOUT) -> Iterator[pb.ImportJob]:
        """Imports, newest first (optionally only in `states`, e.g. ["running"]), across pages."""
        wanted = [common.state(s) for s in states]
        return self._pages("ListImports", lambda size, token: pb.ListImportsRequest(
            page_size=size, page_token=token, states=wanted), "imports", page_size, timeout)

    def pause(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Pauses an import (it stops at a batch boundary)."""
        return self._call("PauseImport", pb.PauseImportRequest(import_id=import_id), timeout=timeout)

    def resume(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Resumes a paused import (it goes on at the next scheduled run)."""
        return self._call("ResumeImport", pb.ResumeImportRequest(import_id=import_id), timeout=timeout)

    def cancel(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Cancels an import; rows already imported stay (see `revert`)."""
        return self._call("CancelImport", pb.CancelImportRequest(import_id=import_id), timeout=timeout)

    def revert(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Undoes what an import wrote, except contacts later imports changed."""
        return self._call("RevertImport", pb.RevertImportRequest(import_id=import_id), timeout=timeout)

    # MARK: - Results

    def rows(self, import_id: str, outcome=None, *, page_size: int = 500, timeout=common.UNARY_TIMEOUT) -> Iterator[pb.ImportRow]:
        """Per-row results (optionally one `outcome`: "created", "updated",
        "skipped" or "failed"), with errors and values, across pages."""
        wanted = common.outcome(outcome)
        return self._pages("ListImportRows", lambda size, token: pb.ListImportRowsRequest(
            import_id=import_id, outcome=wanted, page_size=size, page_token=token), "rows", page_size, timeout)

    def summary(self, import_id: str, group_by="error", *, timeout=common.UNARY_TIMEOUT) -> Dict[str, int]:
        """Row counts grouped by "outcome", "error" or "column"."""
        response = self._call("SummarizeImport", pb.SummarizeImportRequest(
            import_id=import_id, group_by=common.group_by(group_by)), timeout=timeout, retry=True)
        return common.summary_dict(response)

    def export_errors(self, import_id: str, path, *, timeout=common.EXPORT_TIMEOUT) -> int:
        """Writes the failed rows as CSV (the file's columns and an `error`
        column) to `path`; returns the bytes written."""
        written = 0
        try:
            with open(path, "wb") as out:
                for chunk in self._stub.ExportImportErrors(pb.ExportImportErrorsRequest(import_id=import_id),
                                                           metadata=self._metadata, timeout=timeout):
                    out.write(chunk.data)
                    written += len(chunk.data)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
        return written

    def contact(self, contact_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.Contact:
        """A contact's profile: fields, kind, origin campaign, subscriptions, the imports that touched it."""
        return self._call("GetContact", pb.GetContactRequest(contact_id=contact_id), timeout=timeout, retry=True)

    def template(self, path=None, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportTemplate:
        """The header template (every field, one example row); written to `path` if given."""
        template = self._call("GetImportTemplate", pb.GetImportTemplateRequest(), timeout=timeout, retry=True)
        if path is not None:
            with open(path, "wb") as out:
                out.write(template.csv)
        return template

    # MARK: - Campaigns and subscriptions

    def campaigns(self, *, page_size: int = 100, timeout=common.UNARY_TIMEOUT) -> Iterator[pb.Campaign]:
        """Every campaign (origin), across pages."""
        return self._pages("ListCampaigns", lambda size, token: pb.ListCampaignsRequest(
            page_size=size, page_token=token), "campaigns", page_size, timeout)

    def subscriptions(self, *, page_size: int = 100, timeout=common.UNARY_TIMEOUT) -> Iterator[pb.Subscription]:
        """Every subscription (mailing list), across pages."""
        return self._pages("ListSubscriptions", lambda size, token: pb.ListSubscriptionsRequest(
            page_size=size, page_token=token), "subscriptions", page_size, timeout)

    def create_campaign(self, name: str, code: str = "", *, timeout=common.UNARY_TIMEOUT) -> pb.Campaign:
        """Creates a campaign (needs an admin token)."""
        return self._call("CreateCampaign", pb.CreateCampaignRequest(name=name, code=code), timeout=timeout)

    def create_subscription(self, name: str, code: str = "", *, timeout=common.UNARY_TIMEOUT) -> pb.Subscription:
        """Creates a subscription (needs an admin token)."""
        return self._call("CreateSubscription", pb.CreateSubscriptionRequest(name=name, code=code), timeout=timeout)

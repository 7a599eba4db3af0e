"""AsyncImportClient: importd from asyncio code (grpc.aio), the same calls as
ImportClient, as coroutines and async iterators."""
import asyncio
import time
from typing import AsyncIterator, Dict, Iterable, Optional

import grpc
import grpc.aio

from . import _common as common
from . import errors
from . import import_service_pb2 as pb
from . import import_service_pb2_grpc as pb_grpc


class AsyncImportClient:
    """ImportClient's asyncio twin: same arguments, same defaults (30 s unary
    deadlines, retries of idempotent calls while UNAVAILABLE, reconnecting
    watches), same exceptions. Use `async with`, or `await close()`."""

    def __init__(self, target: str, token: Optional[str] = None, *, tls=False, root_certificates: Optional[bytes] = None,
                 compression: bool = False, options=None):
        creds = common.credentials(tls, root_certificates)
        channel_options = common.CHANNEL_OPTIONS + list(options or [])
        self._channel = (grpc.aio.secure_channel(target, creds, options=channel_options) if creds
                         else grpc.aio.insecure_channel(target, options=channel_options))
        self._stub = pb_grpc.ImportServiceStub(self._channel)
        self._metadata = common.metadata(token)
        self._compression = grpc.Compression.Gzip if compression else None

    async def close(self) -> None:
        """Closes the connection; calls in progress fail."""
        await self._channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # MARK: - Plumbing

    async def _call(self, method: str, request, *, timeout=common.UNARY_TIMEOUT, retry=False):
        attempts = common.RETRY_ATTEMPTS if retry else 1
        for attempt in range(attempts):
            try:
                return await getattr(self._stub, method)(request, metadata=self._metadata, timeout=timeout)
            except grpc.aio.AioRpcError as error:
                if retry and error.code() == grpc.StatusCode.UNAVAILABLE and attempt + 1 < attempts:
                    await asyncio.sleep(common.RETRY_BACKOFF * 2 ** attempt)
                    continue
                raise errors.from_rpc_error(error) from None

    async def _pages(self, method: str, make_request, field: str, page_size: int, timeout):
        token = ""
        while True:
            page = await self._call(method, make_request(page_size, token), timeout=timeout, retry=True)
            for item in getattr(page, field):
                yield item
            token = page.next_page_token
            if not token:
                return

    # MARK: - Uploads

    async def upload(self, source: common.Source, *, file_name: Optional[str] = None, kind=None,
                     campaign: Optional[str] = None, subscriptions: Iterable[str] = (), on_duplicate=None,
                     column_map: Optional[Dict[str, str]] = None, ignore_unknown_columns: bool = False,
                     validate_only: bool = False, encoding: Optional[str] = None, chunk_size: int = common.CHUNK_SIZE,
                     timeout: Optional[float] = None) -> pb.ImportJob:
        """See ImportClient.upload. The source is read in chunks as they are sent."""
        options = common.upload_options(source, file_name, kind, campaign, subscriptions, on_duplicate, column_map,
                                        ignore_unknown_columns, validate_only, encoding)
        stream = common.UploadStream(options, source, chunk_size)
        try:
            job = await self._stub.UploadContacts(iter(stream), metadata=self._metadata, timeout=timeout,
                                                  compression=self._compression)
        except grpc.aio.AioRpcError as error:
            raise errors.from_rpc_error(error) from None
        if job.sha256 and job.sha256 != stream.sha256.hexdigest():
            await self.cancel(job.id)
            raise errors.IntegrityError("the server stored a file with SHA-256 %s, %s was sent; import %s was cancelled"
                                        % (job.sha256, stream.sha256.hexdigest(), job.id))
        return job

    # MARK: - Following imports

    async def watch(self, import_id: str, *, reconnect: bool = True) -> AsyncIterator[pb.ImportJob]:
        """See ImportClient.watch."""
        request = pb.WatchImportRequest(import_id=import_id)
        async for job in self._reconnecting(lambda: self._stub.WatchImport(request, metadata=self._metadata), reconnect):
            yield job
            if job.state in common.TERMINAL:
                return

    async def watch_all(self, states=(), *, reconnect: bool = True) -> AsyncIterator[pb.ImportJob]:
        """See ImportClient.watch_all."""
        request = pb.WatchImportsRequest(states=[common.state(s) for s in states])
        async for job in self._reconnecting(lambda: self._stub.WatchImports(request, metadata=self._metadata), reconnect):
            yield job

    async def _reconnecting(self, open_stream, reconnect):
        """Yields a server stream's messages, opening it again after UNAVAILABLE once something was received."""
        received = False
        lost_at = None
        delay = 0.5
        while True:
            call = open_stream()
            try:
                async for message in call:
                    received, lost_at, delay = True, None, 0.5
                    yield message
                return
            except grpc.aio.AioRpcError as error:
                if not (reconnect and received and error.code() == grpc.StatusCode.UNAVAILABLE):
                    raise errors.from_rpc_error(error) from None
                lost_at = lost_at or time.monotonic()
                if time.monotonic() - lost_at > common.RECONNECT_PATIENCE:
                    raise errors.from_rpc_error(error) from None
            finally:
                call.cancel()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def wait(self, import_id: str) -> pb.ImportJob:
        """Watches until the import ends; returns its last snapshot (wrap in asyncio.wait_for for a deadline)."""
        last = None
        async for last in self.watch(import_id):
            pass
        return last

    async def get(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """One snapshot of an import."""
        return await self._call("GetImport", pb.GetImportRequest(import_id=import_id), timeout=timeout, retry=True)

    def list_imports(self, states=(), *, page_size: int = 100, timeout=common.UNARY_TIMEOUT) -> AsyncIterator[pb.ImportJob]:
        """Imports, newest first (optionally only in `states`), fetched a page at a time as iterated."""
        wanted = [common.state(s) for s in states]
        return self._pages("ListImports", lambda size, token: pb.ListImportsRequest(
            page_size=size, page_token=token, states=wanted), "imports", page_size, timeout)

    async def pause(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Pauses an import (it stops at a batch boundary)."""
        return await self._call("PauseImport", pb.PauseImportRequest(import_id=import_id), timeout=timeout)

    async def resume(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Resumes a paused import (it goes on at the next scheduled run)."""
        return await self._call("ResumeImport", pb.ResumeImportRequest(import_id=import_id), timeout=timeout)

    async def cancel(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Cancels an import; rows already imported stay (see `revert`)."""
        return await self._call("CancelImport", pb.CancelImportRequest(import_id=import_id), timeout=timeout)

    async def revert(self, import_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportJob:
        """Undoes what an import wrote, except contacts later imports changed."""
        return await self._call("RevertImport", pb.RevertImportRequest(import_id=import_id), timeout=timeout)

    # MARK: - Results

    def rows(self, import_id: str, outcome=None, *, page_size: int = 500, timeout=common.UNARY_TIMEOUT) -> AsyncIterator[pb.ImportRow]:
        """Per-row results (optionally one `outcome`), fetched a page at a time as iterated."""
        wanted = common.outcome(outcome)
        return self._pages("ListImportRows", lambda size, token: pb.ListImportRowsRequest(
            import_id=import_id, outcome=wanted, page_size=size, page_token=token), "rows", page_size, timeout)

    async def summary(self, import_id: str, group_by="error", *, timeout=common.UNARY_TIMEOUT) -> Dict[str, int]:
        """Row counts grouped by "outcome", "error" or "column"."""
        response = await self._call("SummarizeImport", pb.SummarizeImportRequest(
            import_id=import_id, group_by=common.group_by(group_by)), timeout=timeout, retry=True)
        return common.summary_dict(response)

    async def export_errors(self, import_id: str, path, *, timeout=common.EXPORT_TIMEOUT) -> int:
        """Writes the failed rows as CSV to `path`; returns the bytes written."""
        written = 0
        try:
            with open(path, "wb") as out:
                async for chunk in self._stub.ExportImportErrors(pb.ExportImportErrorsRequest(import_id=import_id),
                                                                 metadata=self._metadata, timeout=timeout):
                    out.write(chunk.data)
                    written += len(chunk.data)
        except grpc.aio.AioRpcError as error:
            raise errors.from_rpc_error(error) from None
        return written

    async def contact(self, contact_id: str, *, timeout=common.UNARY_TIMEOUT) -> pb.Contact:
        """A contact's profile."""
        return await self._call("GetContact", pb.GetContactRequest(contact_id=contact_id), timeout=timeout, retry=True)

    async def template(self, path=None, *, timeout=common.UNARY_TIMEOUT) -> pb.ImportTemplate:
        """The header template; written to `path` if given."""
        template = await self._call("GetImportTemplate", pb.GetImportTemplateRequest(), timeout=timeout, retry=True)
        if path is not None:
            with open(path, "wb") as out:
                out.write(template.csv)
        return template

    # MARK: - Campaigns and subscriptions

    def campaigns(self, *, page_size: int = 100, timeout=common.UNARY_TIMEOUT) -> AsyncIterator[pb.Campaign]:
        """Every campaign, fetched a page at a time as iterated."""
        return self._pages("ListCampaigns", lambda size, token: pb.ListCampaignsRequest(
            page_size=size, page_token=token), "campaigns", page_size, timeout)

    def subscriptions(self, *, page_size: int = 100, timeout=common.UNARY_TIMEOUT) -> AsyncIterator[pb.Subscription]:
        """Every subscription, fetched a page at a time as iterated."""
        return self._pages("ListSubscriptions", lambda size, token: pb.ListSubscriptionsRequest(
            page_size=size, page_token=token), "subscriptions", page_size, timeout)

    async def create_campaign(self, name: str, code: str = "", *, timeout=common.UNARY_TIMEOUT) -> pb.Campaign:
        """Creates a campaign (needs an admin token)."""
        return await self._call("CreateCampaign", pb.CreateCampaignRequest(name=name, code=code), timeout=timeout)

    async def create_subscription(self, name: str, code: str = "", *, timeout=common.UNARY_TIMEOUT) -> pb.Subscription:
        """Creates a subscription (needs an admin token)."""
        return await self._call("CreateSubscription", pb.CreateSubscriptionRequest(name=name, code=code), timeout=timeout)

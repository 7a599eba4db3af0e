"""What the sync and asyncio clients share: requests built from plain Python
values, upload sources read in bounded chunks, deadlines, the retry policy."""
import hashlib
import os
from typing import Dict, Iterable, Iterator, Optional, Sequence, Union

import grpc

from . import import_service_pb2 as pb

#: Bytes per upload message (the server takes up to 4 MiB a message).
CHUNK_SIZE = 256 * 1024
#: Default deadline of unary calls, in seconds.
UNARY_TIMEOUT = 30.0
#: Default deadline of an error export, in seconds (it streams a file).
EXPORT_TIMEOUT = 300.0
#: Attempts of an idempotent call while the server is UNAVAILABLE, and the first backoff.
RETRY_ATTEMPTS = 4
RETRY_BACKOFF = 0.25
#: How long a watch keeps reconnecting after it lost its connection, in seconds.
RECONNECT_PATIENCE = 300.0
#: Keepalive: a quiet connection with calls open is pinged every 2 minutes
#: (importd permits one ping a minute).
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 120_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
]

TERMINAL = {pb.IMPORT_STATE_COMPLETED, pb.IMPORT_STATE_FAILED, pb.IMPORT_STATE_CANCELLED, pb.IMPORT_STATE_REVERTED}

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Iterable[bytes]]


def credentials(tls, root_certificates):
    """Channel credentials: None for h2c, else TLS (`tls` may be ChannelCredentials)."""
    if isinstance(tls, grpc.ChannelCredentials):
        return tls
    if tls or root_certificates is not None:
        return grpc.ssl_channel_credentials(root_certificates=root_certificates)
    return None


def _enum(prefix: str, value, enum_type) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return enum_type.Value(prefix + str(value).upper().replace("-", "_"))


def kind(value) -> int:
    return _enum("CONTACT_KIND_", value, pb.ContactKind)


def on_duplicate(value) -> int:
    return _enum("DUPLICATE_POLICY_", value, pb.DuplicatePolicy)


def outcome(value) -> int:
    return _enum("ROW_OUTCOME_", value, pb.RowOutcome)


def state(value) -> int:
    return _enum("IMPORT_STATE_", value, pb.ImportState)


def group_by(value) -> int:
    """"outcome", "error" (the error code) or "column"."""
    return _enum("GROUP_BY_", "error_code" if value == "error" else value, pb.GroupBy)


def upload_options(source, file_name, kind_, campaign, subscriptions, on_duplicate_, column_map,
                   ignore_unknown_columns, validate_only, encoding) -> pb.UploadOptions:
    if file_name is None and isinstance(source, (str, os.PathLike)):
        file_name = os.path.basename(os.fspath(source))
    if file_name is None:
        file_name = getattr(source, "name", None)
        file_name = os.path.basename(file_name) if isinstance(file_name, str) else "upload.csv"
    return pb.UploadOptions(
        file_name=file_name, kind=kind(kind_), origin_campaign_id=campaign or "",
        subscription_ids=list(subscriptions or ()), on_duplicate=on_duplicate(on_duplicate_),
        column_map=dict(column_map or {}), ignore_unknown_columns=ignore_unknown_columns,
        validate_only=validate_only, encoding=encoding or "")


def chunks(source: Source, chunk_size: int) -> Iterator[bytes]:
    """The source's bytes in chunks of at most `chunk_size`: a path is opened
    and read as it goes, a binary file is read as it goes, bytes are sliced, an
    iterable's pieces are split when too big. Memory stays one chunk."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield from chunks(f, chunk_size)
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for offset in range(0, len(view), chunk_size):
            yield bytes(view[offset:offset + chunk_size])
        return
    read = getattr(source, "read", None)
    if read is not None:
        while True:
            piece = read(chunk_size)
            if not piece:
                return
            yield bytes(piece)
    for piece in source:
        view = memoryview(piece)
        for offset in range(0, len(view), chunk_size):
            yield bytes(view[offset:offset + chunk_size])


class UploadStream:
    """The UploadContacts messages for one source: options first, then chunks,
    hashing as they go (the digest is compared with the server's afterwards)."""

    def __init__(self, options: pb.UploadOptions, source: Source, chunk_size: int):
        self.options = options
        self.source = source
        self.chunk_size = chunk_size
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def __iter__(self):
        yield pb.UploadContactsRequest(options=self.options)
        for chunk in chunks(self.source, self.chunk_size):
            self.sha256.update(chunk)
            self.bytes += len(chunk)
            yield pb.UploadContactsRequest(chunk=chunk)


def metadata(token: Optional[str]) -> Sequence:
    return (("authorization", "Bearer " + token.strip()),) if token else ()


def summary_dict(response: pb.SummarizeImportResponse) -> Dict[str, int]:
    return {group.key: group.count for group in response.groups}

"""importd's Python client: stream CSV uploads of contacts, follow imports
live, read their results. See README.md.

    from importd_client import ImportClient

    with ImportClient("127.0.0.1:50051", token=token) as client:
        job = client.upload("contacts.csv", campaign="SUMMER26", subscriptions=["NEWS"])
        final = client.wait(job.id)
"""
from . import errors
from . import import_service_pb2 as pb
from ._aio import AsyncImportClient
from ._sync import ImportClient
from .errors import (Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition, ImportdError,
                     IntegrityError, Internal, InvalidArgument, NotFound, OutOfRange, PermissionDenied,
                     ResourceExhausted, Unauthenticated, Unavailable, Unimplemented, Unknown)

#: The version of this package; its major version is the API's (softrip.marketing.imports.v1).
__version__ = "1.0.0"

__all__ = [
    "ImportClient", "AsyncImportClient", "pb", "errors", "ImportdError", "Aborted", "AlreadyExists", "Cancelled",
    "DataLoss", "DeadlineExceeded", "FailedPrecondition", "IntegrityError", "Internal", "InvalidArgument", "NotFound",
    "OutOfRange", "PermissionDenied", "ResourceExhausted", "Unauthenticated", "Unavailable", "Unimplemented", "Unknown",
]

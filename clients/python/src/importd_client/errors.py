"""Exceptions for failed calls: one class per gRPC status code, each carrying
the server's message, its field violations (google.rpc.BadRequest) and the
request id the server logged the call under (the `x-request-id` trailer)."""
from typing import List, Optional, Tuple

import grpc


class ImportdError(Exception):
    """A call to importd failed. `code` is the gRPC status code, `details` the
    server's message, `violations` the (field, description) pairs of a
    BadRequest, `request_id` what the server's log line for the call says."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str, *, code: Optional[grpc.StatusCode] = None,
                 violations: Optional[List[Tuple[str, str]]] = None, request_id: Optional[str] = None):
        super().__init__(details)
        if code is not None:
            self.code = code
        self.details = details
        self.violations = violations or []
        self.request_id = request_id

    def __str__(self):
        text = "%s: %s" % (self.code.name, self.details)
        if self.request_id:
            text += " (request id %s)" % self.request_id
        return text


class Cancelled(ImportdError):
    code = grpc.StatusCode.CANCELLED


class Unknown(ImportdError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(ImportdError):
    """The request or the file was refused; `violations` says which fields and why."""
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(ImportdError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(ImportdError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ImportdError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ImportdError):
    """The token's scope does not allow the call."""
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(ImportdError):
    """A limit was reached (size, concurrent uploads, disk): see the message."""
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ImportdError):
    """The import is not in a state that allows the call (e.g. resuming a completed one)."""
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(ImportdError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(ImportdError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(ImportdError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(ImportdError):
    """The server failed; quote `request_id` to its operator."""
    code = grpc.StatusCode.INTERNAL


class Unavailable(ImportdError):
    """The server cannot be reached or is shutting down; try again."""
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(ImportdError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(ImportdError):
    """No token, or an unknown or revoked one."""
    code = grpc.StatusCode.UNAUTHENTICATED


class IntegrityError(ImportdError):
    """The server stored a file whose SHA-256 differs from what was sent; the
    import was cancelled."""
    code = grpc.StatusCode.DATA_LOSS


_BY_CODE = {cls.code: cls for cls in [
    Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists, PermissionDenied,
    ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable,
    DataLoss, Unauthenticated]}


def from_status(code, details, trailing_metadata) -> ImportdError:
    """The exception for a failed call's status and trailers."""
    trailers = list(trailing_metadata or [])
    request_id = next((value for key, value in trailers if key == "x-request-id"), None)
    details_bin = next((value for key, value in trailers if key == "grpc-status-details-bin"), None)
    cls = _BY_CODE.get(code, ImportdError)
    return cls(details or "", code=code, violations=_violations(details_bin), request_id=request_id)


def from_rpc_error(error: grpc.RpcError) -> ImportdError:
    """The exception for a grpcio error (sync or asyncio)."""
    exception = from_status(error.code(), error.details(), error.trailing_metadata())
    exception.__cause__ = error
    return exception


def _violations(details_bin) -> List[Tuple[str, str]]:
    if not details_bin:
        return []
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status.FromString(details_bin)
    violations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
    return violations

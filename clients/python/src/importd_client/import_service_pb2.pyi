import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_KIND_UNSPECIFIED: _ClassVar[ContactKind]
    CONTACT_KIND_CONTACT: _ClassVar[ContactKind]
    CONTACT_KIND_LEAD: _ClassVar[ContactKind]

class DuplicatePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DUPLICATE_POLICY_UNSPECIFIED: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_UPDATE: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_SKIP: _ClassVar[DuplicatePolicy]

class ImportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_STATE_UNSPECIFIED: _ClassVar[ImportState]
    IMPORT_STATE_QUEUED: _ClassVar[ImportState]
    IMPORT_STATE_RUNNING: _ClassVar[ImportState]
    IMPORT_STATE_PAUSED: _ClassVar[ImportState]
    IMPORT_STATE_COMPLETED: _ClassVar[ImportState]
    IMPORT_STATE_FAILED: _ClassVar[ImportState]
    IMPORT_STATE_CANCELLED: _ClassVar[ImportState]
    IMPORT_STATE_REVERTED: _ClassVar[ImportState]

class RowOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_OUTCOME_UNSPECIFIED: _ClassVar[RowOutcome]
    ROW_OUTCOME_CREATED: _ClassVar[RowOutcome]
    ROW_OUTCOME_UPDATED: _ClassVar[RowOutcome]
    ROW_OUTCOME_SKIPPED: _ClassVar[RowOutcome]
    ROW_OUTCOME_FAILED: _ClassVar[RowOutcome]

class GroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_BY_UNSPECIFIED: _ClassVar[GroupBy]
    GROUP_BY_OUTCOME: _ClassVar[GroupBy]
    GROUP_BY_ERROR_CODE: _ClassVar[GroupBy]
    GROUP_BY_COLUMN: _ClassVar[GroupBy]
CONTACT_KIND_UNSPECIFIED: ContactKind
CONTACT_KIND_CONTACT: ContactKind
CONTACT_KIND_LEAD: ContactKind
DUPLICATE_POLICY_UNSPECIFIED: DuplicatePolicy
DUPLICATE_POLICY_UPDATE: DuplicatePolicy
DUPLICATE_POLICY_SKIP: DuplicatePolicy
IMPORT_STATE_UNSPECIFIED: ImportState
IMPORT_STATE_QUEUED: ImportState
IMPORT_STATE_RUNNING: ImportState
IMPORT_STATE_PAUSED: ImportState
IMPORT_STATE_COMPLETED: ImportState
IMPORT_STATE_FAILED: ImportState
IMPORT_STATE_CANCELLED: ImportState
IMPORT_STATE_REVERTED: ImportState
ROW_OUTCOME_UNSPECIFIED: RowOutcome
ROW_OUTCOME_CREATED: RowOutcome
ROW_OUTCOME_UPDATED: RowOutcome
ROW_OUTCOME_SKIPPED: RowOutcome
ROW_OUTCOME_FAILED: RowOutcome
GROUP_BY_UNSPECIFIED: GroupBy
GROUP_BY_OUTCOME: GroupBy
GROUP_BY_ERROR_CODE: GroupBy
GROUP_BY_COLUMN: GroupBy

class UploadOptions(_message.Message):
    __slots__ = ("file_name", "kind", "origin_campaign_id", "subscription_ids", "on_duplicate", "column_map", "ignore_unknown_columns", "validate_only", "sha256", "encoding")
    class ColumnMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    ON_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_MAP_FIELD_NUMBER: _ClassVar[int]
    IGNORE_UNKNOWN_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    kind: ContactKind
    origin_campaign_id: str
    subscription_ids: _containers.RepeatedScalarFieldContainer[str]
    on_duplicate: DuplicatePolicy
    column_map: _containers.ScalarMap[str, str]
    ignore_unknown_columns: bool
    validate_only: bool
    sha256: str
    encoding: str
    def __init__(self, file_name: _Optional[str] = ..., kind: _Optional[_Union[ContactKind, str]] = ..., origin_campaign_id: _Optional[str] = ..., subscription_ids: _Optional[_Iterable[str]] = ..., on_duplicate: _Optional[_Union[DuplicatePolicy, str]] = ..., column_map: _Optional[_Mapping[str, str]] = ..., ignore_unknown_columns: _Optional[bool] = ..., validate_only: _Optional[bool] = ..., sha256: _Optional[str] = ..., encoding: _Optional[str] = ...) -> None: ...

class UploadContactsRequest(_message.Message):
    __slots__ = ("options", "chunk")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    options: UploadOptions
    chunk: bytes
    def __init__(self, options: _Optional[_Union[UploadOptions, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ImportJob(_message.Message):
    __slots__ = ("id", "state", "file_name", "kind", "origin_campaign_id", "subscription_ids", "bytes", "total_rows", "processed_rows", "created", "updated", "skipped", "failed", "error", "validate_only", "created_at", "started_at", "finished_at", "next_run_at", "on_duplicate", "sha256", "encoding", "updated_at", "reverted_rows", "revert_kept_rows", "same_file_as")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_ROWS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    ON_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVERTED_ROWS_FIELD_NUMBER: _ClassVar[int]
    REVERT_KEPT_ROWS_FIELD_NUMBER: _ClassVar[int]
    SAME_FILE_AS_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: ImportState
    file_name: str
    kind: ContactKind
    origin_campaign_id: str
    subscription_ids: _containers.RepeatedScalarFieldContainer[str]
    bytes: int
    total_rows: int
    processed_rows: int
    created: int
    updated: int
    skipped: int
    failed: int
    error: str
    validate_only: bool
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    next_run_at: _timestamp_pb2.Timestamp
    on_duplicate: DuplicatePolicy
    sha256: str
    encoding: str
    updated_at: _timestamp_pb2.Timestamp
    reverted_rows: int
    revert_kept_rows: int
    same_file_as: str
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[ImportState, str]] = ..., file_name: _Optional[str] = ..., kind: _Optional[_Union[ContactKind, str]] = ..., origin_campaign_id: _Optional[str] = ..., subscription_ids: _Optional[_Iterable[str]] = ..., bytes: _Optional[int] = ..., total_rows: _Optional[int] = ..., processed_rows: _Optional[int] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ..., skipped: _Optional[int] = ..., failed: _Optional[int] = ..., error: _Optional[str] = ..., validate_only: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_run_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_duplicate: _Optional[_Union[DuplicatePolicy, str]] = ..., sha256: _Optional[str] = ..., encoding: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reverted_rows: _Optional[int] = ..., revert_kept_rows: _Optional[int] = ..., same_file_as: _Optional[str] = ...) -> None: ...

class WatchImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class WatchImportsRequest(_message.Message):
    __slots__ = ("states",)
    STATES_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[ImportState]
    def __init__(self, states: _Optional[_Iterable[_Union[ImportState, str]]] = ...) -> None: ...

class GetImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class ListImportsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "states")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[ImportState]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[ImportState, str]]] = ...) -> None: ...

class ListImportsResponse(_message.Message):
    __slots__ = ("imports", "next_page_token")
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    imports: _containers.RepeatedCompositeFieldContainer[ImportJob]
    next_page_token: str
    def __init__(self, imports: _Optional[_Iterable[_Union[ImportJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class ResumeImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class CancelImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class RevertImportRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class RowError(_message.Message):
    __slots__ = ("code", "column", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    column: str
    message: str
    def __init__(self, code: _Optional[str] = ..., column: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ImportRow(_message.Message):
    __slots__ = ("row_number", "outcome", "contact_id", "errors", "values", "revert_kept")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    REVERT_KEPT_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    outcome: RowOutcome
    contact_id: str
    errors: _containers.RepeatedCompositeFieldContainer[RowError]
    values: _containers.RepeatedScalarFieldContainer[str]
    revert_kept: bool
    def __init__(self, row_number: _Optional[int] = ..., outcome: _Optional[_Union[RowOutcome, str]] = ..., contact_id: _Optional[str] = ..., errors: _Optional[_Iterable[_Union[RowError, _Mapping]]] = ..., values: _Optional[_Iterable[str]] = ..., revert_kept: _Optional[bool] = ...) -> None: ...

class ListImportRowsRequest(_message.Message):
    __slots__ = ("import_id", "outcome", "page_size", "page_token")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    outcome: RowOutcome
    page_size: int
    page_token: str
    def __init__(self, import_id: _Optional[str] = ..., outcome: _Optional[_Union[RowOutcome, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListImportRowsResponse(_message.Message):
    __slots__ = ("rows", "next_page_token", "header")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ImportRow]
    next_page_token: str
    header: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rows: _Optional[_Iterable[_Union[ImportRow, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., header: _Optional[_Iterable[str]] = ...) -> None: ...

class SummarizeImportRequest(_message.Message):
    __slots__ = ("import_id", "group_by")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    group_by: GroupBy
    def __init__(self, import_id: _Optional[str] = ..., group_by: _Optional[_Union[GroupBy, str]] = ...) -> None: ...

class SummarizeImportResponse(_message.Message):
    __slots__ = ("groups",)
    class Group(_message.Message):
        __slots__ = ("key", "count")
        KEY_FIELD_NUMBER: _ClassVar[int]
        COUNT_FIELD_NUMBER: _ClassVar[int]
        key: str
        count: int
        def __init__(self, key: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[SummarizeImportResponse.Group]
    def __init__(self, groups: _Optional[_Iterable[_Union[SummarizeImportResponse.Group, _Mapping]]] = ...) -> None: ...

class ExportImportErrorsRequest(_message.Message):
    __slots__ = ("import_id",)
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    def __init__(self, import_id: _Optional[str] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class GetContactRequest(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("id", "kind", "external_id", "title", "first_name", "last_name", "email", "phone", "mobile", "address1", "address2", "city", "state", "postal_code", "country", "birth_date", "gender", "company", "notes", "origin_campaign_id", "subscription_ids", "created_by_import_id", "updated_by_import_id", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS1_FIELD_NUMBER: _ClassVar[int]
    ADDRESS2_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: ContactKind
    external_id: str
    title: str
    first_name: str
    last_name: str
    email: str
    phone: str
    mobile: str
    address1: str
    address2: str
    city: str
    state: str
    postal_code: str
    country: str
    birth_date: str
    gender: str
    company: str
    notes: str
    origin_campaign_id: str
    subscription_ids: _containers.RepeatedScalarFieldContainer[str]
    created_by_import_id: str
    updated_by_import_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[ContactKind, str]] = ..., external_id: _Optional[str] = ..., title: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., mobile: _Optional[str] = ..., address1: _Optional[str] = ..., address2: _Optional[str] = ..., city: _Optional[str] = ..., state: _Optional[str] = ..., postal_code: _Optional[str] = ..., country: _Optional[str] = ..., birth_date: _Optional[str] = ..., gender: _Optional[str] = ..., company: _Optional[str] = ..., notes: _Optional[str] = ..., origin_campaign_id: _Optional[str] = ..., subscription_ids: _Optional[_Iterable[str]] = ..., created_by_import_id: _Optional[str] = ..., updated_by_import_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetImportTemplateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FieldSpec(_message.Message):
    __slots__ = ("name", "required", "aliases", "description", "example")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    required: bool
    aliases: _containers.RepeatedScalarFieldContainer[str]
    description: str
    example: str
    def __init__(self, name: _Optional[str] = ..., required: _Optional[bool] = ..., aliases: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., example: _Optional[str] = ...) -> None: ...

class ImportTemplate(_message.Message):
    __slots__ = ("csv", "fields")
    CSV_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    csv: bytes
    fields: _containers.RepeatedCompositeFieldContainer[FieldSpec]
    def __init__(self, csv: _Optional[bytes] = ..., fields: _Optional[_Iterable[_Union[FieldSpec, _Mapping]]] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("id", "name", "code", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    code: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., code: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("id", "name", "code", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    code: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., code: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[Campaign]
    next_page_token: str
    def __init__(self, campaigns: _Optional[_Iterable[_Union[Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSubscriptionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSubscriptionsResponse(_message.Message):
    __slots__ = ("subscriptions", "next_page_token")
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subscriptions: _containers.RepeatedCompositeFieldContainer[Subscription]
    next_page_token: str
    def __init__(self, subscriptions: _Optional[_Iterable[_Union[Subscription, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCampaignRequest(_message.Message):
    __slots__ = ("name", "code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    code: str
    def __init__(self, name: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class CreateSubscriptionRequest(_message.Message):
    __slots__ = ("name", "code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    code: str
    def __init__(self, name: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

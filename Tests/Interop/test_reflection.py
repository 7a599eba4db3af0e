"""Server reflection, as grpcurl and grpcui use it: grpcio-reflection's client
(v1alpha) lists and resolves the service from the server alone, a call built
only from reflected descriptors works; v1 answers the same; and it needs a read
token unless importd runs with --reflection public."""
import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

SERVICE = "softrip.marketing.imports.v1.ImportService"


def test_a_call_built_only_from_reflected_descriptors_works(fresh_importd):
    server = fresh_importd("--reflection", "public")
    channel = grpc.insecure_channel(server.address)
    database = ProtoReflectionDescriptorDatabase(channel)
    services = database.get_services()
    assert SERVICE in services and "grpc.health.v1.Health" in services and "grpc.reflection.v1.ServerReflection" in services
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName(SERVICE)
    assert {m.name for m in service.methods} >= {"UploadContacts", "WatchImport", "GetImportTemplate", "ListImportRows"}
    job = pool.FindMessageTypeByName("softrip.marketing.imports.v1.ImportJob")
    assert "processed_rows" in job.fields_by_name and job.fields_by_name["created_at"].message_type.full_name == "google.protobuf.Timestamp"
    method = service.methods_by_name["GetImportTemplate"]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = channel.unary_unary("/%s/GetImportTemplate" % SERVICE, request_serializer=request_class.SerializeToString,
                               response_deserializer=response_class.FromString)
    template = call(request_class(), metadata=[("authorization", "Bearer " + server.token)], timeout=10)
    assert [f.name for f in template.fields][:3] == ["external_id", "title", "first_name"]
    assert template.csv.startswith(b"external_id,")
    channel.close()


def reflect(server, path, request, token=None):
    channel = grpc.insecure_channel(server.address)
    stream = channel.stream_stream(path, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                   response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    metadata = [("authorization", "Bearer " + token)] if token else []
    try:
        return list(stream(iter([request]), metadata=metadata, timeout=10))
    finally:
        channel.close()


def test_v1_needs_a_read_token_by_default_and_answers_like_v1alpha(importd):
    ask = reflection_pb2.ServerReflectionRequest(host="importd", file_containing_symbol=SERVICE + ".WatchImport")
    with pytest.raises(grpc.RpcError) as refused:
        reflect(importd, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", ask)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reader = importd.new_token("read", "reflection")
    [v1] = reflect(importd, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", ask, reader)
    [v1alpha] = reflect(importd, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", ask, reader)
    assert v1 == v1alpha
    assert v1.valid_host == "importd" and v1.original_request == ask
    from google.protobuf import descriptor_pb2
    files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in v1.file_descriptor_response.file_descriptor_proto]
    assert files[0].name == "softrip/marketing/imports/v1/import_service.proto"
    assert "google/protobuf/timestamp.proto" in [f.name for f in files], "with its imports"
    [missing] = reflect(importd, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                        reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such"), reader)
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]

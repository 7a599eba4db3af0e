// The benchmark peer: rpctest.v1.TestService's Echo, gRPC's default health
// service, and ImportService.GetImportTemplate (answering what importd answers,
// read from a file, to callers with the right bearer token) on Debian's C++
// gRPC (libgrpc++-dev), callback API, h2c on 127.0.0.1. Built by
// bench/transport.sh; the generated code is made at build time and never
// committed.
//
//   cpp-peer PORT [TEMPLATE_FRAME TOKEN]   prints "listening on 127.0.0.1:PORT" (0 = OS picks)
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <memory>
#include <string>
#include <thread>

#include "rpctest/v1/test_service.grpc.pb.h"
#include "softrip/marketing/imports/v1/import_service.grpc.pb.h"

namespace imports = softrip::marketing::imports::v1;

class TestServiceImpl final : public rpctest::v1::TestService::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const rpctest::v1::EchoRequest* request,
                                 rpctest::v1::EchoResponse* response) override {
    response->set_message(request->message());
    response->set_payload(request->payload());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// GetImportTemplate as importd serves it: the caller's bearer token checked,
// then the template (importd's own answer, framed as on the wire, read at start).
class ImportServiceImpl final : public imports::ImportService::CallbackService {
 public:
  ImportServiceImpl(imports::ImportTemplate answer, std::string token)
      : answer_(std::move(answer)), authorization_("Bearer " + std::move(token)) {}

  grpc::ServerUnaryReactor* GetImportTemplate(grpc::CallbackServerContext* context, const imports::GetImportTemplateRequest*,
                                              imports::ImportTemplate* response) override {
    auto* reactor = context->DefaultReactor();
    auto found = context->client_metadata().find("authorization");
    if (found == context->client_metadata().end() ||
        std::string(found->second.data(), found->second.size()) != authorization_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a valid API token is required"));
      return reactor;
    }
    *response = answer_;
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  imports::ImportTemplate answer_;
  std::string authorization_;
};

int main(int argc, char** argv) {
  int port = argc > 1 ? std::stoi(argv[1]) : 0;
  TestServiceImpl service;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::unique_ptr<ImportServiceImpl> importService;
  if (argc > 3) {
    std::ifstream file(argv[2], std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    imports::ImportTemplate answer;
    if (bytes.str().size() < 5 || !answer.ParseFromString(bytes.str().substr(5))) {
      std::cerr << "cpp-peer: cannot read the template frame " << argv[2] << std::endl;
      return 1;
    }
    importService = std::make_unique<ImportServiceImpl>(std::move(answer), argv[3]);
    builder.RegisterService(importService.get());
  }
  int selected = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &selected);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server(builder.BuildAndStart());
  if (!server) {
    std::cerr << "cpp-peer: cannot start" << std::endl;
    return 1;
  }
  std::cout << "listening on 127.0.0.1:" << selected << std::endl;
  // Serve until stdin closes.
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server->Shutdown();
  return 0;
}

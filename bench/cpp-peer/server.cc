// The benchmark peer: rpctest.v1.TestService's Echo on Debian's C++ gRPC
// (libgrpc++-dev), callback API, h2c on 127.0.0.1. Built by bench/run.sh; the
// generated code is made at build time and never committed.
//
//   cpp-peer [PORT]   prints "listening on 127.0.0.1:PORT" (0 = OS picks)
#include <grpcpp/grpcpp.h>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "rpctest/v1/test_service.grpc.pb.h"

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

int main(int argc, char** argv) {
  int port = argc > 1 ? std::stoi(argv[1]) : 0;
  TestServiceImpl service;
  grpc::ServerBuilder builder;
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

// The streaming benchmark peer: grpc.testing.BenchmarkService (gRPC's own
// benchmark_service.proto, from Debian's grpc-proto) on Debian's C++ gRPC
// (libgrpc++-dev), callback API, h2c on 127.0.0.1. Built by bench/streaming.sh;
// the generated code is made at build time and never committed.
//
//   cpp-benchmark-peer [PORT]   prints "listening on 127.0.0.1:PORT" (0 = OS picks)
#include <grpcpp/grpcpp.h>
#include <iostream>
#include <memory>
#include <string>

#include "grpc/testing/benchmark_service.grpc.pb.h"

using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;

// Callback API (gRPC's fastest in C++), as the unary peer: each write or read
// starts the next from its completion.
class BenchmarkServiceImpl final : public grpc::testing::BenchmarkService::CallbackService {
  static void Answer(const SimpleRequest& request, SimpleResponse* response) {
    response->mutable_payload()->set_body(std::string(request.response_size(), '\0'));
  }

  grpc::ServerUnaryReactor* UnaryCall(grpc::CallbackServerContext* context, const SimpleRequest* request,
                                      SimpleResponse* response) override {
    Answer(*request, response);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // Responses to the one request, as fast as the client takes them, until it cancels.
  class Streamer final : public grpc::ServerWriteReactor<SimpleResponse> {
   public:
    explicit Streamer(const SimpleRequest& request) {
      Answer(request, &response_);
      StartWrite(&response_);
    }
    void OnWriteDone(bool ok) override {
      if (ok) {
        StartWrite(&response_);
      } else {
        Finish(grpc::Status::OK);
      }
    }
    void OnCancel() override {}
    void OnDone() override { delete this; }

   private:
    SimpleResponse response_;
  };

  grpc::ServerWriteReactor<SimpleResponse>* StreamingFromServer(grpc::CallbackServerContext*,
                                                                const SimpleRequest* request) override {
    return new Streamer(*request);
  }

  // Every request read; one response at the end.
  class Reader final : public grpc::ServerReadReactor<SimpleRequest> {
   public:
    explicit Reader(SimpleResponse* response) : response_(response) { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      if (ok) {
        last_.Swap(&request_);
        StartRead(&request_);
      } else {
        Answer(last_, response_);
        Finish(grpc::Status::OK);
      }
    }
    void OnDone() override { delete this; }

   private:
    SimpleRequest request_, last_;
    SimpleResponse* response_;
  };

  grpc::ServerReadReactor<SimpleRequest>* StreamingFromClient(grpc::CallbackServerContext*,
                                                              SimpleResponse* response) override {
    return new Reader(response);
  }
};

int main(int argc, char** argv) {
  int port = argc > 1 ? std::stoi(argv[1]) : 0;
  BenchmarkServiceImpl service;
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &selected);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(4 << 20);
  std::unique_ptr<grpc::Server> server(builder.BuildAndStart());
  if (!server) {
    std::cerr << "cpp-benchmark-peer: cannot start" << std::endl;
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

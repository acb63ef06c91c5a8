#pragma once
// Clients of the simulated servers, plain or over TLS (through a gateway), that
// check everything they receive: frame sequence and checksums, the link's
// acknowledgements, HTTP status. They are the test peers of the integration tests
// and of `vmsgate simulate client`. Each call blocks until done or timed out.

#include <chrono>
#include <cstdint>
#include <string>

namespace vmsgate::sim {

struct client_options {
  std::string connect;      // "IP:PORT"
  bool tls = false;
  std::string ca_file;      // with tls: verify the server against this CA (required)
  std::string sni;          // with tls: server name sent and verified; empty: none sent, IP verified
  std::string cert_file;    // with tls: client certificate for mutual TLS (optional)
  std::string key_file;
  std::chrono::milliseconds timeout{10000};  // connect + handshake, and each stall
};

struct check_result {
  bool ok = false;
  std::string error;
  std::string server;        // the server that answered (recording: from the reply header)
  std::uint64_t frames = 0;  // frames (or heartbeats) checked
  std::uint64_t bytes = 0;   // bytes received after the reply header
  int status = 0;            // HTTP status
  std::string body;          // HTTP body
  std::string tls_version;   // empty for plain
};

// Live stream of `camera` for `duration`; ok when every frame checked and the
// stream was still running at the end.
check_result check_live(const client_options& o, std::uint32_t camera, std::chrono::milliseconds duration);
// Playback of `frames` frames from `from_seq`; ok when exactly those arrived intact.
check_result check_playback(const client_options& o, std::uint32_t camera, std::uint64_t from_seq,
                            std::uint64_t frames, unsigned speed);
// MJPEG stream of the mobile server for `duration`.
check_result check_mjpeg(const client_options& o, std::uint32_t camera, std::chrono::milliseconds duration);
// The management link as recording server `name`: hello and `beats` heartbeats.
check_result check_link(const client_options& o, const std::string& name, unsigned beats);
// One HTTP GET; ok when the status is 200.
check_result http_fetch(const client_options& o, const std::string& target);

}  // namespace vmsgate::sim

#pragma once
// The traffic secrets of one server handshake, kept until the session hands its
// records to tls::record_layer, and where the server's key changed in the stream of
// records OpenSSL wrote: every record after that point was sealed with the new key,
// so their count is the write sequence number the record layer goes on from.
//
// Lives on the heap during the handshake only; the secrets are wiped when it goes.

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "proxy/net/record_gather.hpp"
#include "proxy/tls/record_layer.hpp"

namespace vmsgate::net_io {

class key_capture final : public tls::traffic_secret_sink {
 public:
  explicit key_capture(const record_gather& gather) noexcept : gather_(gather) {}
  ~key_capture() {
    OPENSSL_cleanse(client_.data(), client_.size());
    OPENSSL_cleanse(server_.data(), server_.size());
  }
  key_capture(const key_capture&) = delete;
  key_capture& operator=(const key_capture&) = delete;

  void on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept override {
    if (secret.size() > client_.size()) return;
    if (label == "CLIENT_TRAFFIC_SECRET_0") {
      std::copy(secret.begin(), secret.end(), client_.begin());
      client_size_ = secret.size();
    } else if (label == "SERVER_TRAFFIC_SECRET_0") {
      // OpenSSL changes its write key right after the Finished it has written whole.
      std::copy(secret.begin(), secret.end(), server_.begin());
      server_size_ = secret.size();
      mark_ = gather_.written().records();
      mark_on_boundary_ = gather_.written().at_boundary();
    }
  }

  bool complete() const noexcept { return client_size_ > 0 && server_size_ > 0 && mark_on_boundary_; }
  std::span<const unsigned char> client() const noexcept { return {client_.data(), client_size_}; }
  std::span<const unsigned char> server() const noexcept { return {server_.data(), server_size_}; }
  // Records written with the server's traffic key so far (the tickets).
  std::uint64_t written_since_key() const noexcept { return gather_.written().records() - mark_; }

 private:
  const record_gather& gather_;
  std::array<unsigned char, 48> client_{};
  std::array<unsigned char, 48> server_{};
  std::size_t client_size_ = 0;
  std::size_t server_size_ = 0;
  std::uint64_t mark_ = 0;
  bool mark_on_boundary_ = false;
};

}  // namespace vmsgate::net_io

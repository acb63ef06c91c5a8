#pragma once
// The differential harness of the worker's record layer: one real handshake between
// an OpenSSL client and an OpenSSL server (set up as vmsgate's, in memory), then the
// same bytes from the client go both to that server's SSL (OpenSSL's own record
// path) and to a tls::record_layer made from the same keys as the gateway makes it.
// Each side's answer is written down the same way (record_outcome) and compared.
//
// Used by tests/tls/record_diff_test.cpp (named cases) and fuzz/record_diff.cpp
// (generated ones). Needs no GoogleTest: errors are thrown.

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/tls/openssl.hpp"
#include "proxy/tls/record_layer.hpp"

namespace vmsgate::test {

// What a memory BIO holds, taken out; the records in a byte stream, counted by their
// headers.
std::string drain_bio(BIO* b);
std::uint64_t count_records(std::string_view stream);

// OpenSSL's names of the six suites the layer does: three TLS 1.3, three TLS 1.2.
const std::vector<const char*>& differential_suites();

struct record_outcome {
  std::string plain;                        // application data handed on, exactly
  std::vector<std::pair<int, int>> alerts;  // alerts sent to the client: level, description
  bool ended = false;                       // nothing more will be read
  bool closed = false;                      // ended by close_notify
  bool resumable = true;                    // the TLS 1.2 session is still in the cache
  std::string reply;  // unless ended: what the client reads of the server's next data
  std::string detail;                       // the error, for messages
  const char* departure = nullptr;          // vmsgate: the rfc_departures row it followed
  std::string describe() const;
};

class record_pair : public tls::traffic_secret_sink {
 public:
  // A handshake with `suite`; the TLS 1.2 client offers no ticket, so that its
  // session is cached by id and its removal can be seen.
  explicit record_pair(const char* suite);
  ~record_pair();
  record_pair(const record_pair&) = delete;
  record_pair& operator=(const record_pair&) = delete;

  bool tls12() const noexcept { return tls12_; }
  // The client's next record: any content type, TLS 1.3 with `padding` zeros after
  // the type. Records sealed here are authentic, in order.
  std::string seal(unsigned char type, std::string_view content, std::size_t padding = 0);
  // The client's KeyUpdate (TLS 1.3), after which its records use its next key.
  std::string key_update(unsigned char request);
  // The last part of a KeyUpdate sealed in parts, after which the client's records
  // use its next key.
  std::string key_update_tail(std::string_view rest);
  // A record header, as raw bytes.
  static std::string header(unsigned char type, unsigned version, std::size_t length);

  // The bytes arrive in pieces cut at `cuts` (ascending offsets into `wire`).
  record_outcome openssl(std::string_view wire, std::span<const std::size_t> cuts = {});
  record_outcome vmsgate(std::string_view wire, std::span<const std::size_t> cuts = {});
  // Both, then every difference other than a documented departure; empty if none.
  // A departure is allowed for the record where vmsgate says it took one: OpenSSL
  // is then run on the bytes before that record only, and must agree up to there.
  // Runs each side once: a pair is good for one comparison.
  std::string compare(std::string_view wire, std::span<const std::size_t> cuts = {});

  void on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept override;

 private:
  void shake_hands();
  record_outcome read_output(std::string_view out, bool ended) const;
  std::string server_output();

  bool tls12_;
  std::uint16_t suite_ = 0;
  tls::ssl_ctx_ptr server_ctx_, client_ctx_, subject_cache_;
  tls::ssl_ptr server_, client_;
  BIO* s_in_ = nullptr;
  BIO* s_out_ = nullptr;
  std::vector<unsigned char> client_secret_, server_secret_;
  std::uint64_t server_records_ = 0;  // records the server wrote, all told
  std::uint64_t mark_ = 0;            // and when its traffic key changed
  std::uint64_t written_after_key_ = 0;
  std::size_t departure_at_ = 0;  // where the last vmsgate() run stopped opening
  std::unique_ptr<tls::record_layer> sealer_;  // the client's records
};

}  // namespace vmsgate::test

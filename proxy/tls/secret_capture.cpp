#include "proxy/tls/secret_capture.hpp"

#include <openssl/crypto.h>

#include <array>

namespace vmsgate::tls {
namespace {

int key_log_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "LABEL <client random> <secret>", all hex after the label, to `sink` if LABEL is
// one of the two application traffic secrets; false for any other label.
bool deliver(traffic_secret_sink& sink, std::string_view text) noexcept {
  const std::size_t label_end = text.find(' ');
  if (label_end == std::string_view::npos) return false;
  // Only the two application traffic secrets are wanted: the exporter's line is not
  // decoded at all.
  const std::string_view label = text.substr(0, label_end);
  if (label != "CLIENT_TRAFFIC_SECRET_0" && label != "SERVER_TRAFFIC_SECRET_0") return false;
  const std::size_t random_end = text.find(' ', label_end + 1);
  if (random_end == std::string_view::npos) return true;
  const std::string_view hex = text.substr(random_end + 1);
  std::array<unsigned char, 64> secret{};
  if (hex.size() % 2 != 0 || hex.size() / 2 > secret.size()) return true;
  bool valid = true;
  for (std::size_t i = 0; i < hex.size() / 2 && valid; ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    valid = hi >= 0 && lo >= 0;
    secret[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  if (valid) sink.on_secret(label, std::span(secret.data(), hex.size() / 2));
  OPENSSL_cleanse(secret.data(), secret.size());  // a line cut short is wiped too
  return true;
}

// Off again after the wanted secret (see on_message), or at once for an SSL that
// has no sink.
void on_key_log_line(const SSL* ssl, const char* line) {
  auto* sink = static_cast<traffic_secret_sink*>(SSL_get_ex_data(ssl, key_log_index()));
  if (sink == nullptr || deliver(*sink, line)) SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl), nullptr);
}

// OpenSSL 3.0 derives the server's application traffic secret right after it writes
// its Finished (the exporter secret first), and the client's right after it reads
// the client's: the key log is switched on there. OpenSSL calls this for each
// handshake message it has written or read, before the key change that follows.
void on_message(int /*write_p*/, int /*version*/, int content_type, const void* buf, std::size_t len, SSL* ssl,
                void* /*arg*/) {
  if (content_type != SSL3_RT_HANDSHAKE || len == 0 || SSL_version(ssl) != TLS1_3_VERSION) return;
  if (static_cast<const unsigned char*>(buf)[0] == SSL3_MT_FINISHED) {
    SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl), on_key_log_line);
  }
}

}  // namespace

bool set_traffic_secret_sink(SSL* ssl, traffic_secret_sink* sink) {
  if (key_log_index() < 0 || SSL_set_ex_data(ssl, key_log_index(), sink) != 1) return false;
  SSL_set_msg_callback(ssl, sink != nullptr ? on_message : nullptr);
  return true;
}

}  // namespace vmsgate::tls

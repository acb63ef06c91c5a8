#pragma once
// A small OpenSSL client for integration tests. The socket is non-blocking and
// every call waits with poll() up to the options' timeout, so a test never hangs on
// a gateway that stops answering. SSL calls are serialised by a mutex, which lets
// one thread write while another reads (echo_transfer does exactly that).

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace vmsgate::test {

struct tls_options {
  std::string sni;          // server name indication; empty: none sent
  std::string ca_file;      // verify the server against this CA; empty: no verification
  std::string verify_host;  // with ca_file: the name the certificate must carry
  int min_version = 0;      // TLS1_2_VERSION etc.; 0: the library's default
  int max_version = 0;      // asking for TLS 1.1 or lower also sets security level 0
  std::string ciphers;      // the TLS 1.2 cipher list; empty: the library's default
  std::string cert_file;    // client certificate (PEM) for mutual TLS
  std::string key_file;
  std::chrono::milliseconds timeout{20000};  // for connect+handshake and each wait
};

// How a read ended when it did not return data.
enum class read_end {
  none,          // data was returned
  close_notify,  // the peer sent a TLS close_notify: a clean end of its stream
  eof,           // TCP EOF without close_notify
  reset,         // connection reset or another socket error
  timeout,       // nothing arrived within the timeout
  error,         // a TLS protocol error
};
std::string_view to_string(read_end e);

class tls_client {
 public:
  tls_client();  // also sets SIGPIPE to ignored in the test process, once
  ~tls_client();
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  // TCP connect to 127.0.0.1:port and TLS handshake. false on failure, with the
  // reason (including OpenSSL's error queue) in error().
  bool connect(std::uint16_t port, const tls_options& opts = {});
  // TCP connect only; handshake() completes it. For tests that act in between.
  bool connect_tcp(std::uint16_t port, const tls_options& opts = {});
  bool handshake();

  bool send_all(std::span<const std::uint8_t> data);
  bool send_all(std::string_view data);
  // Up to out.size() bytes; 0 when the stream ended (see last_end()) or on error.
  std::size_t recv(std::span<std::uint8_t> out);
  // Reads until the stream ends or `limit` bytes have arrived.
  std::string recv_all(std::size_t limit = 64 * 1024 * 1024);
  // A TLS 1.3 KeyUpdate, sent with the next write; `ask_peer`: the peer must answer
  // with its own before its next data.
  bool key_update(bool ask_peer);
  // Sends close_notify (the TLS half-close); reading remains possible.
  bool shutdown_write();
  // Closes the socket without close_notify.
  void close();

  std::string version() const;  // "TLSv1.3"
  std::string cipher() const;
  long verify_result() const;   // X509_V_OK when verified
  bool session_reused() const;
  int peer_chain_length() const;  // certificates the server sent, its own first; -1: none
  read_end last_end() const { return last_end_; }
  std::string error() const;
  int fd() const { return fd_; }
  const tls_options& options() const { return opts_; }

  // For echo_transfer: the timeout of each wait can be changed after connect.
  void set_timeout(std::chrono::milliseconds t) { opts_.timeout = t; }

 private:
  bool wait(short events);
  bool fail(std::string what);

  tls_options opts_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  mutable std::mutex mutex_;  // serialises SSL calls
  read_end last_end_ = read_end::none;
  mutable std::mutex error_mutex_;
  std::string error_;
};

// The outcome of pushing data through an echo path.
struct transfer_result {
  bool ok = false;  // every byte came back, identical, then the stream ended cleanly
  std::string error;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::string sent_sha256;  // hex
  std::string received_sha256;
  read_end end = read_end::none;  // how the echoed stream ended
  double seconds = 0;
};

// Writes `bytes` of fill_pattern(seed) on one thread while another reads the echo
// back; then half-closes (close_notify) and expects the echo to end its stream.
// Compares SHA-256 of both directions. The client must be connected.
transfer_result echo_transfer(tls_client& client, std::uint64_t bytes, std::uint64_t seed = 1);

// Sends `text` on a stream to an echo backend and reads it back, leaving the stream
// open: a heartbeat on a link that must survive what the test does meanwhile.
bool ping(tls_client& client, std::string_view text);

// SHA-256 helper (OpenSSL EVP), hex output.
class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  void update(const void* data, std::size_t n);
  std::string hex_digest();  // finalises
 private:
  EVP_MD_CTX* ctx_;
};

// SHA-256 (hex) of `bytes` of fill_pattern(seed) from offset 0.
std::string pattern_sha256(std::uint64_t seed, std::uint64_t bytes);

// OpenSSL's error queue drained into one string ("a; b; c").
std::string openssl_errors();

}  // namespace vmsgate::test

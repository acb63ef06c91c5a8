#include "tests/support/tls_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <climits>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/support/backends.hpp"

namespace vmsgate::test {

std::string_view to_string(read_end e) {
  switch (e) {
    case read_end::none: return "none";
    case read_end::close_notify: return "close_notify";
    case read_end::eof: return "eof";
    case read_end::reset: return "reset";
    case read_end::timeout: return "timeout";
    case read_end::error: return "error";
  }
  return "?";
}

std::string openssl_errors() {
  std::string out;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

namespace {
// OpenSSL writes to the socket with write(), which raises SIGPIPE when the peer has
// gone; a test must see a failed call, not die. Children get SIGPIPE back (process.cpp).
void ignore_sigpipe() {
  static const bool done = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}
}  // namespace

tls_client::tls_client() { ignore_sigpipe(); }

tls_client::~tls_client() { close(); }

void tls_client::close() {
  std::lock_guard lock(mutex_);
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
  ssl_ = nullptr;
  ctx_ = nullptr;
  fd_ = -1;
}

bool tls_client::fail(std::string what) {
  const std::string queue = openssl_errors();
  if (!queue.empty()) what += ": " + queue;
  std::lock_guard lock(error_mutex_);
  error_ = std::move(what);
  return false;
}

std::string tls_client::error() const {
  std::lock_guard lock(error_mutex_);
  return error_;
}

bool tls_client::wait(short events) {
  pollfd p{fd_, events, 0};
  for (;;) {
    const int r = poll(&p, 1, static_cast<int>(opts_.timeout.count()));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

bool tls_client::connect(std::uint16_t port, const tls_options& opts) {
  return connect_tcp(port, opts) && handshake();
}

bool tls_client::connect_tcp(std::uint16_t port, const tls_options& opts) {
  close();
  opts_ = opts;
  {
    std::lock_guard lock(error_mutex_);
    error_.clear();
  }
  last_end_ = read_end::none;
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
    if (!wait(POLLOUT)) return fail("connect: timed out");
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  }

  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return fail("SSL_CTX_new");
  if (opts.min_version != 0) SSL_CTX_set_min_proto_version(ctx_, opts.min_version);
  if (opts.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, opts.max_version);
  if (opts.max_version != 0 && opts.max_version < TLS1_2_VERSION) {
    // OpenSSL 3 allows TLS 1.1 and its SHA-1 signatures only at security level 0.
    SSL_CTX_set_security_level(ctx_, 0);
    SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
  }
  if (!opts.ciphers.empty() && SSL_CTX_set_cipher_list(ctx_, opts.ciphers.c_str()) != 1) {
    return fail("cannot set the cipher list " + opts.ciphers);
  }
  if (!opts.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, opts.ca_file.c_str(), nullptr) != 1)
      return fail("cannot load CA file " + opts.ca_file);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!opts.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, opts.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, opts.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return fail("cannot load client certificate " + opts.cert_file);
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) return fail("SSL_new");
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!opts.sni.empty()) SSL_set_tlsext_host_name(ssl_, opts.sni.c_str());
  if (!opts.verify_host.empty()) X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl_), opts.verify_host.c_str(), 0);
  SSL_set_fd(ssl_, fd_);
  return true;
}

bool tls_client::handshake() {
  if (ssl_ == nullptr) return fail("handshake: not connected");
  for (;;) {
    int r = 0;
    int e = 0;
    int sys = 0;
    {
      std::lock_guard lock(mutex_);
      r = SSL_connect(ssl_);
      e = SSL_get_error(ssl_, r);
      sys = errno;
    }
    if (r == 1) return true;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) return fail("handshake: timed out");
      continue;
    }
    std::string why = "handshake failed (SSL_get_error " + std::to_string(e) + ")";
    if (e == SSL_ERROR_SYSCALL)
      why += sys == 0 ? ": the peer closed the connection" : std::string(": ") + std::strerror(sys);
    const long v = SSL_get_verify_result(ssl_);
    if (v != X509_V_OK) why += std::string(", verify: ") + X509_verify_cert_error_string(v);
    return fail(why);
  }
}

bool tls_client::send_all(std::string_view data) {
  return send_all(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

bool tls_client::send_all(std::span<const std::uint8_t> data) {
  if (ssl_ == nullptr) return fail("send: not connected");
  while (!data.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX));
    int r = 0;
    int e = 0;
    int sys = 0;
    {
      std::lock_guard lock(mutex_);
      r = SSL_write(ssl_, data.data(), chunk);
      e = SSL_get_error(ssl_, r);
      sys = errno;
    }
    if (r > 0) {
      data = data.subspan(static_cast<std::size_t>(r));
      continue;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) return fail("send: timed out");
      continue;
    }
    return fail("send failed (SSL_get_error " + std::to_string(e) + ", errno " + std::strerror(sys) + ")");
  }
  return true;
}

std::size_t tls_client::recv(std::span<std::uint8_t> out) {
  if (ssl_ == nullptr) {
    last_end_ = read_end::error;
    fail("recv: not connected");
    return 0;
  }
  for (;;) {
    int r = 0;
    int e = 0;
    int sys = 0;
    unsigned long reason = 0;
    {
      std::lock_guard lock(mutex_);
      ERR_clear_error();
      r = SSL_read(ssl_, out.data(), static_cast<int>(std::min<std::size_t>(out.size(), INT_MAX)));
      e = SSL_get_error(ssl_, r);
      sys = errno;
      reason = ERR_peek_error();
    }
    if (r > 0) {
      last_end_ = read_end::none;
      return static_cast<std::size_t>(r);
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) {
        last_end_ = read_end::timeout;
        fail("recv: timed out");
        return 0;
      }
      continue;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      last_end_ = read_end::close_notify;
    } else if (e == SSL_ERROR_SSL && ERR_GET_REASON(reason) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      last_end_ = read_end::eof;
    } else if (e == SSL_ERROR_SYSCALL) {
      last_end_ = sys == 0 ? read_end::eof : read_end::reset;
    } else {
      last_end_ = read_end::error;
    }
    if (last_end_ != read_end::close_notify)
      fail("recv ended: " + std::string(to_string(last_end_)) +
           (sys != 0 ? std::string(" (") + std::strerror(sys) + ")" : ""));
    return 0;
  }
}

std::string tls_client::recv_all(std::size_t limit) {
  std::string out;
  std::vector<std::uint8_t> buf(64 * 1024);
  while (out.size() < limit) {
    const std::size_t n = recv(buf);
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return out;
}

bool tls_client::key_update(bool ask_peer) {
  if (ssl_ == nullptr) return fail("key_update: not connected");
  std::lock_guard lock(mutex_);
  return SSL_key_update(ssl_, ask_peer ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1;
}

bool tls_client::shutdown_write() {
  if (ssl_ == nullptr) return fail("shutdown: not connected");
  for (;;) {
    int r = 0;
    int e = 0;
    {
      std::lock_guard lock(mutex_);
      r = SSL_shutdown(ssl_);
      e = SSL_get_error(ssl_, r);
    }
    // 0: our close_notify is sent and the peer's has not arrived yet; 1: both done.
    if (r >= 0) return true;
    if (e == SSL_ERROR_WANT_WRITE) {
      if (!wait(POLLOUT)) return fail("shutdown: timed out");
      continue;
    }
    return fail("shutdown failed (SSL_get_error " + std::to_string(e) + ")");
  }
}

std::string tls_client::version() const {
  std::lock_guard lock(mutex_);
  return ssl_ != nullptr ? SSL_get_version(ssl_) : "";
}

std::string tls_client::cipher() const {
  std::lock_guard lock(mutex_);
  return ssl_ != nullptr ? SSL_get_cipher_name(ssl_) : "";
}

long tls_client::verify_result() const {
  std::lock_guard lock(mutex_);
  return ssl_ != nullptr ? SSL_get_verify_result(ssl_) : -1;
}

bool tls_client::session_reused() const {
  std::lock_guard lock(mutex_);
  return ssl_ != nullptr && SSL_session_reused(ssl_) == 1;
}

int tls_client::peer_chain_length() const {
  std::lock_guard lock(mutex_);
  STACK_OF(X509)* chain = ssl_ != nullptr ? SSL_get_peer_cert_chain(ssl_) : nullptr;
  return chain != nullptr ? sk_X509_num(chain) : -1;
}

sha256::sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
sha256::~sha256() { EVP_MD_CTX_free(ctx_); }
void sha256::update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_, data, n); }
std::string sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

std::string pattern_sha256(std::uint64_t seed, std::uint64_t bytes) {
  sha256 h;
  std::vector<std::uint8_t> buf(256 * 1024);
  for (std::uint64_t off = 0; off < bytes;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes - off));
    fill_pattern(seed, off, std::span(buf.data(), n));
    h.update(buf.data(), n);
    off += n;
  }
  return h.hex_digest();
}

bool ping(tls_client& client, std::string_view text) {
  if (!client.send_all(text)) return false;
  std::string got;
  std::uint8_t buf[256];
  while (got.size() < text.size()) {
    const std::size_t n = client.recv(buf);
    if (n == 0) return false;
    got.append(reinterpret_cast<const char*>(buf), n);
  }
  return got == text;
}

transfer_result echo_transfer(tls_client& client, std::uint64_t bytes, std::uint64_t seed) {
  transfer_result res;
  const auto start = std::chrono::steady_clock::now();
  std::string write_error;
  std::thread writer([&] {
    sha256 h;
    std::vector<std::uint8_t> buf(256 * 1024);
    for (std::uint64_t off = 0; off < bytes;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes - off));
      fill_pattern(seed, off, std::span(buf.data(), n));
      h.update(buf.data(), n);
      if (!client.send_all(std::span(buf.data(), n))) {
        write_error = "write at offset " + std::to_string(off) + ": " + client.error();
        // Wakes the reader, which would otherwise wait for data that never comes.
        ::shutdown(client.fd(), SHUT_RDWR);
        return;
      }
      off += n;
      res.sent = off;
    }
    res.sent_sha256 = h.hex_digest();
    if (!client.shutdown_write()) write_error = "shutdown_write: " + client.error();
  });

  sha256 h;
  std::vector<std::uint8_t> buf(256 * 1024);
  for (;;) {
    const std::size_t n = client.recv(buf);
    if (n == 0) break;
    h.update(buf.data(), n);
    res.received += n;
    if (res.received > bytes) break;
  }
  res.end = client.last_end();
  std::string read_error;
  if (res.received > bytes) {
    read_error = "received more than was sent";
  } else if (res.end != read_end::close_notify && res.end != read_end::eof) {
    read_error = "read ended with " + std::string(to_string(res.end)) + " after " + std::to_string(res.received) +
                 " bytes: " + client.error();
    ::shutdown(client.fd(), SHUT_RDWR);
  }
  writer.join();
  res.received_sha256 = h.hex_digest();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  res.error = write_error.empty() ? read_error : (read_error.empty() ? write_error : write_error + "; " + read_error);
  if (res.error.empty() && (res.sent != bytes || res.received != bytes || res.sent_sha256 != res.received_sha256))
    res.error = "sent " + std::to_string(res.sent) + " bytes (sha256 " + res.sent_sha256 + "), received " +
                std::to_string(res.received) + " (sha256 " + res.received_sha256 + ")";
  res.ok = res.error.empty();
  return res;
}

}  // namespace vmsgate::test

#pragma once
// The write side of a session's SSL when the kernel does not encrypt (no kernel TLS).
//
// OpenSSL 3.0 writes each TLS record with its own write(2): a 64 KiB read from the
// plain side went out as four 16 KiB sends, four loopback packets and up to four
// wake-ups of the reader. While a session gathers, this BIO copies the records of one
// SSL_write into a pooled buffer instead, and the session sends them with one send(2).
// The copy is cheaper than the three sends and packets it saves.
//
// When nothing is gathered or held, writes go straight to the socket as with
// SSL_set_fd (handshake flights, alerts, the KeyUpdate an SSL_read answers). While
// records are held, every write is appended behind them, so the byte order on the
// socket is always the order OpenSSL wrote in. The buffer is taken from the worker's
// pool only while records are held: an idle connection holds none.
//
// Reads go straight to the socket, as with OpenSSL's socket BIO: one BIO (and one
// lock) per connection for both directions, as SSL_set_fd would make. Each read
// notes whether it drained the socket, so that the session can wait for the next
// event without re-arming the descriptor.

#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "proxy/net/buffer_pool.hpp"

namespace vmsgate::net_io {

// Follows the record boundaries of a byte stream that comes in pieces (a piece may
// end inside a header or a body): how many records began, and how many after the
// last ChangeCipherSpec, which in TLS 1.2 starts the sequence numbers again.
class record_count {
 public:
  void note(const char* p, std::size_t n) noexcept;
  std::uint64_t records() const noexcept { return records_; }
  bool at_boundary() const noexcept { return header_got_ == 0 && body_left_ == 0; }
  bool seen_change_cipher_spec() const noexcept { return seen_ccs_; }
  std::uint64_t since_change_cipher_spec() const noexcept { return records_ - after_ccs_; }

 private:
  std::uint64_t records_ = 0;
  std::uint64_t after_ccs_ = 0;
  std::array<unsigned char, 5> header_{};  // the record header being followed
  std::size_t header_got_ = 0;
  std::size_t body_left_ = 0;
  bool seen_ccs_ = false;
};

class record_gather {
 public:
  explicit record_gather(buffer_pool& pool) noexcept : pool_(pool) {}
  record_gather(const record_gather&) = delete;
  record_gather& operator=(const record_gather&) = delete;

  // Makes this the BIO through which `ssl` reads and writes `fd`. The SSL must be
  // freed before this object.
  bool attach(SSL* ssl, int fd);

  // While on, records are held instead of sent. Turning it off keeps what is held:
  // flush() sends it.
  void gather(bool on) noexcept;

  enum class flush_result { done, again, failed };
  // Sends what is held, without waiting: done when nothing is left (the buffer goes
  // back to the pool unless gathering), again on EAGAIN, failed with errno set.
  flush_result flush() noexcept;

  std::size_t held() const noexcept { return len_ - off_; }

  // The records OpenSSL has written through this BIO so far, and those it was given
  // to read while this BIO read ahead (the handshake): after the handshake, the
  // session counts the records already sent and read with the new keys from them
  // (tls/record_layer.hpp).
  const record_count& written() const noexcept { return written_; }
  const record_count& read_during_handshake() const noexcept { return read_; }

  // While on, a read of the socket fills a pooled buffer and OpenSSL is served from
  // it: one recv takes a whole flight of the handshake, even with OpenSSL's
  // read-ahead off (it then asks for one record at a time, so that it never holds
  // bytes past the handshake). Turning it off serves what is left, then reads
  // straight again.
  void read_ahead(bool on) noexcept;
  // Hands over the bytes read but not yet given to OpenSSL, in their buffer
  // ([off, end) of it); an empty lease when there are none.
  buffer_pool::lease take_read_ahead(std::size_t& off, std::size_t& end) noexcept;

  // True when this is the SSL's BIO (no kernel TLS).
  bool attached() const noexcept { return fd_ >= 0; }
  // True when the last read of the socket left nothing behind it (EAGAIN, or TCP_INQ
  // said so): everything that comes later raises a new event (edge_wait.hpp).
  bool drained() const noexcept { return drained_ && read_off_ == read_end_; }

 private:
  static int write(BIO* b, const char* in, int n);
  static int read(BIO* b, char* out, int n);
  static long ctrl(BIO* b, int cmd, long num, void* ptr);
  static const BIO_METHOD* method();
  void release_if_idle() noexcept;
  int serve_read_ahead(BIO* b, char* out, std::size_t n) noexcept;

  buffer_pool& pool_;
  buffer_pool::lease buf_;
  int fd_ = -1;
  std::size_t off_ = 0;  // first byte not yet sent
  std::size_t len_ = 0;  // end of the held bytes
  bool gathering_ = false;
  bool drained_ = false;
  bool reading_ahead_ = false;
  buffer_pool::lease read_buf_;  // with read-ahead: bytes read, not yet given to OpenSSL
  std::size_t read_off_ = 0;
  std::size_t read_end_ = 0;
  record_count written_;
  record_count read_;
};

}  // namespace vmsgate::net_io

#include "proxy/net/record_gather.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "proxy/net/edge_wait.hpp"

namespace vmsgate::net_io {
namespace {

// send(2) without SIGPIPE; -1 with errno on failure, EINTR retried.
ssize_t send_all_once(int fd, const void* p, std::size_t n) noexcept {
  for (;;) {
    const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r >= 0 || errno != EINTR) return r;
  }
}

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

const BIO_METHOD* record_gather::method() {
  static BIO_METHOD* const m = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vmsgate record gather");
    if (made != nullptr && (BIO_meth_set_write(made, &record_gather::write) != 1 ||
                            BIO_meth_set_read(made, &record_gather::read) != 1 ||
                            BIO_meth_set_ctrl(made, &record_gather::ctrl) != 1)) {
      BIO_meth_free(made);
      made = nullptr;
    }
    return made;
  }();
  return m;
}

bool record_gather::attach(SSL* ssl, int fd) {
  const BIO_METHOD* m = method();
  if (m == nullptr) return false;
  BIO* bio = BIO_new(m);
  if (bio == nullptr) return false;
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  fd_ = fd;
  SSL_set_bio(ssl, bio, bio);  // the SSL owns it from here
  return true;
}

void record_gather::gather(bool on) noexcept {
  gathering_ = on;
  release_if_idle();
}

record_gather::flush_result record_gather::flush() noexcept {
  while (off_ < len_) {
    const ssize_t r = send_all_once(fd_, buf_.data() + off_, len_ - off_);
    if (r > 0) {
      off_ += static_cast<std::size_t>(r);
    } else if (r < 0 && would_block(errno)) {
      return flush_result::again;
    } else {
      if (r == 0) errno = EPIPE;
      return flush_result::failed;
    }
  }
  off_ = len_ = 0;
  release_if_idle();
  return flush_result::done;
}

void record_gather::release_if_idle() noexcept {
  if (gathering_ || held() > 0) return;
  off_ = len_ = 0;
  buf_.reset();
}

// OpenSSL's write callback: one record (or one handshake flight) at a time. Never
// throws: OpenSSL is C.
int record_gather::write(BIO* b, const char* in, int n) {
  BIO_clear_retry_flags(b);
  auto* self = static_cast<record_gather*>(BIO_get_data(b));
  if (n <= 0) return 0;
  const auto size = static_cast<std::size_t>(n);
  constexpr std::size_t cap = buffer_pool::buffer_size;

  // No room behind what is held: send some of it now, and move the rest to the front.
  if (self->held() > 0 && cap - self->len_ < size) {
    if (self->flush() == flush_result::failed) return -1;
    if (self->off_ > 0 && self->held() > 0) {
      std::memmove(self->buf_.data(), self->buf_.data() + self->off_, self->held());
      self->len_ -= self->off_;
      self->off_ = 0;
    }
  }

  const bool direct = self->held() == 0 && (!self->gathering_ || size > cap);
  if (direct) {
    const ssize_t r = send_all_once(self->fd_, in, size);
    if (r > 0) self->written_.note(in, static_cast<std::size_t>(r));
    if (r < 0 && would_block(errno)) BIO_set_retry_write(b);
    return r < 0 ? -1 : static_cast<int>(r);
  }
  if (cap - self->len_ < size) {  // still full: the session must flush first
    BIO_set_retry_write(b);
    return -1;
  }
  if (!self->buf_) {
    try {
      self->buf_ = self->pool_.take();
    } catch (const std::bad_alloc&) {
      errno = ENOMEM;
      return -1;
    }
  }
  std::memcpy(self->buf_.data() + self->len_, in, size);
  self->len_ += size;
  self->written_.note(in, size);
  return n;
}

void record_count::note(const char* p, std::size_t n) noexcept {
  constexpr unsigned char change_cipher_spec = 20;
  while (n > 0) {
    if (body_left_ > 0) {
      const std::size_t take = std::min(n, body_left_);
      body_left_ -= take;
      p += take;
      n -= take;
      continue;
    }
    header_[header_got_++] = static_cast<unsigned char>(*p++);
    --n;
    if (header_got_ == header_.size()) {
      ++records_;
      if (header_[0] == change_cipher_spec) {
        after_ccs_ = records_;
        seen_ccs_ = true;
      }
      body_left_ = (std::size_t{header_[3]} << 8) | header_[4];
      header_got_ = 0;
    }
  }
}

void record_gather::read_ahead(bool on) noexcept {
  reading_ahead_ = on;
  if (!on && read_off_ == read_end_) {
    read_buf_.reset();
    read_off_ = read_end_ = 0;
  }
}

buffer_pool::lease record_gather::take_read_ahead(std::size_t& off, std::size_t& end) noexcept {
  off = read_off_;
  end = read_end_;
  read_off_ = read_end_ = 0;
  if (off == end) {
    read_buf_.reset();
    off = end = 0;
  }
  return std::move(read_buf_);
}

// With read-ahead: from what was read before, or else one read of the socket into
// the buffer first. -1 with errno when the socket had nothing.
int record_gather::serve_read_ahead(BIO* b, char* out, std::size_t n) noexcept {
  if (read_off_ == read_end_ && reading_ahead_) {
    if (!read_buf_) {
      try {
        read_buf_ = pool_.take();
      } catch (const std::bad_alloc&) {
        errno = ENOMEM;
        return -1;
      }
    }
    const received r = receive_noting_rest(fd_, reinterpret_cast<char*>(read_buf_.data()), buffer_pool::buffer_size);
    drained_ = r.drained;
    if (r.n <= 0) {
      if (r.n == 0) BIO_set_flags(b, BIO_FLAGS_IN_EOF);
      if (r.n < 0) errno = r.err;
      if (r.n < 0 && would_block(r.err)) BIO_set_retry_read(b);
      return static_cast<int>(r.n);
    }
    read_off_ = 0;
    read_end_ = static_cast<std::size_t>(r.n);
  }
  const std::size_t take = std::min(n, read_end_ - read_off_);
  std::memcpy(out, read_buf_.data() + read_off_, take);
  read_.note(out, take);
  read_off_ += take;
  if (read_off_ == read_end_ && !reading_ahead_) read_ahead(false);
  return static_cast<int>(take);
}

// OpenSSL's read callback, as its socket BIO does it: EAGAIN asks to retry, 0 marks
// the end of input (OpenSSL asks BIO_eof to tell a FIN from a failure).
int record_gather::read(BIO* b, char* out, int n) {
  BIO_clear_retry_flags(b);
  auto* self = static_cast<record_gather*>(BIO_get_data(b));
  if (n <= 0) return 0;
  if (self->reading_ahead_ || self->read_off_ < self->read_end_) {
    return self->serve_read_ahead(b, out, static_cast<std::size_t>(n));
  }
  const received r = receive_noting_rest(self->fd_, out, static_cast<std::size_t>(n));
  self->drained_ = r.drained;
  if (r.n > 0) return static_cast<int>(r.n);
  if (r.n == 0) {
    BIO_set_flags(b, BIO_FLAGS_IN_EOF);
    return 0;
  }
  errno = r.err;
  if (would_block(r.err)) BIO_set_retry_read(b);
  return -1;
}

long record_gather::ctrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
  const auto* self = static_cast<const record_gather*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_EOF:
      return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    case BIO_CTRL_FLUSH:
      return 1;  // the session flushes what is held itself, with readiness waits
    case BIO_CTRL_WPENDING:
      return static_cast<long>(self->held());
    default:
      return 0;  // no kernel TLS, no fd, no duplication
  }
}

}  // namespace vmsgate::net_io

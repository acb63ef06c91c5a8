// record_gather is the write BIO of a session's SSL on the user-space path: it sends
// straight through when nothing is held, holds the records of one SSL_write while
// gathering, sends them with one send(2), and never lets a later write overtake what
// it holds. A SOCK_SEQPACKET pair shows the send count (one recv per send); a stream
// pair with a small buffer shows the EAGAIN paths and the read side; a real TLS pair
// shows that the records of one SSL_write arrive whole and in order.

#include "proxy/net/record_gather.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "proxy/pki/builder.hpp"

namespace vmsgate::net_io {
namespace {

struct fd_pair {
  int a = -1, b = -1;
  explicit fd_pair(int type) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
  ~fd_pair() {
    ::close(a);
    ::close(b);
  }
};

std::vector<char> pattern(std::size_t n, unsigned seed) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return v;
}

// A record_gather attached to a bare SSL on end `a` of a socketpair; `bio` is the
// SSL's one BIO (both ways).
struct attached {
  fd_pair p;
  buffer_pool pool;
  record_gather g{pool};  // before the SSL: it is freed first
  tls::ssl_ctx_ptr ctx{SSL_CTX_new(TLS_method())};
  tls::ssl_ptr ssl{SSL_new(ctx.get())};
  BIO* bio = nullptr;
  explicit attached(int type) : p(type) {
    EXPECT_TRUE(g.attach(ssl.get(), p.a));
    bio = SSL_get_wbio(ssl.get());
  }
};

TEST(RecordGather, WritesGoStraightToTheSocketWhenNotGathering) {
  attached t(SOCK_SEQPACKET);
  ASSERT_NE(t.bio, nullptr);
  BIO* w = t.bio;
  ASSERT_EQ(w, SSL_get_rbio(t.ssl.get()));  // one BIO both ways, as SSL_set_fd makes

  EXPECT_EQ(BIO_write(w, "alert", 5), 5);
  char got[16];
  EXPECT_EQ(::recv(t.p.b, got, sizeof got, 0), 5);
  EXPECT_EQ(std::string(got, 5), "alert");
  EXPECT_EQ(t.g.held(), 0u);
  EXPECT_EQ(t.pool.outstanding(), 0u);  // nothing held, no buffer taken
}

TEST(RecordGather, ReadsTellWaitFromEnd) {
  attached t(SOCK_STREAM);
  ASSERT_NE(t.bio, nullptr);
  BIO* r = t.bio;
  char got[16];
  EXPECT_EQ(BIO_read(r, got, sizeof got), -1);  // nothing yet: try again later
  EXPECT_TRUE(BIO_should_retry(r));
  EXPECT_TRUE(BIO_should_read(r));
  EXPECT_EQ(BIO_eof(r), 0);
  ASSERT_EQ(::send(t.p.b, "hello", 5, 0), 5);
  EXPECT_EQ(BIO_read(r, got, sizeof got), 5);
  EXPECT_EQ(std::string(got, 5), "hello");
  ::shutdown(t.p.b, SHUT_WR);
  EXPECT_EQ(BIO_read(r, got, sizeof got), 0);  // the peer's FIN
  EXPECT_FALSE(BIO_should_retry(r));
  EXPECT_EQ(BIO_eof(r), 1);
}

TEST(RecordGather, GatheredRecordsLeaveInOneSendInOrder) {
  attached t(SOCK_SEQPACKET);
  ASSERT_NE(t.bio, nullptr);
  BIO* w = t.bio;

  constexpr int record = 16384 + 22;  // a full TLS 1.3 AES-GCM record
  std::vector<char> sent;
  t.g.gather(true);
  for (unsigned i = 0; i < 4; ++i) {
    const auto r = pattern(record, i);
    ASSERT_EQ(BIO_write(w, r.data(), record), record);
    sent.insert(sent.end(), r.begin(), r.end());
  }
  EXPECT_EQ(t.g.held(), 4u * record);
  EXPECT_EQ(BIO_ctrl_wpending(w), 4u * record);
  EXPECT_EQ(t.pool.outstanding(), 1u);
  char probe;
  EXPECT_EQ(::recv(t.p.b, &probe, 1, MSG_PEEK), -1);  // nothing sent yet
  EXPECT_EQ(errno, EAGAIN);

  t.g.gather(false);
  EXPECT_EQ(t.pool.outstanding(), 1u);  // still held: the buffer stays until sent
  EXPECT_EQ(t.g.flush(), record_gather::flush_result::done);
  EXPECT_EQ(t.pool.outstanding(), 0u);

  std::vector<char> got(sent.size() + 1);
  EXPECT_EQ(::recv(t.p.b, got.data(), got.size(), 0), static_cast<ssize_t>(sent.size()));  // one message
  got.resize(sent.size());
  EXPECT_EQ(got, sent);
}

TEST(RecordGather, AFullGatherAsksForAFlushAndNothingOvertakesWhatItHolds) {
  attached t(SOCK_STREAM);
  ASSERT_NE(t.bio, nullptr);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(t.p.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  BIO* w = t.bio;

  // Records until the gather is full and the peer, who reads nothing, stops the flush.
  constexpr int record = 16406;
  std::vector<char> sent;
  t.g.gather(true);
  unsigned i = 0;
  for (;; ++i) {
    ASSERT_LT(i, 64u);
    const auto r = pattern(record, i);
    const int n = BIO_write(w, r.data(), record);
    if (n < 0) {
      EXPECT_TRUE(BIO_should_retry(w));
      EXPECT_TRUE(BIO_should_write(w));
      break;
    }
    ASSERT_EQ(n, record);
    sent.insert(sent.end(), r.begin(), r.end());
  }
  EXPECT_GE(i, 4u);  // at least a buffer's worth went in before it asked
  t.g.gather(false);
  EXPECT_EQ(t.g.flush(), record_gather::flush_result::again);
  ASSERT_GT(t.g.held(), 0u);

  // An alert written now (gathering or not) queues behind the held records.
  const std::size_t before = t.g.held();
  EXPECT_EQ(BIO_write(w, "ALERT", 5), 5);
  EXPECT_EQ(t.g.held(), before + 5);
  sent.insert(sent.end(), {'A', 'L', 'E', 'R', 'T'});

  std::vector<char> got;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < sent.size() && std::chrono::steady_clock::now() < until) {
    char buf[8192];
    const ssize_t n = ::recv(t.p.b, buf, sizeof buf, 0);
    if (n > 0) got.insert(got.end(), buf, buf + n);
    const auto r = t.g.flush();
    ASSERT_NE(r, record_gather::flush_result::failed) << std::strerror(errno);
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(t.g.held(), 0u);
  EXPECT_EQ(t.pool.outstanding(), 0u);
}

TEST(RecordGather, AFailedSendIsReportedNotRetried) {
  attached t(SOCK_STREAM);
  ASSERT_NE(t.bio, nullptr);
  BIO* w = t.bio;
  t.g.gather(true);
  ASSERT_EQ(BIO_write(w, "data", 4), 4);
  ::shutdown(t.p.a, SHUT_WR);
  EXPECT_EQ(t.g.flush(), record_gather::flush_result::failed);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(t.g.held(), 4u);  // the session ends; nothing pretends the bytes left
}

// Both ends of a real TLS 1.3 connection in this thread: the server reads and writes through
// record_gather, the client through OpenSSL's socket BIO.
class GatherOverTls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = pki::generate_rsa(2048);
    pki::cert_spec spec;
    spec.common_name = "gather.test";
    spec.dns_names = {"gather.test"};
    spec.not_before = pki::clock::now() - std::chrono::hours(1);
    spec.not_after = pki::clock::now() + std::chrono::hours(1);
    auto cert = pki::make_certificate(spec, key.get(), nullptr, key.get());
    sctx_.reset(SSL_CTX_new(TLS_server_method()));
    ASSERT_EQ(SSL_CTX_use_certificate(sctx_.get(), cert.get()), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey(sctx_.get(), key.get()), 1);
    SSL_CTX_set_mode(sctx_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_min_proto_version(sctx_.get(), TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(sctx_.get(), 0);
    cctx_.reset(SSL_CTX_new(TLS_client_method()));
    server_.reset(SSL_new(sctx_.get()));
    client_.reset(SSL_new(cctx_.get()));
    ASSERT_TRUE(gather_.attach(server_.get(), pair_.a));
    ASSERT_EQ(SSL_set_fd(client_.get(), pair_.b), 1);
    SSL_set_accept_state(server_.get());
    SSL_set_connect_state(client_.get());
    bool s_done = false, c_done = false;
    for (int i = 0; i < 1000 && !(s_done && c_done); ++i) {
      if (!c_done) c_done = SSL_do_handshake(client_.get()) == 1;
      if (!s_done) s_done = SSL_do_handshake(server_.get()) == 1;
    }
    ASSERT_TRUE(s_done && c_done) << tls::drain_errors();
  }

  fd_pair pair_{SOCK_STREAM};
  buffer_pool pool_;
  record_gather gather_{pool_};  // before the SSLs: they are freed first
  tls::ssl_ctx_ptr sctx_, cctx_;
  tls::ssl_ptr server_, client_;
};

TEST_F(GatherOverTls, TheRecordsOfOneBufferArriveWholeAndInOrder) {
  const auto data = pattern(buffer_pool::read_size, 3);
  gather_.gather(true);
  std::size_t off = 0;
  while (off < data.size()) {
    const int r = SSL_write(server_.get(), data.data() + off, static_cast<int>(data.size() - off));
    ASSERT_GT(r, 0) << SSL_get_error(server_.get(), r);
    off += static_cast<std::size_t>(r);
  }
  // Four full records with their headers and tags, all held, all within one buffer.
  EXPECT_EQ(gather_.held(), buffer_pool::read_size + 4 * (5 + 1 + 16));
  EXPECT_LE(gather_.held(), buffer_pool::buffer_size);
  gather_.gather(false);
  ASSERT_EQ(gather_.flush(), record_gather::flush_result::done);

  std::vector<char> got(data.size());
  std::size_t have = 0;
  while (have < got.size()) {
    const int r = SSL_read(client_.get(), got.data() + have, static_cast<int>(got.size() - have));
    ASSERT_GT(r, 0) << SSL_get_error(client_.get(), r);
    have += static_cast<std::size_t>(r);
  }
  EXPECT_EQ(got, data);
  EXPECT_EQ(pool_.outstanding(), 0u);
}

// During the handshake: one recv takes what the socket has, OpenSSL is served from
// it in the small pieces it asks for, and what it did not take is handed over.
TEST(RecordGather, ReadAheadTakesTheFlightInOneReadAndHandsOverTheRest) {
  attached t(SOCK_STREAM);
  t.g.read_ahead(true);
  const std::string sent = "HEAD+first record+the client's early data";
  ASSERT_EQ(::send(t.p.b, sent.data(), sent.size(), 0), static_cast<ssize_t>(sent.size()));
  char got[64];
  ASSERT_EQ(BIO_read(t.bio, got, 5), 5);
  int queued = -1;
  ASSERT_EQ(::ioctl(t.p.a, FIONREAD, &queued), 0);
  EXPECT_EQ(queued, 0);  // all of it came with the first read
  ASSERT_EQ(BIO_read(t.bio, got + 5, 12), 12);
  EXPECT_EQ(std::string(got, 17), sent.substr(0, 17));
  EXPECT_FALSE(t.g.drained());  // bytes are still held: no waiting for an edge

  t.g.read_ahead(false);
  std::size_t off = 0;
  std::size_t end = 0;
  buffer_pool::lease rest = t.g.take_read_ahead(off, end);
  ASSERT_TRUE(rest);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(rest.data()) + off, end - off), sent.substr(17));
  rest.reset();
  EXPECT_EQ(t.pool.outstanding(), 0u);
  EXPECT_FALSE(t.g.take_read_ahead(off, end));  // nothing twice
}

// When OpenSSL keeps the records, it is served what is left, then reads go straight
// to the socket again with no buffer held.
TEST(RecordGather, AfterReadAheadWhatIsLeftGoesFirstThenReadsAreStraight) {
  attached t(SOCK_STREAM);
  t.g.read_ahead(true);
  ASSERT_EQ(::send(t.p.b, "0123456789", 10, 0), 10);
  char got[64];
  ASSERT_EQ(BIO_read(t.bio, got, 4), 4);
  t.g.read_ahead(false);
  EXPECT_EQ(t.pool.outstanding(), 1u);
  ASSERT_EQ(BIO_read(t.bio, got, sizeof got), 6);
  EXPECT_EQ(std::string(got, 6), "456789");
  EXPECT_EQ(t.pool.outstanding(), 0u);
  ASSERT_EQ(::send(t.p.b, "abc", 3, 0), 3);
  ASSERT_EQ(BIO_read(t.bio, got, sizeof got), 3);
  EXPECT_EQ(std::string(got, 3), "abc");
  EXPECT_EQ(t.pool.outstanding(), 0u);
}

}  // namespace
}  // namespace vmsgate::net_io

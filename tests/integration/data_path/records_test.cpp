// The records of a TLS 1.3 or 1.2 terminate session, done by the worker after
// OpenSSL's handshake (proxy/tls/record_layer.hpp), end to end: key updates in the
// middle of a stream, a forged record, a renegotiation, and which code did the
// records, in the close log.

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "proxy/tls/openssl.hpp"
#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

gateway_config echo_route(const echo_server& echo) {
  gateway_config c;
  c.backends = {echo.address()};
  return c;
}

std::string echo_once(tls_client& c, const std::string& text) {
  if (!c.send_all(text)) return "send failed: " + c.error();
  std::string got;
  std::vector<std::uint8_t> buf(256);
  while (got.size() < text.size()) {
    const std::size_t n = c.recv(buf);
    if (n == 0) return got + " (then " + std::string(to_string(c.last_end())) + ": " + c.error() + ")";
    got.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return got;
}

// A gateway with one terminate route to an echo backend; `from_` marks where its log
// stood when the test began.
class Records : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gw_.wait_ready()) << gw_.log();
    from_ = gw_.proc().stderr_line_count();
  }
  // A TLS 1.3 client through which one echo has gone: the worker does its records.
  void connect_and_echo(tls_client& c) {
    ASSERT_TRUE(c.connect(gw_.port("rec"), rec01_client())) << c.error() << "\n" << gw_.log();
    ASSERT_EQ(echo_once(c, "hello"), "hello");
  }
  std::string closed_event() {
    const auto closed = gw_.wait_for_event("connection_closed", 5s, from_);
    return closed ? *closed : "no connection_closed event:\n" + gw_.log();
  }
  echo_server echo_;
  gateway gw_{echo_route(echo_).yaml()};
  std::size_t from_ = 0;
};

TEST_F(Records, KeyUpdatesInTheMiddleOfAStreamKeepItByteExact) {
  tls_client c;
  ASSERT_TRUE(c.connect(gw_.port("rec"), rec01_client())) << c.error() << "\n" << gw_.log();
  ASSERT_EQ(c.version(), "TLSv1.3");
  // Asked for: the gateway's answer carries its own KeyUpdate first, and the client
  // reads it only if the gateway changed its key at the right record.
  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(c.key_update(round % 2 == 0)) << c.error();
    const std::string text = "round " + std::to_string(round);
    ASSERT_EQ(echo_once(c, text), text) << gw_.log();
  }
  const auto r = echo_transfer(c, 16 * MiB, 7);
  ASSERT_TRUE(r.ok) << r.error << "\n" << gw_.log();
  EXPECT_EQ(r.received_sha256, pattern_sha256(7, 16 * MiB));
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "records"), "vmsgate") << closed;
  EXPECT_EQ(json_field(closed, "end"), "client_closed") << closed;
  EXPECT_EQ(json_field(closed, "tls_version"), "TLSv1.3") << closed;
}

TEST_F(Records, AForgedRecordEndsTheConnectionWithAnAlertAndReachesNoBackend) {
  tls_client c;
  ASSERT_NO_FATAL_FAILURE(connect_and_echo(c));
  // An application-data record that no key sealed, written under OpenSSL's feet.
  const std::string forged = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'Z');
  ASSERT_EQ(::send(c.fd(), forged.data(), forged.size(), MSG_NOSIGNAL), static_cast<ssize_t>(forged.size()));
  std::vector<std::uint8_t> buf(256);
  EXPECT_EQ(c.recv(buf), 0u);
  EXPECT_EQ(c.last_end(), read_end::error) << c.error();
  EXPECT_NE(c.error().find("bad record mac"), std::string::npos) << c.error();
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "end"), "client_error") << closed;
  EXPECT_EQ(json_field(closed, "detail"), "a record failed authentication") << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), "5") << closed;
}

// A FIN in the middle of a record is a truncated stream, not an orderly end.
TEST_F(Records, AFinInsideARecordIsAClientError) {
  tls_client c;
  ASSERT_NO_FATAL_FAILURE(connect_and_echo(c));
  const std::string half = std::string("\x17\x03\x03\x00\x40", 5) + std::string(10, 'Z');
  ASSERT_EQ(::send(c.fd(), half.data(), half.size(), MSG_NOSIGNAL), static_cast<ssize_t>(half.size()));
  ::shutdown(c.fd(), SHUT_WR);
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "end"), "client_error") << closed;
  EXPECT_EQ(json_field(closed, "detail"), "connection closed inside a record") << closed;
}

// A reset from the client ends the session with the socket's error.
// After its stream has flowed, a reset is how the client ended (a player closed), not
// an error (issue 26); the detail still says what came.
TEST_F(Records, AResetFromTheClientAfterItsStreamIsAClientReset) {
  tls_client c;
  ASSERT_NO_FATAL_FAILURE(connect_and_echo(c));
  const linger abort_on_close{1, 0};
  ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close), 0);
  c.close();
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "end"), "client_reset") << closed;
  EXPECT_EQ(json_field(closed, "detail"), "Connection reset by peer") << closed;
  EXPECT_EQ(json_field(closed, "records"), "vmsgate") << closed;
}

// A client over memory BIOs and a blocking socket, so that the test decides what
// goes in one segment.
struct manual_client {
  int fd = -1;
  tls::ssl_ctx_ptr ctx{SSL_CTX_new(TLS_client_method())};
  tls::ssl_ptr ssl{SSL_new(ctx.get())};
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());

  explicit manual_client(std::uint16_t port, int version = TLS1_3_VERSION) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const timeval limit{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    SSL_set_bio(ssl.get(), in, out);
    SSL_set_connect_state(ssl.get());
    SSL_set_tlsext_host_name(ssl.get(), "rec01.example.local");
    SSL_set_min_proto_version(ssl.get(), version);
    SSL_set_max_proto_version(ssl.get(), version);
  }
  ~manual_client() { ::close(fd); }
  // Sends everything OpenSSL wrote, in one send.
  bool send_pending() {
    char* data = nullptr;
    const long n = BIO_get_mem_data(out, &data);
    const bool ok = n == 0 || ::send(fd, data, static_cast<std::size_t>(n), MSG_NOSIGNAL) == n;
    (void)BIO_reset(out);
    return ok;
  }
  bool receive_some() {
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 && BIO_write(in, buf, static_cast<int>(n)) == n;
  }
  // TLS 1.3: shakes hands up to the client's Finished, which is left unsent. TLS 1.2:
  // the whole handshake (the client's Finished goes before the server's).
  bool shake_hands() {
    for (int step = 0; step < 10; ++step) {
      if (SSL_do_handshake(ssl.get()) == 1) return true;
      if (!send_pending() || !receive_some()) return false;
    }
    return false;
  }
  // Reads until `n` bytes of application data have come; fewer if the stream fails.
  std::string read(std::size_t n) {
    std::string got(n, '\0');
    std::size_t have = 0;
    while (have < n) {
      const int r = SSL_read(ssl.get(), got.data() + have, static_cast<int>(n - have));
      if (r > 0) {
        have += static_cast<std::size_t>(r);
      } else if (SSL_get_error(ssl.get(), r) != SSL_ERROR_WANT_READ || !receive_some()) {
        break;
      }
    }
    got.resize(have);
    return got;
  }
};

// The client's Finished and its first data in one segment: the gateway's BIO takes
// both with one read, OpenSSL only the Finished, and the data, handed to the
// worker's records, must still reach the backend.
TEST_F(Records, DataThatComesWithTheClientsFinishedIsForwarded) {
  manual_client c(gw_.port("rec"));
  ASSERT_TRUE(c.shake_hands()) << gw_.log();
  const std::string text = "sent with the Finished";
  ASSERT_EQ(SSL_write(c.ssl.get(), text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
  ASSERT_TRUE(c.send_pending());  // Finished and data in one send
  EXPECT_EQ(c.read(text.size()), text) << gw_.log();
  ::shutdown(c.fd, SHUT_WR);
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "records"), "vmsgate") << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), std::to_string(text.size())) << closed;
}

// A record that arrives in two parts with a pause between them: the gateway waits
// with the first part put aside, then opens the whole record.
TEST_F(Records, ARecordSplitByAPauseIsOpenedWhole) {
  manual_client c(gw_.port("rec"));
  ASSERT_TRUE(c.shake_hands()) << gw_.log();
  ASSERT_TRUE(c.send_pending());  // the Finished alone
  const std::string text(3000, 'p');
  ASSERT_EQ(SSL_write(c.ssl.get(), text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
  char* wire = nullptr;
  const long n = BIO_get_mem_data(c.out, &wire);
  ASSERT_GT(n, 1000);
  ASSERT_EQ(::send(c.fd, wire, 1000, MSG_NOSIGNAL), 1000);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::send(c.fd, wire + 1000, static_cast<std::size_t>(n - 1000), MSG_NOSIGNAL), n - 1000);
  (void)BIO_reset(c.out);
  EXPECT_EQ(c.read(text.size()), text) << gw_.log();
}

// TLS 1.2 with each suite the gateway offers with an RSA certificate (AES-GCM's
// explicit nonces, ChaCha20's implicit ones), a stream both ways.
TEST_F(Records, Tls12SessionsAreTheWorkersForEverySuite) {
  for (const char* suite : {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                            "ECDHE-RSA-CHACHA20-POLY1305"}) {
    from_ = gw_.proc().stderr_line_count();
    tls_client c;
    auto opts = rec01_client();
    opts.max_version = TLS1_2_VERSION;
    opts.ciphers = suite;
    ASSERT_TRUE(c.connect(gw_.port("rec"), opts)) << c.error() << "\n" << gw_.log();
    ASSERT_EQ(c.cipher(), suite);
    const auto r = echo_transfer(c, 4 * MiB, 9);
    ASSERT_TRUE(r.ok) << suite << ": " << r.error << "\n" << gw_.log();
    EXPECT_EQ(r.received_sha256, pattern_sha256(9, 4 * MiB)) << suite;
    const std::string closed = closed_event();
    EXPECT_EQ(json_field(closed, "records"), "vmsgate") << closed;
    EXPECT_EQ(json_field(closed, "tls_version"), "TLSv1.2") << closed;
    EXPECT_EQ(json_field(closed, "end"), "client_closed") << closed;
  }
}

// A resumed TLS 1.2 session: the client's ChangeCipherSpec and Finished come last,
// here with its first data in the same segment. The gateway's BIO reads all of it,
// OpenSSL takes the Finished, the data goes to the worker's records, which must go
// on from the sequence numbers counted after each side's ChangeCipherSpec.
TEST_F(Records, AResumedTls12SessionForwardsDataSentWithTheClientsFinished) {
  tls::ssl_session_ptr saved;
  {
    manual_client first(gw_.port("rec"), TLS1_2_VERSION);
    ASSERT_TRUE(first.shake_hands()) << gw_.log();
    saved.reset(SSL_get1_session(first.ssl.get()));
    ASSERT_TRUE(saved);
    // An orderly end, or OpenSSL's client forgets the session as it frees the SSL.
    ASSERT_GE(SSL_shutdown(first.ssl.get()), 0);
    ASSERT_TRUE(first.send_pending());
  }
  ASSERT_EQ(json_field(closed_event(), "resumed"), "false");  // the first one's, before looking past it
  from_ = gw_.proc().stderr_line_count();
  manual_client c(gw_.port("rec"), TLS1_2_VERSION);
  ASSERT_EQ(SSL_set_session(c.ssl.get(), saved.get()), 1);
  ASSERT_TRUE(c.shake_hands()) << gw_.log();
  ASSERT_EQ(SSL_session_reused(c.ssl.get()), 1);
  const std::string text = "sent with a resumed Finished";
  ASSERT_EQ(SSL_write(c.ssl.get(), text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
  ASSERT_TRUE(c.send_pending());  // ChangeCipherSpec, Finished and data in one send
  EXPECT_EQ(c.read(text.size()), text) << gw_.log();
  ::shutdown(c.fd, SHUT_WR);
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "records"), "vmsgate") << closed;
  EXPECT_EQ(json_field(closed, "resumed"), "true") << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), std::to_string(text.size())) << closed;
}

// A client that negotiated a maximum fragment length (RFC 6066) keeps OpenSSL's
// records, which keep to it: the worker's would be 16 KiB.
TEST_F(Records, AMaximumFragmentLengthKeepsOpenSslRecords) {
  manual_client c(gw_.port("rec"));
  ASSERT_EQ(SSL_set_tlsext_max_fragment_length(c.ssl.get(), TLSEXT_max_fragment_length_1024), 1);
  ASSERT_TRUE(c.shake_hands()) << gw_.log();
  ASSERT_EQ(SSL_SESSION_get_max_fragment_length(SSL_get_session(c.ssl.get())), TLSEXT_max_fragment_length_1024);
  const std::string text(5000, 'm');
  ASSERT_EQ(SSL_write(c.ssl.get(), text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
  ASSERT_TRUE(c.send_pending());
  EXPECT_EQ(c.read(text.size()), text) << gw_.log();  // OpenSSL's client refuses longer records
  ::shutdown(c.fd, SHUT_WR);
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "records"), "openssl") << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), std::to_string(text.size())) << closed;
}

// A TLS 1.2 client that asks to renegotiate after the handshake is told no with a
// no_renegotiation warning, as OpenSSL tells it, and the connection would go on;
// OpenSSL's client gives up by itself with a fatal handshake_failure.
TEST_F(Records, ATls12RenegotiationIsRefusedWithAWarning) {
  manual_client c(gw_.port("rec"), TLS1_2_VERSION);
  ASSERT_TRUE(c.shake_hands()) << gw_.log();
  const std::string text = "before";
  ASSERT_EQ(SSL_write(c.ssl.get(), text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
  ASSERT_TRUE(c.send_pending());
  EXPECT_EQ(c.read(text.size()), text) << gw_.log();
  ASSERT_EQ(SSL_renegotiate(c.ssl.get()), 1);
  EXPECT_LE(SSL_do_handshake(c.ssl.get()), 0);  // its ClientHello is written, the answer awaited
  ASSERT_TRUE(c.send_pending());
  EXPECT_EQ(c.read(1), "");
  EXPECT_EQ(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_NO_RENEGOTIATION);
  ERR_clear_error();
  ASSERT_TRUE(c.send_pending());  // the client's handshake_failure
  const std::string closed = closed_event();
  EXPECT_EQ(json_field(closed, "records"), "vmsgate") << closed;
  EXPECT_EQ(json_field(closed, "end"), "client_error") << closed;
  EXPECT_EQ(json_field(closed, "detail"), "the peer sent an alert: handshake failure") << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), std::to_string(text.size())) << closed;
}

// RFC 5246 7.2.2: after a fatal alert either way, a TLS 1.2 session is not resumed
// (a client without tickets resumes by session id, from the cache of the worker
// that served it: one worker here). After an orderly close it is.
TEST(RecordsSessionCache, ATls12SessionIsForgottenAfterAFatalAlert) {
  echo_server echo;
  gateway_config config = echo_route(echo);
  config.workers = 1;
  gateway gw(config.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  std::size_t from = gw.proc().stderr_line_count();
  auto closed_end = [&] {
    const auto closed = gw.wait_for_event("connection_closed", 5s, from);
    from = gw.proc().stderr_line_count();
    return closed ? json_field(*closed, "end") : "no connection_closed event:\n" + gw.log();
  };
  auto first = [&](bool forge) {
    manual_client c(gw.port("rec"), TLS1_2_VERSION);
    SSL_set_options(c.ssl.get(), SSL_OP_NO_TICKET);
    EXPECT_TRUE(c.shake_hands()) << gw.log();
    // A copy: the client's own session is marked unresumable by the alert it reads.
    tls::ssl_session_ptr saved(SSL_SESSION_dup(SSL_get0_session(c.ssl.get())));
    if (forge) {
      const std::string forged = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '\x5a');
      EXPECT_EQ(::send(c.fd, forged.data(), forged.size(), MSG_NOSIGNAL), static_cast<ssize_t>(forged.size()));
      EXPECT_EQ(c.read(1), "");  // the gateway's bad_record_mac
    } else {
      EXPECT_GE(SSL_shutdown(c.ssl.get()), 0);
      EXPECT_TRUE(c.send_pending());
    }
    EXPECT_EQ(closed_end(), forge ? "client_error" : "client_closed");
    return saved;
  };
  auto resumes = [&](SSL_SESSION* saved) {
    manual_client c(gw.port("rec"), TLS1_2_VERSION);
    SSL_set_options(c.ssl.get(), SSL_OP_NO_TICKET);
    EXPECT_EQ(SSL_set_session(c.ssl.get(), saved), 1);
    EXPECT_TRUE(c.shake_hands()) << gw.log();
    const bool reused = SSL_session_reused(c.ssl.get()) == 1;
    EXPECT_GE(SSL_shutdown(c.ssl.get()), 0);  // after the Finished a resumed client still owes
    EXPECT_TRUE(c.send_pending());
    EXPECT_EQ(closed_end(), "client_closed");
    return reused;
  };
  const tls::ssl_session_ptr kept = first(false);
  ASSERT_TRUE(kept);
  EXPECT_TRUE(resumes(kept.get()));
  EXPECT_TRUE(resumes(kept.get()));
  const tls::ssl_session_ptr forgotten = first(true);
  ASSERT_TRUE(forgotten);
  EXPECT_FALSE(resumes(forgotten.get()));
}

}  // namespace
}  // namespace vmsgate::test

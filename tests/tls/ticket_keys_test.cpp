// Session ticket keys: the key file's syntax (parse_ticket_keys), the keyring's
// whole-list swap, and the ticket callback itself through in-memory handshakes
// between separate SSL_CTXs (two "instances"), including a rotation.

#include "proxy/tls/ticket_keys.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "tests/support/memory_pair.hpp"
#include "tests/tls/fixtures.hpp"

namespace vmsgate::test {
namespace {

std::vector<unsigned char> bytes(std::size_t n, unsigned char first) {
  std::vector<unsigned char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>(first + i);
  return v;
}

std::string base64(const std::vector<unsigned char>& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), raw.data(), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// What `openssl rand 80 | base64 -w0; echo` writes, with known bytes.
std::string key_line(unsigned char first) { return base64(bytes(80, first)) + "\n"; }

TEST(TicketKeys, ParsesOneKeyIntoNameHmacAndAes) {
  std::string error;
  const auto keys = tls::parse_ticket_keys(key_line(0), error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(keys.size(), 1u);
  const auto raw = bytes(80, 0);
  EXPECT_TRUE(std::equal(keys[0].name.begin(), keys[0].name.end(), raw.begin()));
  EXPECT_TRUE(std::equal(keys[0].hmac.begin(), keys[0].hmac.end(), raw.begin() + 16));
  EXPECT_TRUE(std::equal(keys[0].aes.begin(), keys[0].aes.end(), raw.begin() + 48));
}

TEST(TicketKeys, KeepsFileOrderAndSkipsCommentsBlankLinesAndWhitespace) {
  const std::string text = "# current key first\n\n" + key_line(1) + "   \n# previous\r\n  " +
                           key_line(2).substr(0, 108) + " \r\n\t\n" + key_line(3).substr(0, 108);  // no final newline
  std::string error;
  const auto keys = tls::parse_ticket_keys(text, error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].name[0], 1);
  EXPECT_EQ(keys[1].name[0], 2);
  EXPECT_EQ(keys[2].name[0], 3);
}

struct bad_file {
  const char* what;
  std::string text;
  std::string expect_in_error;
};

TEST(TicketKeys, RejectsMalformedFilesNamingTheLine) {
  const std::string good = key_line(7);
  const std::vector<bad_file> cases = {
      {"empty file", "", "no key"},
      {"only comments", "# nothing here\n\n", "no key"},
      {"79 bytes", base64(bytes(79, 0)) + "\n", "line 1"},
      {"81 bytes", base64(bytes(81, 0)) + "\n", "line 1"},
      {"48 bytes (an old 48-byte key)", base64(bytes(48, 0)) + "\n", "line 1"},
      {"not base64", good + std::string(107, '!') + "=\n", "line 2"},
      {"padding in the middle", good + good.substr(0, 50) + "=" + good.substr(51), "line 2"},
      {"two keys on one line", good.substr(0, 108) + good, "line 1"},
      {"hex instead of base64", std::string(160, 'a') + "\n", "line 1"},
      // Far longer than any key: must be refused, not decoded into a fixed buffer.
      {"very long line", std::string(4000, 'A') + "\n", "line 1"},
      {"very long padded line", std::string(4003, 'A') + "=\n", "line 1"},
  };
  for (const auto& c : cases) {
    std::string error;
    const auto keys = tls::parse_ticket_keys(c.text, error);
    EXPECT_TRUE(keys.empty()) << c.what;
    EXPECT_NE(error.find(c.expect_in_error), std::string::npos) << c.what << ": " << error;
  }
}

TEST(TicketKeys, RandomKeysDiffer) {
  const auto a = tls::random_ticket_key();
  const auto b = tls::random_ticket_key();
  EXPECT_NE(a.name, b.name);
  EXPECT_NE(a.aes, b.aes);
  EXPECT_NE(a.hmac, b.hmac);
}

TEST(TicketKeys, KeyringSwapsTheWholeListAndOldReadersKeepTheirs) {
  tls::ticket_keyring ring({tls::random_ticket_key()});
  const auto before = ring.get();
  ASSERT_EQ(before->size(), 1u);
  const auto first = before->front();
  tls::ticket_key_list next{tls::random_ticket_key(), first};
  ring.set(next);
  const auto after = ring.get();
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ(after->at(1).name, first.name);
  // A handshake that read the list before the swap still holds a valid one.
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ(before->front().name, first.name);
}

// --- the callback, through real (in-memory) handshakes -----------------------------

struct server_instance {
  std::shared_ptr<tls::ticket_keyring> ring;
  tls::ssl_ctx_ptr ctx;
  std::unique_ptr<tls::ticket_crypto> crypto;
};

class TicketCallback : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { identity_ = new issuer(make_ca("ticket test server")); }
  static void TearDownTestSuite() {
    delete identity_;
    identity_ = nullptr;
  }

  static server_instance make_server(tls::ticket_key_list keys) {
    server_instance s;
    s.ring = std::make_shared<tls::ticket_keyring>(std::move(keys));
    s.ctx.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = s.ctx.get();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    static const unsigned char sid_ctx[] = "vmsgate-test";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_num_tickets(ctx, 1);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx, identity_->cert.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx, identity_->key.get()), 1);
    s.crypto = tls::install_ticket_keys(ctx, s.ring);
    return s;
  }

  // One full handshake client <-> server over a BIO pair; returns the client's
  // session (with its ticket) and whether it was a resumption.
  static tls::ssl_session_ptr handshake(server_instance& server, int version, SSL_SESSION* resume, bool& reused) {
    tls::ssl_ctx_ptr cctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(cctx.get(), version);
    SSL_CTX_set_max_proto_version(cctx.get(), version);
    tls::ssl_ptr client(SSL_new(cctx.get()));
    tls::ssl_ptr srv(SSL_new(server.ctx.get()));
    EXPECT_TRUE(test::join_in_memory(srv.get(), client.get()));
    if (resume != nullptr) {
      EXPECT_EQ(SSL_set_session(client.get(), resume), 1);
    }
    bool client_done = false;
    bool server_done = false;
    for (int i = 0; i < 50 && !(client_done && server_done); ++i) {
      if (!client_done) client_done = SSL_do_handshake(client.get()) == 1;
      if (!server_done) server_done = SSL_do_handshake(srv.get()) == 1;
    }
    EXPECT_TRUE(client_done && server_done) << "handshake did not complete";
    // TLS 1.3 tickets arrive after the handshake: let the client read them.
    unsigned char byte = 0;
    EXPECT_LE(SSL_read(client.get(), &byte, 1), 0);
    reused = SSL_session_reused(client.get()) == 1;
    tls::ssl_session_ptr session(SSL_get1_session(client.get()));
    EXPECT_TRUE(session && SSL_SESSION_has_ticket(session.get())) << "no ticket";
    // Freeing an SSL that never shut down marks its session not resumable.
    SSL_set_shutdown(client.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(srv.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return session;
  }

  static issuer* identity_;
};

issuer* TicketCallback::identity_ = nullptr;

class TicketCallbackVersions : public TicketCallback, public ::testing::WithParamInterface<int> {};

TEST_P(TicketCallbackVersions, SessionFromOneInstanceResumesOnAnotherWithTheSameKeys) {
  const int version = GetParam();
  const auto shared = tls::random_ticket_key();
  auto a = make_server({shared});
  auto b = make_server({shared});
  bool reused = true;
  auto session = handshake(a, version, nullptr, reused);
  EXPECT_FALSE(reused);
  handshake(b, version, session.get(), reused);
  EXPECT_TRUE(reused) << "a ticket from instance A did not resume on instance B";
}

TEST_P(TicketCallbackVersions, DifferentKeysMeanAFullHandshake) {
  const int version = GetParam();
  auto a = make_server({tls::random_ticket_key()});
  auto b = make_server({tls::random_ticket_key()});
  bool reused = true;
  auto session = handshake(a, version, nullptr, reused);
  handshake(b, version, session.get(), reused);
  EXPECT_FALSE(reused);
}

// Rotation: a new key in front encrypts; the previous key, now second, still
// decrypts tickets made before; once it is dropped those tickets no longer resume.
TEST_P(TicketCallbackVersions, RotationKeepsOlderTicketsResumingUntilTheirKeyIsDropped) {
  const int version = GetParam();
  const auto old_key = tls::random_ticket_key();
  auto server = make_server({old_key});
  bool reused = true;
  auto old_session = handshake(server, version, nullptr, reused);

  const auto new_key = tls::random_ticket_key();
  server.ring->set({new_key, old_key});
  auto renewed = handshake(server, version, old_session.get(), reused);
  EXPECT_TRUE(reused) << "a ticket under the previous key did not resume after rotation";
  // The server re-issued the ticket under the new key: it resumes once the old key is gone.
  server.ring->set({new_key});
  handshake(server, version, renewed.get(), reused);
  EXPECT_TRUE(reused) << "the ticket re-issued after rotation did not resume under the new key";
  // The first ticket can only be decrypted with old_key, which is gone now.
  handshake(server, version, old_session.get(), reused);
  EXPECT_FALSE(reused) << "a ticket resumed after its key was removed";
}

INSTANTIATE_TEST_SUITE_P(Versions, TicketCallbackVersions, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == TLS1_3_VERSION ? std::string("TLS13") : std::string("TLS12");
                         });

}  // namespace
}  // namespace vmsgate::test

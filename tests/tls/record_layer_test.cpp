// tls::record_layer against OpenSSL itself: an OpenSSL client and an OpenSSL server
// shake hands over memory BIOs (TLS 1.3, or TLS 1.2 with an AEAD suite), then the
// server's records are taken over exactly as a session does it, and every byte each
// side sends must be what the other reads.

#include "proxy/tls/record_layer.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "proxy/pki/builder.hpp"
#include "proxy/tls/openssl.hpp"
#include "tests/support/memory_pair.hpp"
#include "tests/support/record_diff.hpp"
#include "tests/tls/fixtures.hpp"

namespace vmsgate::test {
namespace {

// The records after the last ChangeCipherSpec, as record_count follows them; -1
// when there is none.
std::int64_t records_after_ccs(const std::string& stream) {
  std::int64_t after = -1;
  for (std::size_t at = 0; at + 5 <= stream.size();) {
    after = stream[at] == '\x14' ? 0 : after < 0 ? -1 : after + 1;
    at += 5 + ((static_cast<std::size_t>(static_cast<unsigned char>(stream[at + 3])) << 8) |
               static_cast<unsigned char>(stream[at + 4]));
  }
  return after;
}


void put(BIO* b, const std::string& bytes) {
  if (bytes.empty()) return;
  ASSERT_EQ(BIO_write(b, bytes.data(), static_cast<int>(bytes.size())), static_cast<int>(bytes.size()));
}

// The param: a TLS 1.3 suite ("TLS_...") or a TLS 1.2 cipher.

class pair_with_layer : public ::testing::TestWithParam<const char*>, public tls::traffic_secret_sink {
 protected:
  bool tls12() const { return std::strncmp(GetParam(), "TLS_", 4) != 0; }

  void SetUp() override {
    const issuer ca = make_ca("record layer test");
    server_ctx_.reset(SSL_CTX_new(TLS_server_method()));
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    for (SSL_CTX* c : {server_ctx_.get(), client_ctx_.get()}) {
      if (tls12()) {
        SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
        ASSERT_EQ(SSL_CTX_set_cipher_list(c, GetParam()), 1);
      } else {
        SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
        ASSERT_EQ(SSL_CTX_set_ciphersuites(c, GetParam()), 1);
      }
    }
    ASSERT_EQ(SSL_CTX_use_certificate(server_ctx_.get(), ca.cert.get()), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx_.get(), ca.key.get()), 1);
    SSL_CTX_set_num_tickets(server_ctx_.get(), 2);
    server_.reset(SSL_new(server_ctx_.get()));
    client_.reset(SSL_new(client_ctx_.get()));
    for (BIO** b : {&s_in_, &s_out_, &c_in_, &c_out_}) *b = BIO_new(BIO_s_mem());
    SSL_set_bio(server_.get(), s_in_, s_out_);
    SSL_set_bio(client_.get(), c_in_, c_out_);
    SSL_set_accept_state(server_.get());
    SSL_set_connect_state(client_.get());
    SSL_set_read_ahead(server_.get(), 0);  // as the session does until it takes over
    ASSERT_TRUE(tls::set_traffic_secret_sink(server_.get(), this));
    // OpenSSL formats every secret for the key log while it is on. It must be on only
    // from a Finished to the traffic secret after it, never at a change of the
    // handshake's state (the handshake secrets are derived after one), and off at the
    // end, so that the next SSL of this context formats nothing before its Finished.
    states_ = states_with_key_log_ = 0;
    SSL_set_info_callback(server_.get(), [](const SSL* ssl, int where, int) {
      if ((where & SSL_CB_LOOP) == 0) return;
      ++states_;
      if (SSL_CTX_get_keylog_callback(SSL_get_SSL_CTX(ssl)) != nullptr) ++states_with_key_log_;
    });
    shake_hands();
    EXPECT_GT(states_, 5);
    EXPECT_EQ(states_with_key_log_, 0);
    EXPECT_EQ(SSL_CTX_get_keylog_callback(server_ctx_.get()), nullptr);
  }

  void on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept override {
    if (label == "CLIENT_TRAFFIC_SECRET_0") client_secret_.assign(secret.begin(), secret.end());
    if (label == "SERVER_TRAFFIC_SECRET_0") {
      server_secret_.assign(secret.begin(), secret.end());
      mark_ = count_records(server_stream_ + pending(s_out_));
    }
  }

  static std::string pending(BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<std::size_t>(n));
  }

  void move_server_output() {
    const std::string out = drain_bio(s_out_);
    server_stream_ += out;
    put(c_in_, out);
  }

  void shake_hands() {
    for (int round = 0; round < 10; ++round) {
      const int c = SSL_do_handshake(client_.get());
      const std::string flight = drain_bio(c_out_);
      client_stream_ += flight;
      put(s_in_, flight);
      const int s = SSL_do_handshake(server_.get());
      move_server_output();
      if (c == 1 && s == 1) break;
    }
    ASSERT_EQ(SSL_is_init_finished(server_.get()), 1);
    ASSERT_EQ(SSL_has_pending(server_.get()), 0);
    std::string error;
    suite_ = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(server_.get()));
    if (tls12()) {
      ASSERT_EQ(SSL_version(server_.get()), TLS1_2_VERSION);
      // Counted as the session counts them: one record each (the Finished) after the
      // ChangeCipherSpec.
      const std::int64_t written = records_after_ccs(server_stream_);
      const std::int64_t read = records_after_ccs(client_stream_);
      ASSERT_EQ(written, 1);
      ASSERT_EQ(read, 1);
      master_.resize(48);
      client_random_.resize(32);
      server_random_.resize(32);
      ASSERT_EQ(SSL_SESSION_get_master_key(SSL_get_session(server_.get()), master_.data(), 48), 48u);
      SSL_get_client_random(server_.get(), client_random_.data(), 32);
      SSL_get_server_random(server_.get(), server_random_.data(), 32);
      layer_ = tls::record_layer::after_tls12_handshake(server_.get(), 1, 1, error);
    } else {
      layer_ = server_layer(count_records(server_stream_) - mark_, error);
    }
    ASSERT_TRUE(layer_) << error;
    server_.reset();  // the session frees it too
  }

  // The server's layer, as if `written` records had gone with its key.
  std::unique_ptr<tls::record_layer> server_layer(std::uint64_t written, std::string& error) const {
    if (tls12()) {
      return tls::record_layer::make_tls12(suite_, {master_, client_random_, server_random_}, true, written, 1, error);
    }
    return tls::record_layer::make(suite_, client_secret_, server_secret_, written, error);
  }

  // What the client sends, as the bytes on the wire.
  std::string client_sends(const std::string& text) {
    EXPECT_EQ(SSL_write(client_.get(), text.data(), static_cast<int>(text.size())), static_cast<int>(text.size()));
    return drain_bio(c_out_);
  }

  tls::record_layer::opened open(const std::string& wire, std::string& plain, std::size_t cap = 70000) {
    std::vector<std::byte> out(cap);
    auto r = layer_->open(reinterpret_cast<const std::byte*>(wire.data()), wire.size(), out.data(), out.size());
    plain.assign(reinterpret_cast<const char*>(out.data()), r.plain);
    return r;
  }

  std::string seal(const std::string& text) {
    std::vector<std::byte> out(tls::record_layer::seal_room(text.size()));
    const std::size_t n = layer_->seal(reinterpret_cast<const std::byte*>(text.data()), text.size(), out.data());
    EXPECT_GT(n, 0u);
    return std::string(reinterpret_cast<const char*>(out.data()), n);
  }

  // What the client reads of `wire`, until it has `want` bytes or fails.
  std::string client_reads(const std::string& wire, std::size_t want) {
    put(c_in_, wire);
    std::string got(want, '\0');
    std::size_t have = 0;
    while (have < want) {
      const int n = SSL_read(client_.get(), got.data() + have, static_cast<int>(want - have));
      if (n <= 0) break;
      have += static_cast<std::size_t>(n);
    }
    got.resize(have);
    return got;
  }

  tls::ssl_ctx_ptr server_ctx_, client_ctx_;
  tls::ssl_ptr server_, client_;
  BIO* s_in_ = nullptr;
  BIO* s_out_ = nullptr;
  BIO* c_in_ = nullptr;
  BIO* c_out_ = nullptr;
  std::string server_stream_, client_stream_;
  std::vector<unsigned char> client_secret_, server_secret_;
  static inline int states_ = 0, states_with_key_log_ = 0;  // see SetUp
  std::vector<unsigned char> master_, client_random_, server_random_;  // TLS 1.2
  std::uint64_t mark_ = 0;
  std::uint16_t suite_ = 0;
  std::unique_ptr<tls::record_layer> layer_;

  // A layer that seals as the client does (before the client has sent any data):
  // records no OpenSSL client would send, but authentic.
  std::unique_ptr<tls::record_layer> as_client() const {
    std::string error;
    auto mirror = tls12() ? tls::record_layer::make_tls12(suite_, {master_, client_random_, server_random_}, false,
                                                          1, 1, error)
                          : tls::record_layer::make(suite_, server_secret_, client_secret_, 0, error);
    EXPECT_TRUE(mirror) << error;
    return mirror;
  }
  static std::string sealed(tls::record_layer& by, unsigned char type, const std::string& inner) {
    std::string out(inner.size() + 64, '\0');
    const std::size_t n = by.seal_content(type, reinterpret_cast<const unsigned char*>(inner.data()), inner.size(),
                                          reinterpret_cast<unsigned char*>(out.data()));
    EXPECT_GT(n, 0u);
    out.resize(n);
    return out;
  }
};

TEST_P(pair_with_layer, BytesGoBothWaysAfterTheTickets) {
  std::string plain;
  const auto r = open(client_sends("GET / HTTP/1.1\r\n\r\n"), plain);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(plain, "GET / HTTP/1.1\r\n\r\n");
  // TLS 1.3: two tickets went before with the server's key, TLS 1.2: the Finished:
  // the client reads our records only if the layer went on from the right number.
  EXPECT_EQ(client_reads(seal("HTTP/1.1 200 OK\r\n\r\n"), 19), "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_P(pair_with_layer, ASequenceNumberOffByOneIsNotReadByTheClient) {
  std::string error;
  layer_ = server_layer(tls12() ? 0 : count_records(server_stream_) - mark_ - 1, error);
  ASSERT_TRUE(layer_) << error;
  EXPECT_EQ(client_reads(seal("lost"), 4), "");
}

TEST_P(pair_with_layer, LargeWritesSplitIntoFullRecordsAndOpenInSteps) {
  std::string big(100000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::string wire;
  for (std::size_t off = 0; off < big.size(); off += 16384) wire += client_sends(big.substr(off, 16384));
  // An output buffer for about two records at a time: open stops before the record
  // that might not fit, and goes on from there.
  std::string all;
  std::size_t at = 0;
  while (at < wire.size()) {
    std::string plain;
    const auto r = open(wire.substr(at), plain, 40000);
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_GT(r.used, 0u);
    at += r.used;
    all += plain;
  }
  EXPECT_EQ(all, big);
  EXPECT_EQ(client_reads(seal(big), big.size()), big);
}

// Short TLS 1.3 records are sealed in one pass, longer ones in two: both sides of
// the limit, and the smallest, are read by OpenSSL.
TEST_P(pair_with_layer, RecordsAroundTheOnePassLimitAreReadByTheClient) {
  const std::size_t limit = tls::record_layer::one_pass_limit;
  for (const std::size_t n : {std::size_t{1}, limit - 1, limit, limit + 1, limit + 17}) {
    std::string text(n, 'p');
    for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('A' + i % 23);
    EXPECT_EQ(client_reads(seal(text), n), text) << n;
  }
}

TEST_P(pair_with_layer, APartialRecordWaitsForTheRest) {
  const std::string wire = client_sends("split across two reads");
  std::string plain;
  auto r = open(wire.substr(0, 11), plain);
  EXPECT_EQ(r.used, 0u);
  EXPECT_TRUE(r.error.empty());
  r = open(wire, plain);
  EXPECT_EQ(r.used, wire.size());
  EXPECT_EQ(plain, "split across two reads");
}

class tls13_pair : public pair_with_layer {};
class tls12_pair : public pair_with_layer {};

TEST_P(tls13_pair, KeyUpdatesBothWays) {
  for (int round = 0; round < 3; ++round) {
    // The client asks for our update too: our next data goes after a KeyUpdate of
    // our own, under the new key, and the client reads it only if both are right.
    ASSERT_EQ(SSL_key_update(client_.get(), SSL_KEY_UPDATE_REQUESTED), 1);
    std::string plain;
    const std::string text = "after update " + std::to_string(round);
    const auto r = open(client_sends(text), plain);
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(plain, text);
    EXPECT_EQ(client_reads(seal("answer " + text), 7 + text.size()), "answer " + text);
  }
  ASSERT_EQ(SSL_key_update(client_.get(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  std::string plain;
  EXPECT_TRUE(open(client_sends("quiet update"), plain).error.empty());
  EXPECT_EQ(plain, "quiet update");
  EXPECT_EQ(client_reads(seal("still the same key"), 18), "still the same key");
}

TEST_P(pair_with_layer, ATamperedRecordIsRefusedAndNothingOfItIsHandedOn) {
  const std::string first = client_sends("good");
  std::string second = client_sends("evil");
  second.back() = static_cast<char>(second.back() ^ 0x01);  // the tag
  std::string plain;
  const auto r = open(first + second, plain);
  EXPECT_EQ(plain, "good");
  EXPECT_EQ(r.error, "a record failed authentication");
  EXPECT_EQ(r.used, first.size());
  // The alert the session then sends is one the client can read.
  ASSERT_EQ(r.alert, SSL_AD_BAD_RECORD_MAC);
  std::vector<std::byte> alert(tls::record_layer::alert_room);
  const std::size_t n = layer_->seal_alert(r.alert, alert.data());
  put(c_in_, std::string(reinterpret_cast<const char*>(alert.data()), n));
  char byte;
  EXPECT_LE(SSL_read(client_.get(), &byte, 1), 0);
  EXPECT_EQ(ERR_GET_REASON(ERR_peek_error()), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
  ERR_clear_error();
}

TEST_P(pair_with_layer, CloseNotifyEndsEachDirection) {
  ASSERT_GE(SSL_shutdown(client_.get()), 0);
  std::string plain;
  const auto r = open(drain_bio(c_out_) + "ignored after the alert", plain);
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.error.empty());

  std::vector<std::byte> alert(tls::record_layer::alert_room);
  const std::size_t n = layer_->seal_alert(0, alert.data());
  ASSERT_GT(n, 0u);
  put(c_in_, std::string(reinterpret_cast<const char*>(alert.data()), n));
  char byte;
  EXPECT_EQ(SSL_read(client_.get(), &byte, 1), 0);
  EXPECT_EQ(SSL_get_error(client_.get(), 0), SSL_ERROR_ZERO_RETURN);
}

TEST_P(tls13_pair, RecordsOtherThanApplicationDataAreRefused) {
  // Each on a layer of its own: a refused record ends the layer.
  const std::pair<std::string, std::string> cases[] = {
      {std::string("\x15\x03\x03\x00\x02\x01\x00", 7), "a record of type 21 after the handshake"},
      {std::string("\x17\x03\x03\x48\x01", 5), "a record of length 18433"},
      {std::string("\x17\x03\x03\x00\x05", 5) + "short", "a record too short to be authentic"},
  };
  for (const auto& [wire, error] : cases) {
    std::string why, plain;
    layer_ = server_layer(count_records(server_stream_) - mark_, why);
    ASSERT_TRUE(layer_) << why;
    EXPECT_EQ(open(wire, plain).error, error);
  }
}

TEST_P(pair_with_layer, AnAlertOtherThanCloseNotifyEndsWithItsName) {
  {
    std::string plain;
    const auto r = open(client_sends("x"), plain);  // the sequence numbers move on
    ASSERT_TRUE(r.error.empty());
  }
  // The client answers a record it cannot authenticate with a fatal alert, sealed
  // with its key as a client's alert would be.
  put(c_in_, std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, '\x5a'));
  char byte;
  EXPECT_LE(SSL_read(client_.get(), &byte, 1), 0);
  const std::string wire = drain_bio(c_out_);
  ASSERT_FALSE(wire.empty());
  std::string plain;
  const auto r = open(wire, plain);
  EXPECT_EQ(r.error, "the peer sent an alert: bad record mac");
}

TEST_P(tls13_pair, PaddingAndEmptyRecordsAreRead) {
  auto client = as_client();
  std::string plain;
  // Content, its type, then zeros of padding; and an empty data record.
  std::string wire = sealed(*client, 0, std::string("abc\x17\0\0", 6));
  wire += sealed(*client, 23, "");
  auto r = open(wire, plain);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(plain, "abc");
  // What else a record may hold, and how each is answered: record_diff_test.cpp.
}

// TLS 1.2 types its records openly; an empty data record is read. How every other
// record is answered: record_diff_test.cpp.
TEST_P(tls12_pair, EmptyAndTypedRecordsAreRead) {
  auto client = as_client();
  std::string plain;
  std::string wire = sealed(*client, 23, "");  // in this order: each takes a sequence number
  wire += sealed(*client, 23, "abc");
  wire += sealed(*client, 21, std::string("\x01\x5a", 2));  // user_canceled, a warning: passed over
  wire += sealed(*client, 23, "def");
  const auto r = open(wire, plain);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(plain, "abcdef");
  EXPECT_TRUE(open(sealed(*client, 21, std::string("\x01\x00", 2)), plain).closed);
}

// The version is part of what the tag covers; AES-GCM's explicit nonce is the
// nonce. Each altered record is refused, and the record as sealed is then read (the
// sequence numbers were in step: the alteration was what failed).
TEST_P(tls12_pair, TheHeaderAndTheExplicitNonceAreAuthenticated) {
  auto client = as_client();
  // The type; the explicit nonce's last byte (ChaCha20: the tag's).
  std::uint64_t seq = 1;
  for (const std::size_t at : {std::size_t{0}, std::size_t{5 + 7}}) {
    const std::string good = sealed(*client, 23, "abc");
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ (at == 0 ? 0x02 : 0x01));  // data (23) as an alert (21)
    std::string plain;
    EXPECT_EQ(open(bad, plain).error, "a record failed authentication") << at;
    // A refused record ends the layer; a fresh one at the same sequence number
    // reads the record as sealed.
    std::string error;
    layer_ = tls::record_layer::make_tls12(suite_, {master_, client_random_, server_random_}, true, 1, seq++, error);
    ASSERT_TRUE(layer_) << error;
    const auto r = open(good, plain);
    EXPECT_TRUE(r.error.empty()) << at << ": " << r.error;
    EXPECT_EQ(plain, "abc");
  }
}

const char* const tls13_suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"};
const char* const tls12_suites[] = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305"};
std::string suite_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = std::strncmp(info.param, "TLS_", 4) == 0 ? std::string(info.param).substr(4) : info.param;
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
}
INSTANTIATE_TEST_SUITE_P(Tls13, pair_with_layer, ::testing::ValuesIn(tls13_suites), suite_name);
INSTANTIATE_TEST_SUITE_P(Tls12, pair_with_layer, ::testing::ValuesIn(tls12_suites), suite_name);
INSTANTIATE_TEST_SUITE_P(Tls13, tls13_pair, ::testing::ValuesIn(tls13_suites), suite_name);
INSTANTIATE_TEST_SUITE_P(Tls12, tls12_pair, ::testing::ValuesIn(tls12_suites), suite_name);

// Before a key seals more records than its cipher safely may, the layer changes it
// on its own: a KeyUpdate, then the data under the next key.
// A handshake that fails between a Finished and its secret leaves the key log on.
// The next handshakes on the context must still get both secrets, and the key log
// must go off again, with a sink or without one.
struct labels_sink final : tls::traffic_secret_sink {
  SSL_CTX* ctx = nullptr;
  std::vector<std::string> labels;
  SSL_CTX_keylog_cb_func key_log = nullptr;  // the callback while it is on
  void on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept override {
    labels.push_back(std::string(label) + "/" + std::to_string(secret.size()));
    key_log = SSL_CTX_get_keylog_callback(ctx);
  }
};

bool memory_handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, labels_sink* sink) {
  tls::ssl_ptr server(SSL_new(server_ctx)), client(SSL_new(client_ctx));
  if (!test::join_in_memory(server.get(), client.get())) return false;
  if (sink != nullptr && !tls::set_traffic_secret_sink(server.get(), sink)) return false;
  bool done = false;
  for (int round = 0; round < 10 && !done; ++round) {
    const int c = SSL_do_handshake(client.get());
    done = SSL_do_handshake(server.get()) == 1 && c == 1;
  }
  if (sink != nullptr) tls::set_traffic_secret_sink(server.get(), nullptr);
  return done;
}

TEST(KeyLog, LeftOnItIsTurnedOffByTheNextHandshakeAndNoSecretIsMissed) {
  const issuer ca = make_ca("key log test");
  tls::ssl_ctx_ptr server_ctx(SSL_CTX_new(TLS_server_method())), client_ctx(SSL_CTX_new(TLS_client_method()));
  ASSERT_EQ(SSL_CTX_use_certificate(server_ctx.get(), ca.cert.get()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx.get(), ca.key.get()), 1);
  SSL_CTX_set_min_proto_version(client_ctx.get(), TLS1_3_VERSION);
  ASSERT_EQ(SSL_CTX_set_ciphersuites(client_ctx.get(), "TLS_AES_128_GCM_SHA256"), 1);
  const std::vector<std::string> both = {"SERVER_TRAFFIC_SECRET_0/32", "CLIENT_TRAFFIC_SECRET_0/32"};

  labels_sink first;
  first.ctx = server_ctx.get();
  ASSERT_TRUE(memory_handshake(server_ctx.get(), client_ctx.get(), &first));
  ASSERT_EQ(first.labels, both);
  ASSERT_NE(first.key_log, nullptr);
  EXPECT_EQ(SSL_CTX_get_keylog_callback(server_ctx.get()), nullptr);

  // Left on; the next handshake's SSL has no sink (kernel TLS): it turns it off.
  SSL_CTX_set_keylog_callback(server_ctx.get(), first.key_log);
  ASSERT_TRUE(memory_handshake(server_ctx.get(), client_ctx.get(), nullptr));
  EXPECT_EQ(SSL_CTX_get_keylog_callback(server_ctx.get()), nullptr);

  // Left on; the next one has a sink: the handshake secrets pass it by, both traffic
  // secrets arrive, and it ends off.
  SSL_CTX_set_keylog_callback(server_ctx.get(), first.key_log);
  labels_sink next;
  next.ctx = server_ctx.get();
  ASSERT_TRUE(memory_handshake(server_ctx.get(), client_ctx.get(), &next));
  EXPECT_EQ(next.labels, both);
  EXPECT_EQ(SSL_CTX_get_keylog_callback(server_ctx.get()), nullptr);
}

// The cheap nonce (record_suites.cpp) passes its self-test on this OpenSSL for every
// AES-GCM suite; ChaCha20-Poly1305 keeps the cipher init.
TEST(RecordLayer, AesGcmSuitesSetTheNonceByParameter) {
  for (const std::uint16_t suite : {0x1301, 0x1302}) EXPECT_TRUE(tls::record_layer::nonce_by_parameter(suite, false));
  for (const std::uint16_t suite : {0xc02f, 0xc030, 0xc02b, 0xc02c}) {
    EXPECT_TRUE(tls::record_layer::nonce_by_parameter(suite, true));
  }
  EXPECT_FALSE(tls::record_layer::nonce_by_parameter(0x1303, false));
  EXPECT_FALSE(tls::record_layer::nonce_by_parameter(0xcca8, true));
  EXPECT_FALSE(tls::record_layer::nonce_by_parameter(0x1301, true));  // not a TLS 1.2 suite
}

TEST(RecordLayer, AnAesGcmKeyIsChangedBeforeItsRecordLimit) {
  const std::vector<unsigned char> a(32, 0xa5), b(32, 0x5a);
  const std::uint64_t limit = tls::record_layer::record_limit(0x1301);
  ASSERT_EQ(limit, std::uint64_t{1} << 24);
  EXPECT_EQ(tls::record_layer::record_limit(0x1303), std::numeric_limits<std::uint64_t>::max());
  std::string error;
  auto sender = tls::record_layer::make(0x1301, a, b, limit - 1, error);
  auto receiver = tls::record_layer::make(0x1301, b, a, 0, error, limit - 1);
  ASSERT_TRUE(sender && receiver) << error;
  const std::string text(20000, 'v');  // two records per seal
  std::vector<std::byte> wire(tls::record_layer::seal_room(text.size())), out(70000);
  for (int round = 0; round < 3; ++round) {
    const std::size_t n = sender->seal(reinterpret_cast<const std::byte*>(text.data()), text.size(), wire.data());
    ASSERT_GT(n, 0u);
    // The first seal is still under the old key (it starts below the limit); the
    // second begins with the KeyUpdate, 27 bytes more.
    EXPECT_EQ(n, text.size() + 2 * 22 + (round == 1 ? 27u : 0u)) << round;
    const auto r = receiver->open(wire.data(), n, out.data(), out.size());
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.plain, text.size());
  }
}

TEST(RecordLayer, RefusesWhatIsNotATls13SuiteAndSecretsOfTheWrongSize) {
  std::string error;
  const std::vector<unsigned char> secret(32, 1);
  EXPECT_FALSE(tls::record_layer::make(0xc02f, secret, secret, 0, error));
  EXPECT_EQ(error, "not a TLS 1.3 suite this layer has");
  // SHA-384's suite with SHA-256-sized secrets, and secrets that differ in size.
  EXPECT_FALSE(tls::record_layer::make(0x1302, secret, secret, 0, error));
  EXPECT_EQ(error, "traffic secrets of the wrong size");
  const std::vector<unsigned char> longer(48, 1);
  EXPECT_FALSE(tls::record_layer::make(0x1301, secret, longer, 0, error));
  EXPECT_EQ(error, "traffic secrets of the wrong size");
  EXPECT_EQ(tls::record_layer::record_limit(0x009e), 0u);
  // TLS 1.2 cannot change keys: no limit to change them at.
  EXPECT_EQ(tls::record_layer::record_limit(0xc02f), std::numeric_limits<std::uint64_t>::max());
}

TEST(RecordLayer, RefusesWhatIsNotATls12AeadSuiteAndSecretsOfTheWrongSize) {
  std::string error;
  const std::vector<unsigned char> master(48, 1), random(32, 2), short_master(32, 1), short_random(31, 2);
  EXPECT_TRUE(tls::record_layer::make_tls12(0xc02f, {master, random, random}, true, 1, 1, error)) << error;
  for (const std::uint16_t suite : {0x1301, 0x009e, 0xc013}) {  // TLS 1.3's, DHE, CBC
    EXPECT_FALSE(tls::record_layer::make_tls12(suite, {master, random, random}, true, 1, 1, error));
    EXPECT_EQ(error, "not a TLS 1.2 suite this layer has");
  }
  EXPECT_FALSE(tls::record_layer::make_tls12(0xc030, {short_master, random, random}, true, 1, 1, error));
  EXPECT_EQ(error, "a master secret of the wrong size");
  EXPECT_FALSE(tls::record_layer::make_tls12(0xcca8, {master, random, short_random}, true, 1, 1, error));
  EXPECT_EQ(error, "cannot set the record keys");
}

// An owed warning (TLS 1.2's answer to a renegotiation), a KeyUpdate (TLS 1.3), then per record the larger overhead: TLS 1.2 AES-GCM's
// header, explicit nonce and tag (29 bytes; TLS 1.3's header, type and tag: 22).
TEST(RecordLayer, SealRoomCoversEveryRecordAndAKeyUpdate) {
  EXPECT_EQ(tls::record_layer::seal_room(1), 31u + 27 + 1 + 29);
  EXPECT_EQ(tls::record_layer::seal_room(16384), 31u + 27 + 16384 + 29);
  EXPECT_EQ(tls::record_layer::seal_room(16385), 31u + 27 + 16385 + 58);
  EXPECT_EQ(tls::record_layer::alert_room, 31u);
}

}  // namespace
}  // namespace vmsgate::test

#include "proxy/tls/record_layer.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::tls {

// The suites: AEAD cipher, key length and the hash of their HKDF (TLS 1.3) or PRF
// (TLS 1.2).
struct record_layer::suite_info {
  std::uint16_t id;
  bool tls12;
  const char* cipher;
  const char* digest;
  std::size_t key_size;
  std::size_t hash_size;
  // Records one key may seal (RFC 8446 section 5.5: 2^24.5 for AES-GCM, with a
  // margin; ChaCha20-Poly1305 has no practical limit; TLS 1.2 cannot change keys).
  std::uint64_t record_limit;
  // TLS 1.2: the IV bytes from the key block (RFC 5288: a 4-byte salt, and 8 bytes
  // of explicit nonce in each record; RFC 7905: 12 bytes, no explicit nonce).
  std::size_t fixed_iv;
  std::size_t explicit_nonce;
  EVP_CIPHER* fetched = nullptr;
  // The nonce goes in as a parameter (see nonce_by_parameter below).
  bool nonce_by_parameter = false;
};

namespace {

constexpr unsigned char content_alert = 21;
constexpr unsigned char content_handshake = 22;
constexpr unsigned char content_data = 23;
constexpr unsigned char key_update_type = 24;
constexpr unsigned char client_hello = 1;
// Alert descriptions (section 6).
constexpr unsigned char unexpected_message = 10;
constexpr unsigned char bad_record_mac = 20;
constexpr unsigned char record_overflow = 22;
constexpr unsigned char decode_error = 50;
constexpr unsigned char no_renegotiation = 100;

// A record's nonce, the cheap way. EVP_CipherInit_ex2 with only an IV costs about
// 600 instructions in OpenSSL 3.0: it asks the provider for the IV length through
// a parameter lookup by name, on every call. OpenSSL's AES-GCM also takes the whole
// nonce as its TLS "fixed IV" parameter when the length given is -1 (how OpenSSL's
// TLS 1.2 code restores an IV), and a decrypting context takes the tag in the same
// call: together about a fifth of what sealing and opening a short record cost.
// That is a detail of OpenSSL's provider, so it is used only for a cipher that
// passes this test when it is fetched: one record sealed both ways comes out the
// same, opens with nonce and tag set together, and is refused with a wrong tag.
OSSL_PARAM nonce_parameter(const unsigned char* nonce) noexcept {
  return OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, const_cast<unsigned char*>(nonce),
                                           std::numeric_limits<std::size_t>::max());
}
OSSL_PARAM tag_parameter(const unsigned char* tag) noexcept {
  return OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, const_cast<unsigned char*>(tag),
                                           record_layer::tag_size);
}

bool nonce_by_parameter_passes(EVP_CIPHER* cipher, std::size_t key_size) {
  const std::array<unsigned char, 32> key{0x6b, 0x65, 0x79};
  const std::array<unsigned char, 12> nonce{0x0e, 0x0c, 0x0a, 0x08, 0x06, 0x04, 0x02, 0x00, 0x01, 0x03, 0x05, 0x07};
  const std::array<unsigned char, 5> aad{23, 3, 3, 0, 40};
  std::array<unsigned char, 24> plain{};
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<unsigned char>(i * 7);
  using sealed = std::array<unsigned char, 24 + record_layer::tag_size>;
  // Seals `plain` with the nonce set one way or the other; false if the cipher failed.
  auto seal = [&](bool by_parameter, sealed& out) {
    const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || static_cast<std::size_t>(EVP_CIPHER_get_key_length(cipher)) != key_size ||
        EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, 1, nullptr) != 1) {
      return false;
    }
    const OSSL_PARAM set[] = {nonce_parameter(nonce.data()), OSSL_PARAM_construct_end()};
    OSSL_PARAM get[] = {tag_parameter(out.data() + plain.size()), OSSL_PARAM_construct_end()};
    int len = 0;
    return (by_parameter ? EVP_CIPHER_CTX_set_params(ctx.get(), set)
                         : EVP_CipherInit_ex2(ctx.get(), nullptr, nullptr, nonce.data(), 1, nullptr)) == 1 &&
           EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
           EVP_CipherUpdate(ctx.get(), out.data(), &len, plain.data(), static_cast<int>(plain.size())) == 1 &&
           EVP_CipherFinal_ex(ctx.get(), out.data() + plain.size(), &len) == 1 &&
           EVP_CIPHER_CTX_get_params(ctx.get(), get) == 1;
  };
  // Opens `in` with nonce and tag set by parameter; true if it is authentic and
  // gives `plain` back.
  auto opens = [&](const sealed& in) {
    const cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, 0, nullptr) != 1) return false;
    const OSSL_PARAM set[] = {nonce_parameter(nonce.data()), tag_parameter(in.data() + plain.size()),
                              OSSL_PARAM_construct_end()};
    sealed out{};
    int len = 0;
    return EVP_CIPHER_CTX_set_params(ctx.get(), set) == 1 &&
           EVP_CipherUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
           EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(plain.size())) == 1 &&
           EVP_CipherFinal_ex(ctx.get(), out.data() + len, &len) == 1 &&
           std::equal(plain.begin(), plain.end(), out.begin());
  };
  sealed by_init{}, by_parameter{};
  if (!seal(false, by_init) || !seal(true, by_parameter) || by_init != by_parameter || !opens(by_init)) return false;
  sealed forged = by_init;
  forged.back() ^= 1;
  return !opens(forged);
}

bool nonce_by_parameter_works(EVP_CIPHER* cipher, std::size_t key_size) {
  ERR_set_mark();  // what the test leaves on the error queue (the refusal's) is not the caller's
  const bool works = nonce_by_parameter_passes(cipher, key_size);
  ERR_pop_to_mark();
  return works;
}

// Fetched once for the process (OpenSSL 3.0 fetches on every implicit use, under a
// lock), and never freed: they live as long as the workers that use them.
constexpr std::uint64_t no_limit = std::numeric_limits<std::uint64_t>::max();
struct algorithms {
  std::array<record_layer::suite_info, 9> suites{{
      {0x1301, false, "AES-128-GCM", "SHA256", 16, 32, std::uint64_t{1} << 24, 12, 0},
      {0x1302, false, "AES-256-GCM", "SHA384", 32, 48, std::uint64_t{1} << 24, 12, 0},
      {0x1303, false, "ChaCha20-Poly1305", "SHA256", 32, 32, no_limit, 12, 0},
      // ECDHE-RSA-, then ECDHE-ECDSA- AES128-GCM-SHA256, AES256-GCM-SHA384,
      // CHACHA20-POLY1305: the TLS 1.2 suites the contexts allow.
      {0xc02f, true, "AES-128-GCM", "SHA256", 16, 32, no_limit, 4, 8},
      {0xc030, true, "AES-256-GCM", "SHA384", 32, 48, no_limit, 4, 8},
      {0xcca8, true, "ChaCha20-Poly1305", "SHA256", 32, 32, no_limit, 12, 0},
      {0xc02b, true, "AES-128-GCM", "SHA256", 16, 32, no_limit, 4, 8},
      {0xc02c, true, "AES-256-GCM", "SHA384", 32, 48, no_limit, 4, 8},
      {0xcca9, true, "ChaCha20-Poly1305", "SHA256", 32, 32, no_limit, 12, 0},
  }};
  EVP_KDF* hkdf = nullptr;
  EVP_KDF* tls1_prf = nullptr;
  algorithms() {
    for (auto& s : suites) {
      s.fetched = EVP_CIPHER_fetch(nullptr, s.cipher, nullptr);
      s.nonce_by_parameter = s.fetched != nullptr && std::strncmp(s.cipher, "AES-", 4) == 0 &&
                             nonce_by_parameter_works(s.fetched, s.key_size);
    }
    hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    tls1_prf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
  }
  const record_layer::suite_info* find(std::uint16_t id, bool tls12) const noexcept {
    for (const auto& s : suites) {
      if (s.id == id && s.tls12 == tls12 && s.fetched != nullptr) return &s;
    }
    return nullptr;
  }
};

const algorithms& fetched() {
  static const algorithms* const a = new algorithms();
  return *a;
}

// HKDF: one context per thread and digest, its digest and mode set once. Setting a
// digest by name fetches it through a global lock, and a new TLS 1.3 session's keys
// would fetch it four times. (TLS1-PRF cannot be kept so: OpenSSL 3.0 appends each
// seed given to a context to the ones before.)
EVP_KDF_CTX* hkdf_context(const record_layer::suite_info& suite) noexcept {
  struct contexts {
    std::array<EVP_KDF_CTX*, 2> ctx{};  // SHA256, SHA384
    ~contexts() {
      for (EVP_KDF_CTX* c : ctx) EVP_KDF_CTX_free(c);
    }
  };
  thread_local contexts kept;
  EVP_KDF_CTX*& ctx = kept.ctx[suite.hash_size == 48 ? 1 : 0];
  if (ctx != nullptr || fetched().hkdf == nullptr) return ctx;
  EVP_KDF_CTX* fresh = EVP_KDF_CTX_new(fetched().hkdf);
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_end()};
  if (fresh == nullptr || EVP_KDF_CTX_set_params(fresh, params) != 1) {
    EVP_KDF_CTX_free(fresh);
    return nullptr;
  }
  ctx = fresh;
  return ctx;
}

// HKDF-Expand-Label(secret, label, "", n), RFC 8446 section 7.1.
bool expand_label(const record_layer::suite_info& suite, std::span<const unsigned char> secret,
                  std::string_view label, unsigned char* out, std::size_t n) noexcept {
  std::array<unsigned char, 32> info{};
  constexpr std::string_view prefix = "tls13 ";
  const std::size_t label_size = prefix.size() + label.size();
  if (label_size + 4 > info.size()) return false;
  info[0] = static_cast<unsigned char>(n >> 8);
  info[1] = static_cast<unsigned char>(n);
  info[2] = static_cast<unsigned char>(label_size);
  std::memcpy(info.data() + 3, prefix.data(), prefix.size());
  std::memcpy(info.data() + 3 + prefix.size(), label.data(), label.size());
  info[3 + label_size] = 0;  // no context
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), label_size + 4),
      OSSL_PARAM_construct_end()};
  EVP_KDF_CTX* ctx = hkdf_context(suite);
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, n, params) == 1;
  // The kept context would hold the secret until the next derive: it is replaced
  // (OpenSSL wipes the old key as it frees it).
  static const unsigned char none = 0;
  const OSSL_PARAM wipe[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(&none), 1),
      OSSL_PARAM_construct_end()};
  if (ctx != nullptr) EVP_KDF_CTX_set_params(ctx, wipe);
  return ok;
}

// The TLS 1.2 key block (RFC 5246 section 6.3): PRF(master secret, "key expansion",
// server random + client random).
bool key_block(const record_layer::suite_info& suite, const record_layer::tls12_secrets& s, unsigned char* out,
               std::size_t n) noexcept {
  constexpr std::string_view label = "key expansion";
  std::array<unsigned char, label.size() + 64> seed{};
  if (s.client_random.size() != 32 || s.server_random.size() != 32) return false;
  std::memcpy(seed.data(), label.data(), label.size());
  std::memcpy(seed.data() + label.size(), s.server_random.data(), 32);
  std::memcpy(seed.data() + label.size() + 32, s.client_random.data(), 32);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, const_cast<unsigned char*>(s.master.data()),
                                        s.master.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
      OSSL_PARAM_construct_end()};
  EVP_KDF_CTX* ctx = fetched().tls1_prf == nullptr ? nullptr : EVP_KDF_CTX_new(fetched().tls1_prf);
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, n, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

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

void put_nonce(const std::array<unsigned char, 12>& iv, std::uint64_t seq, unsigned char* nonce) noexcept {
  std::memcpy(nonce, iv.data(), iv.size());
  for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<unsigned char>(seq >> (8 * i));
}

void put_header(unsigned char* h, unsigned char type, std::size_t body) noexcept {
  h[0] = type;
  h[1] = 0x03;
  h[2] = 0x03;
  h[3] = static_cast<unsigned char>(body >> 8);
  h[4] = static_cast<unsigned char>(body);
}

}  // namespace

bool set_traffic_secret_sink(SSL* ssl, traffic_secret_sink* sink) {
  if (key_log_index() < 0 || SSL_set_ex_data(ssl, key_log_index(), sink) != 1) return false;
  SSL_set_msg_callback(ssl, sink != nullptr ? on_message : nullptr);
  return true;
}

std::unique_ptr<record_layer> record_layer::make(std::uint16_t id, std::span<const unsigned char> read_secret,
                                                 std::span<const unsigned char> write_secret, std::uint64_t write_seq,
                                                 std::string& error, std::uint64_t read_seq) {
  const suite_info* info = fetched().find(id, false);
  if (info == nullptr) {
    error = "not a TLS 1.3 suite this layer has";
    return nullptr;
  }
  if (read_secret.size() != info->hash_size || write_secret.size() != info->hash_size) {
    error = "traffic secrets of the wrong size";
    return nullptr;
  }
  std::unique_ptr<record_layer> layer(new record_layer(*info));
  if (!layer->set_keys(layer->read_, read_secret, false) || !layer->set_keys(layer->write_, write_secret, true)) {
    error = "cannot set the record keys";
    return nullptr;
  }
  layer->write_.seq = write_seq;
  layer->read_.seq = read_seq;
  return layer;
}

std::unique_ptr<record_layer> record_layer::make_tls12(std::uint16_t id, const tls12_secrets& secrets, bool server,
                                                       std::uint64_t write_seq, std::uint64_t read_seq,
                                                       std::string& error) {
  const suite_info* info = fetched().find(id, true);
  if (info == nullptr) {
    error = "not a TLS 1.2 suite this layer has";
    return nullptr;
  }
  if (secrets.master.size() != 48) {
    error = "a master secret of the wrong size";
    return nullptr;
  }
  // client key, server key, client IV, server IV (an AEAD suite has no MAC keys).
  std::array<unsigned char, 2 * 32 + 2 * 12> block{};
  const std::size_t k = info->key_size;
  const std::size_t v = info->fixed_iv;
  std::unique_ptr<record_layer> layer(new record_layer(*info));
  bool ok = key_block(*info, secrets, block.data(), 2 * k + 2 * v);
  if (ok) {
    const std::size_t write = server ? 1 : 0;
    std::memcpy(layer->write_.iv.data(), block.data() + 2 * k + write * v, v);
    std::memcpy(layer->read_.iv.data(), block.data() + 2 * k + (1 - write) * v, v);
    ok = layer->set_key(layer->write_, block.data() + write * k, true) &&
         layer->set_key(layer->read_, block.data() + (1 - write) * k, false);
  }
  OPENSSL_cleanse(block.data(), block.size());
  if (!ok) {
    error = "cannot set the record keys";
    return nullptr;
  }
  layer->write_.seq = write_seq;
  layer->read_.seq = read_seq;
  return layer;
}

std::unique_ptr<record_layer> record_layer::after_tls12_handshake(const SSL* ssl, std::uint64_t written,
                                                                  std::uint64_t read, std::string& error) {
  std::array<unsigned char, 48> master{};
  std::array<unsigned char, 32> client_random{}, server_random{};
  const SSL_SESSION* session = SSL_get_session(ssl);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  // (Asked for 48 bytes, it copies 48 whatever it holds: its own size first.)
  if (session == nullptr || cipher == nullptr || SSL_version(ssl) != TLS1_2_VERSION ||
      SSL_SESSION_get_master_key(session, nullptr, 0) != master.size() ||
      SSL_SESSION_get_master_key(session, master.data(), master.size()) != master.size() ||
      SSL_get_client_random(ssl, client_random.data(), 32) != 32 ||
      SSL_get_server_random(ssl, server_random.data(), 32) != 32) {
    error = "no TLS 1.2 session to take the keys of";
    OPENSSL_cleanse(master.data(), master.size());
    return nullptr;
  }
  auto layer = make_tls12(SSL_CIPHER_get_protocol_id(cipher), {master, client_random, server_random}, true, written,
                          read, error);
  OPENSSL_cleanse(master.data(), master.size());
  return layer;
}

bool record_layer::nonce_by_parameter(std::uint16_t suite, bool tls12) noexcept {
  const suite_info* s = fetched().find(suite, tls12);
  return s != nullptr && s->nonce_by_parameter;
}

std::uint64_t record_layer::record_limit(std::uint16_t suite) noexcept {
  for (const auto& s : fetched().suites) {
    if (s.id == suite) return s.record_limit;
  }
  return 0;
}

record_layer::~record_layer() {
  for (direction* d : {&read_, &write_}) {
    EVP_CIPHER_CTX_free(d->ctx);
    OPENSSL_cleanse(d->secret.data(), d->secret.size());
    OPENSSL_cleanse(d->iv.data(), d->iv.size());
  }
}

// Key and IV from a traffic secret (section 7.3); the sequence starts again at 0.
bool record_layer::set_keys(direction& d, std::span<const unsigned char> secret, bool encrypt) noexcept {
  std::array<unsigned char, 32> key{};
  std::copy(secret.begin(), secret.end(), d.secret.begin());
  const bool ok = expand_label(suite_, secret, "key", key.data(), suite_.key_size) &&
                  expand_label(suite_, secret, "iv", d.iv.data(), d.iv.size()) && set_key(d, key.data(), encrypt);
  OPENSSL_cleanse(key.data(), key.size());
  d.seq = 0;
  return ok;
}

bool record_layer::set_key(direction& d, const unsigned char* key, bool encrypt) noexcept {
  if (d.ctx == nullptr) {
    d.ctx = EVP_CIPHER_CTX_new();
    return d.ctx != nullptr && EVP_CipherInit_ex2(d.ctx, suite_.fetched, key, nullptr, encrypt ? 1 : 0, nullptr) == 1;
  }
  return EVP_CipherInit_ex2(d.ctx, nullptr, key, nullptr, encrypt ? 1 : 0, nullptr) == 1;
}

// KeyUpdate: the next secret of a direction (section 7.2).
bool record_layer::next_secret(direction& d) noexcept {
  std::array<unsigned char, 48> next{};
  const std::span current(d.secret.data(), suite_.hash_size);
  const bool ok = expand_label(suite_, current, "traffic upd", next.data(), suite_.hash_size) &&
                  set_keys(d, std::span(next.data(), suite_.hash_size), &d == &write_);
  OPENSSL_cleanse(next.data(), next.size());
  return ok;
}

bool record_layer::begin_record(direction& d, const unsigned char* nonce, const unsigned char* tag) noexcept {
  if (suite_.nonce_by_parameter) {
    const OSSL_PARAM with_tag[] = {nonce_parameter(nonce), tag_parameter(tag), OSSL_PARAM_construct_end()};
    const OSSL_PARAM nonce_only[] = {nonce_parameter(nonce), OSSL_PARAM_construct_end()};
    return EVP_CIPHER_CTX_set_params(d.ctx, tag != nullptr ? with_tag : nonce_only) == 1;
  }
  return EVP_CipherInit_ex2(d.ctx, nullptr, nullptr, nonce, &d == &write_ ? 1 : 0, nullptr) == 1 &&
         (tag == nullptr || EVP_CIPHER_CTX_ctrl(d.ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag_size),
                                                const_cast<unsigned char*>(tag)) == 1);
}

// TLS 1.3: the type goes inside, after the content; the header is the additional
// data. TLS 1.2: the type is the header's, the explicit nonce (if the suite has one)
// goes before the content, and the additional data is the sequence number, the type,
// the version and the content's length.
std::size_t record_layer::seal_content(unsigned char type, const unsigned char* in, std::size_t n,
                                       unsigned char* out) noexcept {
  if (n > max_plain || write_.seq == std::numeric_limits<std::uint64_t>::max()) return 0;
  const bool tls12 = suite_.tls12;
  const std::size_t lead = header_size + suite_.explicit_nonce;
  const std::size_t inner = n + (tls12 ? 0 : 1);
  const std::size_t body = suite_.explicit_nonce + inner + tag_size;
  put_header(out, tls12 ? type : content_data, body);
  std::array<unsigned char, 12> nonce{};
  put_nonce(write_.iv, write_.seq, nonce.data());
  std::memcpy(out + header_size, nonce.data() + 4, suite_.explicit_nonce);  // the sequence number, as RFC 5288 allows
  std::array<unsigned char, 13> aad{};
  const std::size_t aad_size = additional_data(out, n, write_.seq, aad.data());
  // TLS 1.3, a short record: content and type copied into place and encrypted
  // there in one pass, which costs less than a second call into the cipher for the
  // type byte; a long one is encrypted from where it is, the type after it.
  const bool one_pass = !tls12 && n <= one_pass_limit;
  if (one_pass) {
    std::memmove(out + lead, in, n);
    out[lead + n] = type;
  }
  int len = 0;
  int last = 0;
  // The tag, read after the final call (the parameter EVP_CIPHER_CTX_ctrl would build).
  OSSL_PARAM tag[] = {tag_parameter(out + lead + inner), OSSL_PARAM_construct_end()};
  const bool ok =
      begin_record(write_, nonce.data(), nullptr) &&
      EVP_CipherUpdate(write_.ctx, nullptr, &len, aad.data(), static_cast<int>(aad_size)) == 1 &&
      (one_pass ? EVP_CipherUpdate(write_.ctx, out + lead, &len, out + lead, static_cast<int>(inner)) == 1
                : EVP_CipherUpdate(write_.ctx, out + lead, &len, in, static_cast<int>(n)) == 1 &&
                      (tls12 || EVP_CipherUpdate(write_.ctx, out + lead + n, &last, &type, 1) == 1)) &&
      EVP_CipherFinal_ex(write_.ctx, out + lead + inner, &last) == 1 &&
      EVP_CIPHER_CTX_get_params(write_.ctx, tag) == 1;
  if (!ok) return 0;
  ++write_.seq;
  return header_size + body;
}

// The additional data of the record with header `h` and `content` bytes of content:
// TLS 1.3's is the header itself, TLS 1.2's is built from it and the sequence number.
std::size_t record_layer::additional_data(const unsigned char* h, std::size_t content, std::uint64_t seq,
                                          unsigned char* aad) const noexcept {
  if (!suite_.tls12) {
    std::memcpy(aad, h, header_size);
    return header_size;
  }
  for (int i = 0; i < 8; ++i) aad[i] = static_cast<unsigned char>(seq >> (56 - 8 * i));
  aad[8] = h[0];
  aad[9] = h[1];
  aad[10] = h[2];
  aad[11] = static_cast<unsigned char>(content >> 8);
  aad[12] = static_cast<unsigned char>(content);
  return 13;
}

std::size_t record_layer::seal(const std::byte* in, std::size_t n, std::byte* out) noexcept {
  auto* o = reinterpret_cast<unsigned char*>(out);
  const auto* i = reinterpret_cast<const unsigned char*>(in);
  std::size_t written = 0;
  if (update_due_ || write_.seq >= suite_.record_limit) {
    // Before our next application data when the peer asked (section 4.6.3), or
    // before this key has sealed more records than it safely may (section 5.5);
    // then the new key. An hours-long video stream reaches the AES-GCM limit
    // (2^24 records of 16 KiB: 256 GiB).
    const unsigned char update[] = {key_update_type, 0, 0, 1, 0};
    const std::size_t r = seal_content(content_handshake, update, sizeof update, o);
    if (r == 0 || !next_secret(write_)) return 0;
    update_due_ = false;
    written += r;
  }
  for (std::size_t off = 0; off < n;) {
    const std::size_t chunk = std::min(n - off, max_plain);
    const std::size_t r = seal_content(content_data, i + off, chunk, o + written);
    if (r == 0) return 0;
    written += r;
    off += chunk;
  }
  return written;
}

std::size_t record_layer::seal_alert(unsigned char description, std::byte* out) noexcept {
  const bool warning = description == 0 || description == no_renegotiation;
  const unsigned char alert[] = {static_cast<unsigned char>(warning ? 1 : 2), description};
  return seal_content(content_alert, alert, sizeof alert, reinterpret_cast<unsigned char*>(out));
}

// A client may send one handshake message after the handshake: KeyUpdate, alone in
// its record (a key change must end the record).
bool record_layer::on_handshake_message(const unsigned char* body, std::size_t n) noexcept {
  if (n != 5 || body[0] != key_update_type || body[1] != 0 || body[2] != 0 || body[3] != 1 || body[4] > 1) {
    return false;
  }
  if (body[4] == 1) update_due_ = true;
  return next_secret(read_);
}

// Why a record header is refused; empty when it is fine. TLS 1.3 sends everything
// as application data after the handshake; TLS 1.2 types its records openly.
std::string record_layer::header_error(const unsigned char* h, unsigned char& alert) const {
  const std::size_t len = (std::size_t{h[3]} << 8) | h[4];
  const bool typed = h[0] == content_data || (suite_.tls12 && (h[0] == content_alert || h[0] == content_handshake));
  alert = unexpected_message;
  if (!typed) return "a record of type " + std::to_string(h[0]) + " after the handshake";
  alert = record_overflow;
  if (len > max_record - header_size) return "a record of length " + std::to_string(len);
  alert = decode_error;
  if (len < min_body()) return "a record of length " + std::to_string(len);
  alert = 0;
  if (read_.seq == std::numeric_limits<std::uint64_t>::max()) return "record sequence exhausted";
  return {};
}

std::size_t record_layer::min_body() const noexcept {
  return suite_.explicit_nonce + tag_size + (suite_.tls12 ? 0 : 1);
}

// Decrypts the record at `h` (header and `len` bytes of body) into `body`; false
// unless it is authentic.
bool record_layer::decrypt(const unsigned char* h, std::size_t len, unsigned char* body) noexcept {
  std::array<unsigned char, 12> nonce{};
  put_nonce(read_.iv, read_.seq, nonce.data());
  // A peer picks its explicit nonce as it likes (OpenSSL: a random start, then +1).
  std::memcpy(nonce.data() + 4, h + header_size, suite_.explicit_nonce);
  const std::size_t lead = header_size + suite_.explicit_nonce;
  const std::size_t sealed = len - suite_.explicit_nonce - tag_size;
  std::array<unsigned char, 13> aad{};
  const std::size_t aad_size = additional_data(h, sealed, read_.seq, aad.data());
  int out_len = 0;
  int last = 0;
  const bool authentic =
      begin_record(read_, nonce.data(), h + lead + sealed) &&
      EVP_CipherUpdate(read_.ctx, nullptr, &out_len, aad.data(), static_cast<int>(aad_size)) == 1 &&
      EVP_CipherUpdate(read_.ctx, body, &out_len, h + lead, static_cast<int>(sealed)) == 1 &&
      EVP_CipherFinal_ex(read_.ctx, body + out_len, &last) == 1;
  if (authentic) ++read_.seq;
  return authentic;
}

// Acts on an opened record's content (`sealed` bytes at `body`, type and padding
// included); false when reading stops here.
bool record_layer::take_content(unsigned char header_type, unsigned char* body, std::size_t sealed, opened& r) {
  std::size_t content = sealed;
  unsigned char type = header_type;
  if (!suite_.tls12) {
    // The content type is the last non-zero byte; zeros after it are padding.
    while (content > 0 && body[content - 1] == 0) --content;
    if (content == 0) {
      r.error = "a record without a content type";
      r.alert = unexpected_message;
      return false;
    }
    type = body[--content];
  }
  if (content > max_plain) {
    r.error = "a record of " + std::to_string(content) + " bytes of content";
    r.alert = record_overflow;
    return false;
  }
  if (type == content_data) {
    r.plain += content;
    if (content > 0) warnings_ = 0;
    return true;
  }
  if (type == content_alert) {
    constexpr unsigned char warning = 1;
    constexpr unsigned char most_warnings = 5;  // in a row, as OpenSSL allows
    if (content == 2 && body[1] == 0) {
      r.closed = true;
    } else if (suite_.tls12 && content == 2 && body[0] == warning && warnings_ < most_warnings) {
      ++warnings_;  // TLS 1.2: a warning does not end the connection (RFC 5246 7.2)
      return true;
    } else if (suite_.tls12 && content == 2 && body[0] == warning) {
      r.error = "too many warning alerts in a row";
      r.alert = unexpected_message;
    } else {
      r.error = std::string("the peer sent an alert: ") +
                (content == 2 ? SSL_alert_desc_string_long(body[1]) : "malformed");
    }
    return false;
  }
  if (suite_.tls12 && type == content_handshake && content > 0 && body[0] == client_hello) {
    r.error = "the client asked to renegotiate, which is off";
    r.alert = no_renegotiation;
    return false;
  }
  if (!suite_.tls12 && type == content_handshake && on_handshake_message(body, content)) return true;
  r.error = "an unexpected message after the handshake";
  r.alert = type == content_handshake && !suite_.tls12 ? decode_error : unexpected_message;
  return false;
}

record_layer::opened record_layer::open(const std::byte* in, std::size_t n, std::byte* out, std::size_t cap) {
  opened r;
  const auto* src = reinterpret_cast<const unsigned char*>(in);
  auto* dst = reinterpret_cast<unsigned char*>(out);
  while (n - r.used >= header_size) {
    const unsigned char* h = src + r.used;
    r.error = header_error(h, r.alert);
    if (!r.error.empty()) break;
    const std::size_t len = (std::size_t{h[3]} << 8) | h[4];
    const std::size_t sealed = len - suite_.explicit_nonce - tag_size;
    if (n - r.used < header_size + len || cap - r.plain < sealed) break;
    unsigned char* body = dst + r.plain;
    if (!decrypt(h, len, body)) {
      r.error = "a record failed authentication";
      r.alert = bad_record_mac;
      break;
    }
    r.used += header_size + len;
    if (!take_content(h[0], body, sealed, r)) break;
  }
  return r;
}

}  // namespace vmsgate::tls

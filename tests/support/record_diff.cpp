#include "tests/support/record_diff.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "proxy/pki/builder.hpp"
#include "proxy/tls/context_common.hpp"
#include "proxy/tls/server_context.hpp"

namespace vmsgate::test {
namespace {

constexpr std::size_t out_cap = 65536;  // the gateway's pooled buffer

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("record_diff: ") + what + ": " + tls::drain_errors());
}

// One RSA key and self-signed certificate for every pair of the process.
struct identity {
  tls::pkey_ptr key;
  tls::x509_ptr cert;
  identity() {
    key = pki::generate_rsa(2048);
    pki::cert_spec spec;
    spec.common_name = "record diff";
    spec.ca = true;
    spec.not_before = std::chrono::system_clock::now() - std::chrono::hours(24);
    spec.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
    cert = pki::make_certificate(spec, key.get(), nullptr, key.get());
    check(key && cert, "cannot make the test certificate");
  }
};
const identity& the_identity() {
  static const identity id;
  return id;
}


void put(BIO* b, std::string_view bytes) {
  if (bytes.empty()) return;
  check(BIO_write(b, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size()), "BIO_write");
}

std::size_t record_length(std::string_view s, std::size_t at) {
  return (std::size_t{static_cast<unsigned char>(s[at + 3])} << 8) | static_cast<unsigned char>(s[at + 4]);
}


// Records after the last ChangeCipherSpec (the TLS 1.2 Finished, as a rule).
std::uint64_t records_after_ccs(std::string_view stream) {
  std::uint64_t after = 0;
  for (std::size_t at = 0; at + 5 <= stream.size(); at += 5 + record_length(stream, at)) {
    after = stream[at] == '\x14' ? 0 : after + 1;
  }
  return after;
}

// The pieces of `wire` cut at `cuts`.
std::vector<std::string_view> pieces(std::string_view wire, std::span<const std::size_t> cuts) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  for (const std::size_t c : cuts) {
    if (c <= from || c >= wire.size()) continue;
    out.push_back(wire.substr(from, c - from));
    from = c;
  }
  out.push_back(wire.substr(from));
  return out;
}

const char probe[] = "the server's next data";
// OpenSSL's reply while its writes wait for the rest of a handshake message.
const std::string held_reply = "<held until the handshake message is whole>";

}  // namespace

std::string drain_bio(BIO* b) {
  std::string out;
  char chunk[16384];
  for (int n; (n = BIO_read(b, chunk, sizeof chunk)) > 0;) out.append(chunk, static_cast<std::size_t>(n));
  return out;
}

std::uint64_t count_records(std::string_view stream) {
  std::uint64_t n = 0;
  for (std::size_t at = 0; at + 5 <= stream.size(); ++n) at += 5 + record_length(stream, at);
  return n;
}

const std::vector<const char*>& differential_suites() {
  static const std::vector<const char*> suites{
      "TLS_AES_128_GCM_SHA256",      "TLS_AES_256_GCM_SHA384",      "TLS_CHACHA20_POLY1305_SHA256",
      "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"};
  return suites;
}

std::string record_outcome::describe() const {
  std::ostringstream o;
  o << "plain " << plain.size() << " bytes, alerts [";
  for (const auto& [level, description] : alerts) o << " " << level << "/" << description;
  o << " ], " << (ended ? (closed ? "closed" : "ended") : "open") << ", "
    << (resumable ? "resumable" : "not resumable") << ", reply \"";
  for (const char c : reply) {
    if (c == '\0') o << "\\0";
    else o << c;
  }
  o << "\"";
  if (!detail.empty()) o << " (" << detail << ")";
  return o.str();
}

record_pair::record_pair(const char* suite) : tls12_(std::strncmp(suite, "TLS_", 4) != 0) {
  server_ctx_.reset(SSL_CTX_new(TLS_server_method()));
  client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
  check(server_ctx_ && client_ctx_, "SSL_CTX_new");
  // The server as vmsgate sets its contexts up, with the one suite.
  tls::apply_common_settings(server_ctx_.get(), "record diff", false);
  SSL_CTX_set_num_tickets(server_ctx_.get(), 1);
  const identity& id = the_identity();
  check(SSL_CTX_use_certificate(server_ctx_.get(), id.cert.get()) == 1 &&
            SSL_CTX_use_PrivateKey(server_ctx_.get(), id.key.get()) == 1,
        "the server's certificate");
  static const unsigned char sid_ctx[] = "record diff";
  SSL_CTX_set_session_id_context(server_ctx_.get(), sid_ctx, sizeof sid_ctx);
  SSL_CTX* c = client_ctx_.get();
  if (tls12_) {
    SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    check(SSL_CTX_set_cipher_list(c, suite) == 1, "the TLS 1.2 suite");
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  } else {
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    check(SSL_CTX_set_ciphersuites(c, suite) == 1, "the TLS 1.3 suite");
  }
  server_.reset(SSL_new(server_ctx_.get()));
  client_.reset(SSL_new(client_ctx_.get()));
  check(server_ && client_, "SSL_new");
  BIO* c_in = BIO_new(BIO_s_mem());
  BIO* c_out = BIO_new(BIO_s_mem());
  s_in_ = BIO_new(BIO_s_mem());
  s_out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(server_.get(), s_in_, s_out_);
  SSL_set_bio(client_.get(), c_in, c_out);
  SSL_set_accept_state(server_.get());
  SSL_set_connect_state(client_.get());
  SSL_set_read_ahead(server_.get(), 0);  // as the gateway does during the handshake
  check(tls::set_traffic_secret_sink(server_.get(), this), "the secret sink");
  shake_hands();
}

record_pair::~record_pair() = default;

void record_pair::on_secret(std::string_view label, std::span<const unsigned char> secret) noexcept {
  if (label == "CLIENT_TRAFFIC_SECRET_0") client_secret_.assign(secret.begin(), secret.end());
  if (label == "SERVER_TRAFFIC_SECRET_0") {
    server_secret_.assign(secret.begin(), secret.end());
    char* data = nullptr;
    const long pending = BIO_get_mem_data(s_out_, &data);
    mark_ = server_records_ + count_records(std::string_view(data, static_cast<std::size_t>(pending)));
  }
}

void record_pair::shake_hands() {
  BIO* c_in = SSL_get_rbio(client_.get());
  BIO* c_out = SSL_get_wbio(client_.get());
  std::string server_stream, client_stream;
  for (int round = 0; round < 10; ++round) {
    const int c = SSL_do_handshake(client_.get());
    const std::string flight = drain_bio(c_out);
    client_stream += flight;
    put(s_in_, flight);
    const int s = SSL_do_handshake(server_.get());
    const std::string back = drain_bio(s_out_);
    server_records_ += count_records(back);
    server_stream += back;
    put(c_in, back);
    if (c == 1 && s == 1) break;
  }
  check(SSL_is_init_finished(server_.get()) == 1 && SSL_has_pending(server_.get()) == 0, "the handshake");
  tls::set_traffic_secret_sink(server_.get(), nullptr);
  suite_ = SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(server_.get()));
  std::string error;
  if (tls12_) {
    const std::uint64_t written = records_after_ccs(server_stream);
    const std::uint64_t read = records_after_ccs(client_stream);
    written_after_key_ = written;
    std::array<unsigned char, 48> master{};
    std::array<unsigned char, 32> client_random{}, server_random{};
    SSL_SESSION_get_master_key(SSL_get_session(server_.get()), master.data(), master.size());
    SSL_get_client_random(server_.get(), client_random.data(), 32);
    SSL_get_server_random(server_.get(), server_random.data(), 32);
    sealer_ = tls::record_layer::make_tls12(suite_, {master, client_random, server_random}, false, read, written,
                                            error);
    client_secret_.assign(master.begin(), master.end());  // kept for the decoder
    server_secret_.assign(client_random.begin(), client_random.end());
    server_secret_.insert(server_secret_.end(), server_random.begin(), server_random.end());
    // The subject's cache holds a copy of the session, as the server's holds it.
    subject_cache_.reset(SSL_CTX_new(TLS_server_method()));
    check(subject_cache_ != nullptr, "the subject's cache");
    const tls::ssl_session_ptr copy(SSL_SESSION_dup(SSL_get_session(server_.get())));
    check(copy && SSL_CTX_add_session(subject_cache_.get(), copy.get()) == 1, "the subject's session");
    check(SSL_CTX_sess_number(server_ctx_.get()) == 1, "the TLS 1.2 session is not cached");
  } else {
    written_after_key_ = server_records_ - mark_;
    sealer_ = tls::record_layer::make(suite_, server_secret_, client_secret_, 0, error, written_after_key_);
  }
  check(sealer_ != nullptr, error.c_str());
  SSL_set_read_ahead(server_.get(), 1);  // as the context has it after the handshake
}

std::string record_pair::seal(unsigned char type, std::string_view content, std::size_t padding) {
  std::string out(content.size() + padding + 64, '\0');
  const std::size_t n = sealer_->seal_content(type, reinterpret_cast<const unsigned char*>(content.data()),
                                              content.size(), reinterpret_cast<unsigned char*>(out.data()), padding);
  check(n > 0, "cannot seal the client's record");
  out.resize(n);
  return out;
}

std::string record_pair::key_update(unsigned char request) {
  std::string out(64, '\0');
  const std::size_t n = sealer_->seal_key_update(request, reinterpret_cast<unsigned char*>(out.data()));
  check(n > 0, "cannot seal the client's KeyUpdate");
  out.resize(n);
  return out;
}

std::string record_pair::key_update_tail(std::string_view rest) {
  std::string out = seal(22, rest);
  check(sealer_->change_write_key(), "cannot change the client's key");
  return out;
}

std::string record_pair::header(unsigned char type, unsigned version, std::size_t length) {
  return {static_cast<char>(type), static_cast<char>(version >> 8), static_cast<char>(version & 0xff),
          static_cast<char>((length >> 8) & 0xff), static_cast<char>(length & 0xff)};
}

std::string record_pair::server_output() { return drain_bio(s_out_); }

record_outcome record_pair::openssl(std::string_view wire, std::span<const std::size_t> cuts) {
  record_outcome o;
  std::vector<char> buf(out_cap);
  for (const std::string_view piece : pieces(wire, cuts)) {
    put(s_in_, piece);
    for (;;) {
      const int n = SSL_read(server_.get(), buf.data(), static_cast<int>(buf.size()));
      if (n > 0) {
        o.plain.append(buf.data(), static_cast<std::size_t>(n));
        continue;
      }
      const int err = SSL_get_error(server_.get(), n);
      if (err != SSL_ERROR_WANT_READ || (SSL_get_shutdown(server_.get()) & SSL_RECEIVED_SHUTDOWN) != 0) {
        o.ended = true;
        // close_notify sets RECEIVED_SHUTDOWN with no error queued. (SSL_get_error says
        // ZERO_RETURN only if the last warning read was close_notify: a TLS 1.3
        // close_notify of level fatal after a user_canceled reads as SYSCALL, though
        // OpenSSL has closed in order all the same: nothing sent, session kept.)
        o.closed = (SSL_get_shutdown(server_.get()) & SSL_RECEIVED_SHUTDOWN) != 0 && err != SSL_ERROR_SSL;
        o.detail = tls::drain_errors();
      }
      break;
    }
    if (o.ended) break;
  }
  ERR_clear_error();
  o.resumable = !tls12_ || SSL_CTX_sess_number(server_ctx_.get()) > 0;
  std::string out = server_output();
  bool held = false;
  if (!o.ended) {
    const int n = SSL_write(server_.get(), probe, sizeof probe);
    // A TLS 1.2 ClientHello that has come in part holds OpenSSL's writes until the
    // rest comes (it is in its handshake again); the layer's are not held.
    held = n <= 0 && SSL_get_error(server_.get(), n) == SSL_ERROR_WANT_READ && SSL_in_init(server_.get()) != 0;
    ERR_clear_error();
    check(held || n == sizeof probe, "the reference's reply");
    out += server_output();
  }
  const record_outcome read = read_output(out, o.ended);
  o.alerts = read.alerts;
  o.reply = held ? held_reply : read.reply;
  return o;
}

record_outcome record_pair::vmsgate(std::string_view wire, std::span<const std::size_t> cuts) {
  record_outcome o;
  std::string error;
  std::unique_ptr<tls::record_layer> layer =
      tls12_ ? tls::record_layer::after_tls12_handshake(server_.get(), written_after_key_, 1, error)
             : tls::record_layer::make(suite_, client_secret_, server_secret_, written_after_key_, error);
  check(layer != nullptr, error.c_str());
  unsigned int id_size = 0;
  const unsigned char* id = SSL_SESSION_get_id(SSL_get_session(server_.get()), &id_size);
  const std::vector<unsigned char> session_id(id, id + id_size);
  // The gateway's receive buffer: what came and has not been opened yet.
  std::string in;
  std::size_t off = 0;
  std::vector<std::byte> plain(out_cap);
  std::string out;
  auto seal_into_out = [&out](auto&& sealer) {
    std::array<std::byte, tls::record_layer::alert_room> a{};
    const std::size_t n = sealer(a.data());
    out.append(reinterpret_cast<const char*>(a.data()), n);
    return n;
  };
  for (const std::string_view piece : pieces(wire, cuts)) {
    in.append(piece);
    for (;;) {
      const auto r = layer->open(reinterpret_cast<const std::byte*>(in.data() + off), in.size() - off, plain.data(),
                                 plain.size());
      off += r.used;
      o.plain.append(reinterpret_cast<const char*>(plain.data()), r.plain);
      while (layer->owes_reply()) {
        if (seal_into_out([&](std::byte* p) { return layer->seal_owed(p); }) == 0) break;
      }
      if (r.closed) {
        o.ended = o.closed = true;
      } else if (!r.error.empty()) {
        o.ended = true;
        o.detail = r.error;
        o.departure = r.departure;
        if (r.forget_session && tls12_) tls::forget_tls12_session(subject_cache_.get(), session_id);
        if (r.alert != 0) seal_into_out([&](std::byte* p) { return layer->seal_alert(r.alert, p); });
      }
      if (o.ended || r.used == 0 || off == in.size()) break;
    }
    if (o.ended) break;
  }
  departure_at_ = off;
  o.resumable = !tls12_ || SSL_CTX_sess_number(subject_cache_.get()) > 0;
  if (!o.ended) {
    std::vector<std::byte> sealed(tls::record_layer::seal_room(sizeof probe));
    const std::size_t n = layer->seal(reinterpret_cast<const std::byte*>(probe), sizeof probe, sealed.data());
    check(n > 0, "the subject's reply");
    out.append(reinterpret_cast<const char*>(sealed.data()), n);
  }
  const record_outcome read = read_output(out, o.ended);
  o.alerts = read.alerts;
  o.reply = read.reply;
  return o;
}

// What the client reads of the server's bytes: the alerts, and the application data
// (following the server's KeyUpdates).
record_outcome record_pair::read_output(std::string_view out, bool) const {
  record_outcome o;
  const tls::record_suite* suite = tls::find_record_suite(suite_, tls12_);
  check(suite != nullptr, "the suite");
  tls::record_protection keys(*suite);
  if (tls12_) {
    const std::span<const unsigned char> randoms(server_secret_);
    check(keys.set_tls12({client_secret_, randoms.subspan(0, 32), randoms.subspan(32, 32)}, false), "decoder keys");
  } else {
    check(keys.set_tls13(server_secret_, client_secret_), "decoder keys");
  }
  keys.set_sequences(0, written_after_key_);
  std::vector<unsigned char> body(out_cap);
  for (std::size_t at = 0; at + 5 <= out.size();) {
    const std::size_t len = record_length(out, at);
    if (at + 5 + len > out.size()) {
      o.reply += "<a partial record>";
      break;
    }
    const auto* h = reinterpret_cast<const unsigned char*>(out.data() + at);
    if (!keys.open(h, len, body.data())) {
      o.reply += "<a record the client cannot open>";
      break;
    }
    at += 5 + len;
    std::size_t content = keys.sealed_size(len);
    unsigned char type = h[0];
    if (!tls12_) {
      while (content > 1 && body[content - 1] == 0) --content;
      type = body[--content];
    }
    if (type == 21 && content == 2) {
      o.alerts.emplace_back(body[0], body[1]);
    } else if (type == 22 && !tls12_ && content == 5 && body[0] == 24) {
      check(keys.update_read(), "the decoder's KeyUpdate");
    } else if (type == 23) {
      o.reply.append(reinterpret_cast<const char*>(body.data()), content);
    } else {
      o.reply += "<a record of type " + std::to_string(type) + ">";
    }
  }
  return o;
}

std::string record_pair::compare(std::string_view wire, std::span<const std::size_t> cuts) {
  const record_outcome mine = vmsgate(wire, cuts);
  std::string_view reference_wire = wire;
  record_outcome expected = mine;
  if (mine.departure != nullptr) {
    // Where the layer answers as the RFC says, OpenSSL must agree on everything
    // before that record; the record itself ends the connection with one alert more.
    reference_wire = wire.substr(0, departure_at_);
    if (mine.alerts.empty()) return "a departure without an alert: " + mine.describe();
    expected.alerts.pop_back();
    expected.ended = false;
    expected.resumable = true;
    expected.reply.assign(probe, sizeof probe);
  }
  const record_outcome theirs = openssl(reference_wire, cuts);
  std::string diff;
  if (theirs.plain != expected.plain) diff += " plain text differs;";
  if (theirs.alerts != expected.alerts) diff += " alerts differ;";
  if (theirs.ended != expected.ended || theirs.closed != expected.closed) diff += " the end differs;";
  if (theirs.resumable != expected.resumable) diff += " resumption differs;";
  if (theirs.reply != expected.reply && theirs.reply != held_reply) diff += " the reply differs;";
  if (diff.empty()) return {};
  return "vmsgate:" + diff + "\n  openssl: " + theirs.describe() + "\n  vmsgate: " + mine.describe() +
         (mine.departure != nullptr ? std::string("\n  departure: ") + mine.departure : std::string());
}

}  // namespace vmsgate::test

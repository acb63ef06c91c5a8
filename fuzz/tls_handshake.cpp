// A server-side TLS handshake, with the context every terminate route uses
// (tls::make_server_context), fed arbitrary client bytes. The SSL object reads from
// a memory BIO here only because a fuzzer has no socket; the options, suites,
// callbacks and limits are those of the real data path.
//
// Input: one byte whose low bit asks for client certificates, whose next bit makes
// the route an ACME one answering tls-alpn-01 for rec01.example.local, and whose
// third bit makes it pending (no certificate of its own yet), then a sequence of flights, each a 2-byte big-endian length then that many
// bytes, so that the fuzzer can send a ClientHello and, after the server's answer,
// more records (a Finished, an alert, application data, a renegotiation attempt).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "proxy/pki/builder.hpp"
#include "proxy/tls/server_context.hpp"

namespace {

using namespace vmsgate;

// One identity for the whole run: making an RSA key per input would leave no time
// for the fuzzing itself. With `mutual`, the context asks for a client certificate
// (client_auth optional) from a role whose CA is that same self-signed certificate,
// so that client certificates in the input reach the peer verification callback.
std::shared_ptr<const tls::server_context> make_context(bool mutual, bool acme, bool pending) {
  auto key = pki::generate_rsa(2048);
  pki::cert_spec spec;
  spec.common_name = "rec01.example.local";
  spec.dns_names = {"rec01.example.local", "*.rec.example.local"};
  spec.ip_addresses = {"127.0.0.1"};
  spec.not_before = pki::clock::now() - std::chrono::hours(1);
  spec.not_after = pki::clock::now() + std::chrono::hours(24);
  auto cert = pki::make_certificate(spec, key.get(), nullptr, key.get());
  tls::server_identity id;
  id.route = "fuzz";
  id.own.cert_chain_pem = pki::to_pem(cert.get());
  id.own.key_pem = tls::to_secret(pki::to_pem(key.get()));
  id.server_names = spec.dns_names;
  if (mutual) {
    id.client_auth = tls::client_auth::optional;
    tls::peer_role_source role;
    role.policy.name = "management";
    role.policy.peer_names = {"*.example.local"};
    role.ca_pem = id.own.cert_chain_pem;
    id.peers.push_back(role);
  }
  if (acme) {
    auto answers = std::make_shared<tls::acme_answers>();
    answers->put("rec01.example.local", tls::x509_ptr(X509_dup(cert.get())), [&] {
      EVP_PKEY_up_ref(key.get());
      return tls::pkey_ptr(key.get());
    }());
    id.acme = std::move(answers);
    id.pending = pending;
  }
  // A fixed key, so that a ticket in the corpus stays meaningful from run to run.
  auto ring = std::make_shared<const tls::ticket_keyring>(tls::ticket_key_list{tls::ticket_key{}});
  return tls::make_server_context(id, ring);
}

// The eight contexts of the first byte's three bits, each made on first use.
const tls::server_context& context(unsigned bits) {
  static std::shared_ptr<const tls::server_context> made[8];
  auto& ctx = made[bits & 7];
  if (!ctx) ctx = make_context((bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0);
  return *ctx;
}

// Runs the SSL object on what it has; reads application data once the handshake is done.
void step(SSL* ssl) {
  if (SSL_is_init_finished(ssl) == 0) {
    (void)SSL_do_handshake(ssl);
  }
  if (SSL_is_init_finished(ssl) == 1) {
    unsigned char buf[4096];
    for (int i = 0; i < 4 && SSL_read(ssl, buf, sizeof buf) > 0; ++i) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const tls::server_context& ctx = context(data[0]);
  ++data;
  --size;
  tls::ssl_ptr ssl(SSL_new(ctx.ctx.get()));
  if (!ssl) return 0;
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in, -1);  // "no more yet", as a non-blocking socket says
  SSL_set_bio(ssl.get(), in, out);  // the SSL owns both from here
  SSL_set_accept_state(ssl.get());
  std::size_t at = 0;
  for (int flight = 0; flight < 8 && at + 2 <= size; ++flight) {
    const std::size_t n = std::min<std::size_t>((data[at] << 8) | data[at + 1], size - at - 2);
    BIO_write(in, data + at + 2, static_cast<int>(n));
    at += 2 + n;
    step(ssl.get());
    (void)BIO_reset(out);  // what the server sends is of no interest, only that it survives
  }
  // Whatever is left is one last flight.
  if (at < size) {
    BIO_write(in, data + at, static_cast<int>(size - at));
    step(ssl.get());
  }
  tls::drain_errors();
  return 0;
}

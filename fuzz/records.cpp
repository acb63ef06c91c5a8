// What a client may send after a TLS 1.3 handshake, and after a TLS 1.2 one (each
// input goes through both), into tls::record_layer::open:
// records sealed with the client's key (any content type, any content, so that the
// content checks, padding, alerts, KeyUpdate and renegotiation are reached) mixed
// with raw bytes
// (headers, lengths, forgeries). Then, whatever happened, the server's next sealed
// data must open on the client's side as exactly what was sealed: a KeyUpdate the
// server owed goes first, under the old key.
//
// Input: chunks of [kind][length][bytes]. A kind with its high bit set appends the
// bytes raw; otherwise the client seals them as one record of content type `kind`.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "proxy/tls/record_layer.hpp"

using vmsgate::tls::record_layer;

namespace {

std::vector<unsigned char> client_records(const std::uint8_t* data, std::size_t size, record_layer& client) {
  std::vector<unsigned char> wire;
  std::size_t at = 0;
  while (at + 2 <= size) {
    const unsigned char kind = data[at];
    const std::size_t len = std::min<std::size_t>(data[at + 1], size - at - 2);
    at += 2;
    if ((kind & 0x80) != 0) {
      wire.insert(wire.end(), data + at, data + at + len);
    } else {
      const std::size_t off = wire.size();
      wire.resize(off + len + 64);
      const std::size_t n = client.seal_content(kind, data + at, len, wire.data() + off);
      wire.resize(off + n);
    }
    at += len;
  }
  return wire;
}

// The client's records into the server, then the server's next data back.
void exchange(const std::uint8_t* data, std::size_t size, record_layer& server, record_layer& client) {
  const std::vector<unsigned char> wire = client_records(data, size, client);
  std::vector<std::byte> out(2 * record_layer::max_record);
  for (std::size_t done = 0; done < wire.size();) {
    const auto r = server.open(reinterpret_cast<const std::byte*>(wire.data() + done), wire.size() - done,
                               out.data(), out.size());
    if (r.used > wire.size() - done || r.plain > out.size()) __builtin_trap();
    if (r.used == 0 || r.closed || !r.error.empty()) break;
    done += r.used;
  }

  // A TLS 1.2 renegotiation is answered with a no_renegotiation warning before the
  // next data; the client here did not ask (a client that did gives up on it, as
  // OpenSSL's does), so the check of the next data stops there. record_diff holds
  // that answer to OpenSSL's.
  if (server.owes_reply()) return;
  const char text[] = "the server's next data";
  std::vector<std::byte> sealed(record_layer::seal_room(sizeof text));
  const std::size_t n = server.seal(reinterpret_cast<const std::byte*>(text), sizeof text, sealed.data());
  if (n == 0) __builtin_trap();
  const auto back = client.open(sealed.data(), n, out.data(), out.size());
  if (!back.error.empty() || back.used != n || back.plain != sizeof text ||
      std::memcmp(out.data(), text, sizeof text) != 0) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<unsigned char> client_secret(32, 0xa5);
  static const std::vector<unsigned char> server_secret(32, 0x5a);
  static const std::vector<unsigned char> master(48, 0x3c);
  static const std::vector<unsigned char> client_random(32, 0x11);
  static const std::vector<unsigned char> server_random(32, 0x22);
  std::string error;
  auto server = record_layer::make(0x1301, client_secret, server_secret, 0, error);
  auto client = record_layer::make(0x1301, server_secret, client_secret, 0, error);
  if (!server || !client) __builtin_trap();
  exchange(data, size, *server, *client);
  // TLS 1.2: AES-GCM with its explicit nonce, as most clients use, and ChaCha20.
  const record_layer::tls12_secrets secrets{master, client_random, server_random};
  for (const std::uint16_t suite : {0xc02f, 0xcca8}) {
    server = record_layer::make_tls12(suite, secrets, true, 1, 1, error);
    client = record_layer::make_tls12(suite, secrets, false, 1, 1, error);
    if (!server || !client) __builtin_trap();
    exchange(data, size, *server, *client);
  }
  return 0;
}

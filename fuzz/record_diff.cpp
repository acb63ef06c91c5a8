// The differential fuzzer of the worker's record layer: the input builds a sequence
// of client records (valid records of every content type, flipped bits, raw headers
// of any type, version and length, alerts of every level and description, KeyUpdates
// of every value, handshake messages in fragments, TLS 1.3 padding) and the cuts at
// which its bytes arrive; tests/support/record_diff.hpp feeds it to OpenSSL's own
// record path and to tls::record_layer with the same keys. Any difference other than
// a documented RFC departure (tls::rfc_departures) is a crash.
//
// Input: byte 0 picks the suite (of six); then ops of [op][len][bytes]:
//   op % 8 == 0: a data record of the bytes        1: an alert record (level, description)
//           2: a handshake record of the bytes     3: a record of content type bytes[0]
//           4: a KeyUpdate of request bytes[0], whole, or its first bytes[1] % 5 bytes
//           5: raw bytes                           6: the previous record with a bit flipped
//           7: a cut here (the bytes so far arrive apart)
// op / 8 is the TLS 1.3 padding of a sealed record, times 16.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/support/record_diff.hpp"

using vmsgate::test::record_pair;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto& suites = vmsgate::test::differential_suites();
  record_pair pair(suites[data[0] % suites.size()]);
  std::string wire;
  std::vector<std::size_t> cuts;
  std::size_t last = 0;  // where the last sealed record starts
  for (std::size_t at = 1; at + 2 <= size;) {
    const unsigned char op = data[at];
    const std::size_t len = std::min<std::size_t>(data[at + 1], size - at - 2);
    const std::string bytes(reinterpret_cast<const char*>(data + at + 2), len);
    at += 2 + len;
    const std::size_t padding = pair.tls12() ? 0 : std::size_t{op / 8u} * 16;
    const std::size_t start = wire.size();
    switch (op % 8) {
      case 0: wire += pair.seal(23, bytes, padding); break;
      case 1: wire += pair.seal(21, bytes.substr(0, 2), padding); break;
      case 2: wire += pair.seal(22, bytes, padding); break;
      case 3: wire += pair.seal(bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]), bytes.substr(std::min<std::size_t>(1, len)), padding); break;
      case 4: {
        if (pair.tls12()) break;
        const unsigned char request = bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]);
        const std::size_t part = len > 1 ? static_cast<unsigned char>(bytes[1]) % 5 : 0;
        const std::string message{24, 0, 0, 1, static_cast<char>(request)};
        if (part == 0) {
          wire += pair.key_update(request);
        } else {
          wire += pair.seal(22, message.substr(0, part));
          wire += pair.key_update_tail(message.substr(part));
        }
        break;
      }
      case 5: wire += bytes; break;
      case 6:
        if (last < wire.size()) {
          const std::size_t bit = bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]) * 8u + (op & 7);
          wire[last + bit / 8 % (wire.size() - last)] ^= static_cast<char>(1 << (bit % 8));
        }
        break;
      case 7: cuts.push_back(wire.size()); break;
    }
    if (wire.size() > start && op % 8 != 5 && op % 8 != 6) last = start;
  }
  const std::string diff = pair.compare(wire, cuts);
  if (!diff.empty()) {
    std::fprintf(stderr, "record layer differs from OpenSSL: %s\n", diff.c_str());
    __builtin_trap();
  }
  return 0;
}

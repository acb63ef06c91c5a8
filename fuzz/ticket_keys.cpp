// The session ticket key file parser (tls.ticket_keys) on arbitrary text: a file an
// operator edits by hand and a reload reads again, so it must fail with a message,
// never crash, and never return keys together with an error.

#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/tls/ticket_keys.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto keys = vmsgate::tls::parse_ticket_keys(text, error);
  // Exactly one of the two: keys, or a reason why there are none.
  if (error.empty() == keys.empty()) __builtin_trap();
  return 0;
}

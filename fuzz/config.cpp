// The YAML config loader on arbitrary text: it must return errors, never crash,
// hang or leak, whatever an operator (or an attacker who can write the file) puts in.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto result = vmsgate::config::load_string(text, "/nonexistent/fuzz/vmsgate.yaml");
  // Every error must render: str() is what the operator reads.
  std::size_t total = 0;
  for (const auto& e : result.errors) total += e.str().size();
  // A loaded config has no errors and vice versa; anything else is a loader bug.
  if (result.cfg.has_value() == !result.errors.empty()) __builtin_trap();
  return total == static_cast<std::size_t>(-1) ? 1 : 0;
}

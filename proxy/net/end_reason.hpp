#pragma once
// Why a session ended: one enum and one table of names, used by the closing log line
// (`end`), by `log.connections: errors` (which ends are worth a line) and by the
// tests. docs/logs.md documents each name; tests/net/end_reason_test.cpp holds the
// two to each other.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vmsgate::net_io {

// X(name, ended_well): `ended_well` ends are left out with `log.connections: errors`.
#define VMSGATE_END_REASONS(X)      \
  X(client_closed, true)            \
  X(backend_closed, true)           \
  X(client_reset, true)             \
  X(backend_reset, true)            \
  X(closed_before_handshake, true)  \
  X(closed, false)                  \
  X(handshake_failed, false)        \
  X(handshake_timeout, false)       \
  X(connect_timeout, false)         \
  X(idle_timeout, false)            \
  X(backend_unavailable, false)     \
  X(client_error, false)            \
  X(backend_error, false)           \
  X(handshake_limit, false)         \
  X(acme_validation, false)         \
  X(route_limit, false)             \
  X(shutdown, false)                \
  X(internal_error, false)

enum class end_reason : std::uint8_t {
#define VMSGATE_END_REASON_ENUM(name, well) name,
  VMSGATE_END_REASONS(VMSGATE_END_REASON_ENUM)
#undef VMSGATE_END_REASON_ENUM
};

inline constexpr std::array end_reason_names = {
#define VMSGATE_END_REASON_NAME(name, well) std::string_view(#name),
    VMSGATE_END_REASONS(VMSGATE_END_REASON_NAME)
#undef VMSGATE_END_REASON_NAME
};

inline constexpr std::array end_reason_ended_well = {
#define VMSGATE_END_REASON_WELL(name, well) well,
    VMSGATE_END_REASONS(VMSGATE_END_REASON_WELL)
#undef VMSGATE_END_REASON_WELL
};

constexpr std::string_view name(end_reason r) noexcept { return end_reason_names[static_cast<std::size_t>(r)]; }

// An end that is no failure: a side closed or reset an established stream, or a
// client left before saying anything.
constexpr bool ended_well(end_reason r) noexcept { return end_reason_ended_well[static_cast<std::size_t>(r)]; }

constexpr std::optional<end_reason> end_reason_named(std::string_view text) noexcept {
  for (std::size_t i = 0; i < end_reason_names.size(); ++i) {
    if (end_reason_names[i] == text) return static_cast<end_reason>(i);
  }
  return std::nullopt;
}

}  // namespace vmsgate::net_io

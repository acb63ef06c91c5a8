#pragma once
// How long a TLS session may be resumed: never past `tls.session_lifetime` from the
// full handshake that made it (resumptions hand out fresh tickets, which must not
// extend it), and never once the peer certificate it carries has stopped being
// valid (a resumption does not show the certificate again). Both ends use it: a
// terminate route for the tickets and cached sessions of its clients, an originate
// route for the sessions its upstreams hand out.

#include <openssl/ssl.h>

#include <chrono>
#include <ctime>
#include <optional>

namespace vmsgate::tls {

// The peer certificate `session` carries is within its validity period at `now`
// (true when it carries none).
bool peer_valid_at(const SSL_SESSION* session, std::time_t now) noexcept;

// When `session`, whose full handshake was at `born`, may last be resumed: `born` +
// `lifetime`, or the peer certificate's notAfter if that comes first.
std::time_t resumable_until(const SSL_SESSION* session, std::time_t born, std::chrono::seconds lifetime) noexcept;

// Whether `session` may be resumed at `now`.
inline bool resumable_at(const SSL_SESSION* session, std::time_t born, std::chrono::seconds lifetime,
                         std::time_t now) noexcept {
  return now < resumable_until(session, born, lifetime) && peer_valid_at(session, now);
}

// The time of a session's full handshake, as a terminate route writes it into the
// tickets it issues (the ticket's application data); none for a session without it.
std::optional<std::time_t> ticket_born(const SSL_SESSION* session) noexcept;
bool set_ticket_born(SSL_SESSION* session, std::time_t born) noexcept;

}  // namespace vmsgate::tls

#include "proxy/tls/session_lifetime.hpp"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace vmsgate::tls {
namespace {

// "vmsgate-born" and the time, big-endian: application data no other writer uses.
constexpr std::array<unsigned char, 4> tag{'v', 'm', 'g', 'b'};

std::optional<std::time_t> to_time(const ASN1_TIME* t) noexcept {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

}  // namespace

bool peer_valid_at(const SSL_SESSION* session, std::time_t now) noexcept {
  X509* peer = SSL_SESSION_get0_peer(const_cast<SSL_SESSION*>(session));
  if (peer == nullptr) return true;
  const auto not_before = to_time(X509_get0_notBefore(peer));
  const auto not_after = to_time(X509_get0_notAfter(peer));
  return not_before && not_after && *not_before <= now && now < *not_after;
}

std::time_t resumable_until(const SSL_SESSION* session, std::time_t born, std::chrono::seconds lifetime) noexcept {
  std::time_t until = born + static_cast<std::time_t>(lifetime.count());
  if (X509* peer = SSL_SESSION_get0_peer(const_cast<SSL_SESSION*>(session))) {
    const auto not_after = to_time(X509_get0_notAfter(peer));
    until = not_after ? std::min(until, *not_after) : born;
  }
  return until;
}

std::optional<std::time_t> ticket_born(const SSL_SESSION* session) noexcept {
  void* data = nullptr;
  std::size_t size = 0;
  if (SSL_SESSION_get0_ticket_appdata(const_cast<SSL_SESSION*>(session), &data, &size) != 1 ||
      size != tag.size() + 8 || std::memcmp(data, tag.data(), tag.size()) != 0) {
    return std::nullopt;
  }
  const auto* p = static_cast<const unsigned char*>(data) + tag.size();
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return static_cast<std::time_t>(v);
}

bool set_ticket_born(SSL_SESSION* session, std::time_t born) noexcept {
  std::array<unsigned char, tag.size() + 8> data{};
  std::memcpy(data.data(), tag.data(), tag.size());
  const auto v = static_cast<std::uint64_t>(born);
  for (int i = 0; i < 8; ++i) data[tag.size() + i] = static_cast<unsigned char>(v >> (56 - 8 * i));
  return SSL_SESSION_set1_ticket_appdata(session, data.data(), data.size()) == 1;
}

}  // namespace vmsgate::tls

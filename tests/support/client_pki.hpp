#pragma once
// A CA of the management role and one client certificate of it, made in-process
// for tests that need a client certificate of their own (its end, its key).

#include <chrono>
#include <filesystem>
#include <string>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::test {

struct client_pki {
  std::string ca, cert, key;  // PEM files in the directory given
};

// mgmt01.example.local, clientAuth, valid from an hour ago until `not_after`, with
// `key` (an RSA-2048 key when null).
client_pki make_client_pki(const std::filesystem::path& dir, std::chrono::system_clock::time_point not_after,
                           EVP_PKEY* key = nullptr);

// A gateway config with one terminate route "strict" (role recording, the shared
// rec01 certificate) that requires a client certificate of role management, whose CA
// is `client`'s; `top` goes before `roles:` (e.g. a tls: block) and `management`
// under the management role (e.g. its key rules). One worker.
std::string mutual_tls_config(const std::string& backend, const client_pki& client, const std::string& top = "",
                              const std::string& management = "");

}  // namespace vmsgate::test

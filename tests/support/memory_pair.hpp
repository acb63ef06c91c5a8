#pragma once
// Joins a server and a client SSL through OpenSSL's in-memory BIO pair, so that a
// handshake can be stepped in one thread with no socket. Header-only: the TLS tests
// and bench/handshake_bench.cpp both use it, and the bench does not link the test
// support library.

#include <openssl/bio.h>
#include <openssl/ssl.h>

namespace vmsgate::test {

// The server in accept state, the client in connect state, each owning its end of
// the pair. False, with neither SSL touched, if the pair could not be made.
inline bool join_in_memory(SSL* server, SSL* client) {
  BIO* server_bio = nullptr;
  BIO* client_bio = nullptr;
  if (BIO_new_bio_pair(&server_bio, 0, &client_bio, 0) != 1) return false;
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  return true;
}

}  // namespace vmsgate::test

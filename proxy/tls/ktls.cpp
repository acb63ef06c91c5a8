#include "proxy/tls/ktls.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/opensslconf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

namespace vmsgate::tls {
namespace {

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

std::string failed(const char* step) { return std::string(step) + ": " + std::strerror(errno); }

}  // namespace

ktls_support probe_kernel_tls() {
#ifdef OPENSSL_NO_KTLS
  return {false, "OpenSSL was built without kernel TLS"};
#else
  // The ULP can only be set on an established connection, so make one on loopback.
  fd_guard listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (listener.fd < 0) return {false, failed("socket")};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return {false, failed("bind")};
  if (::listen(listener.fd, 1) != 0) return {false, failed("listen")};
  if (::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {false, failed("getsockname")};
  fd_guard client{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (client.fd < 0) return {false, failed("socket")};
  if (::connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {false, failed("connect")};
  fd_guard accepted{::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC)};
  if (accepted.fd < 0) return {false, failed("accept")};
  if (::setsockopt(client.fd, SOL_TCP, TCP_ULP, "tls", 3) == 0) return {true, "kernel TLS ULP present"};
  if (errno == ENOENT) return {false, "the kernel has no TLS ULP (CONFIG_TLS off or module tls not loaded)"};
  return {false, failed("setsockopt(TCP_ULP, tls)")};
#endif
}

const ktls_support& kernel_tls() {
  static const ktls_support found = probe_kernel_tls();
  return found;
}

}  // namespace vmsgate::tls

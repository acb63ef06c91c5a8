#include "proxy/tls/secret.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vmsgate::tls {

void wipe(void* p, std::size_t n) noexcept { OPENSSL_cleanse(p, n); }

secret_string read_secret_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  secret_string out;
  struct stat st {};
  // Sized once from the file's size when it has one, so that the usual read does
  // not reallocate; a file that grows meanwhile still reads whole (and every
  // block given back is wiped).
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size) + 1);
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      out.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int saved = errno;
    wipe(chunk, sizeof chunk);
    ::close(fd);
    if (n < 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(saved));
    return out;
  }
}

}  // namespace vmsgate::tls

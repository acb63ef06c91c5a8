// account_key::load_or_create: the account key's file, read or made once.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "proxy/common/unique_fd.hpp"
#include "proxy/acme/jws.hpp"
#include "proxy/pki/builder.hpp"
#include "proxy/tls/certificate.hpp"

namespace vmsgate::acme {

namespace {

[[noreturn]] void fail_errno(const std::string& what, const std::string& path, int err) {
  throw error("cannot " + what + " " + path + ": " + std::strerror(err));
}

using fd_guard = vmsgate::unique_fd;

// The PEM of a fresh key, wiped from memory when it goes.
struct wiped_string {
  std::string text;
  ~wiped_string() { OPENSSL_cleanse(text.data(), text.size()); }
};

account_key load_existing(const std::string& path) {
  std::string why;
  tls::pkey_ptr key = tls::load_private_key(path, why);
  if (!key) throw error("the ACME account key " + path + " " + why + " (the file is left as it is)");
  try {
    return account_key(std::move(key));
  } catch (const error& e) {
    throw error("the ACME account key " + path + ": " + e.what());
  }
}

// Makes every missing directory above the key 0700: only the gateway's user has
// any business there.
void make_parents(const std::filesystem::path& dir) {
  std::filesystem::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0) continue;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) fail_errno("create the directory", prefix.string(), errno);
  }
}

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("write", path, errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail_errno("sync", path, errno);
}

// A complete 0600 file (mkstemp's mode) beside `path`; returns its name.
std::string write_temp(const std::string& path, const std::string& data) {
  std::string temp = path + ".tmp-XXXXXX";
  fd_guard fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) fail_errno("create a file beside", path, errno);
  try {
    write_all(fd.get(), data, temp);
    if (::close(fd.release()) != 0) fail_errno("close", temp, errno);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  return temp;
}

// Renames without replacing: when another process made the key in the meantime,
// its key wins (false) and ours is dropped, so both end up using one account.
bool rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  int err = errno;
  // A file system without RENAME_NOREPLACE: the plain rename, still atomic.
  if ((err == EINVAL || err == ENOSYS) && ::rename(from.c_str(), to.c_str()) == 0) return true;
  if (err == EINVAL || err == ENOSYS) err = errno;
  ::unlink(from.c_str());
  if (err == EEXIST) return false;
  fail_errno("create", to, err);
}

// The rename is durable only once the directory itself is on disk. A failure here
// loses nothing that exists now, so it is not worth refusing the key for.
void sync_directory(const std::filesystem::path& dir) {
  fd_guard fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

account_key create_new(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  make_parents(dir);
  tls::pkey_ptr key;
  wiped_string pem;
  try {
    key = pki::generate_ec();
    pem.text = pki::to_pem(key.get());
  } catch (const pki::error& e) {
    throw error(std::string("cannot make an ACME account key: ") + e.what());
  }
  if (!rename_no_replace(write_temp(path, pem.text), path)) return load_existing(path);
  sync_directory(dir);
  return account_key(std::move(key));
}

}  // namespace

account_key account_key::load_or_create(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return load_existing(path);
  if (errno != ENOENT) fail_errno("use the ACME account key", path, errno);
  return create_new(path);
}

}  // namespace vmsgate::acme

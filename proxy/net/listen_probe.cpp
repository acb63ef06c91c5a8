#include "proxy/net/listen_probe.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace vmsgate::net_io {
namespace {

// /proc/net/tcp's "local_address" of a listener on `where`: hex address and port.
std::string proc_net_key(const tcp::endpoint& where) {
  char port[8];
  std::snprintf(port, sizeof port, "%04X", where.port());
  std::string addr;
  if (where.address().is_v4()) {
    // In host byte order of the 32-bit word, as the kernel prints it.
    const auto b = where.address().to_v4().to_bytes();
    char hex[9];
    std::snprintf(hex, sizeof hex, "%02X%02X%02X%02X", b[3], b[2], b[1], b[0]);
    addr = hex;
  } else {
    const auto b = where.address().to_v6().to_bytes();
    for (int word = 0; word < 4; ++word) {
      char hex[9];
      std::snprintf(hex, sizeof hex, "%02X%02X%02X%02X", b[word * 4 + 3], b[word * 4 + 2], b[word * 4 + 1],
                    b[word * 4]);
      addr += hex;
    }
  }
  return addr + ":" + port;
}

// The socket inode of the listener on `where`, from /proc/net/tcp or tcp6.
std::string listener_inode(const tcp::endpoint& where) {
  std::ifstream in(where.address().is_v4() ? "/proc/net/tcp" : "/proc/net/tcp6");
  const std::string key = proc_net_key(where);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
    if (!(f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
    if (state == "0A" && local == key) return inode;  // 0A: LISTEN
  }
  return {};
}

// "pid N (NAME)" of a process holding socket `inode`, if /proc lets us see it.
std::string holder_of(const std::string& inode) {
  const std::string target = "socket:[" + inode + "]";
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {};
  std::string found;
  while (const dirent* e = ::readdir(proc)) {
    const std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(::getpid()))
      continue;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (const dirent* fd = ::readdir(fds)) {
      char link[64];
      const ssize_t n = ::readlink((fd_dir + "/" + fd->d_name).c_str(), link, sizeof link - 1);
      if (n <= 0 || std::string(link, static_cast<std::size_t>(n)) != target) continue;
      std::string name;
      std::getline(std::ifstream("/proc/" + pid + "/comm") >> std::ws, name);
      found = "pid " + pid + (name.empty() ? "" : " (" + name + ")");
      break;
    }
    ::closedir(fds);
    if (!found.empty()) break;
  }
  ::closedir(proc);
  return found;
}

}  // namespace

std::optional<std::string> listening_holder(const tcp::endpoint& where) {
  if (where.port() == 0) return std::nullopt;
  const int fd = ::socket(where.address().is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;  // the real bind reports what is wrong
  const int one = 1;
  // SO_REUSEADDR: a port with only TIME_WAIT connections left is free; a listener is not.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (where.address().is_v6()) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const int rc = ::bind(fd, where.data(), static_cast<socklen_t>(where.size()));
  const int err = errno;
  ::close(fd);
  if (rc == 0 || err != EADDRINUSE) return std::nullopt;
  const std::string who = holder_of(listener_inode(where));
  return who.empty() ? std::string("another process") : who;
}

}  // namespace vmsgate::net_io

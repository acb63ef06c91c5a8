#include "tests/support/mtls.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <span>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

void run_or_throw(const std::string& cmd) {
  const auto r = run_command(cmd, 120s);
  if (r.code() != 0) throw std::runtime_error("`" + cmd + "` failed (" + r.status.str() + "): " + r.out + r.err);
}

std::string quote(const std::filesystem::path& p) { return shell_quote(p.string()); }

void issue(const std::filesystem::path& dir, const std::string& role, const std::string& host, bool client) {
  run_or_throw(std::string(VMSGATE_BINARY) + " pki issue --dir " + quote(dir) + " --role " + role + " --host " +
               host + (client ? " --client" : "") + " --bits 2048");
}

cert_pair pair_in(const std::filesystem::path& dir, const std::string& host) {
  return {dir / (host + ".pem"), dir / (host + ".key")};
}

// The paths of make_mtls_pki's files in `dir`.
mtls_pki mtls_pki_in(const std::filesystem::path& dir) {
  const auto site = dir / "site";
  const auto other = dir / "other";
  mtls_pki pki;
  pki.ca = site / "ca.pem";
  pki.ca_key = site / "ca.key";
  pki.other_ca = other / "ca.pem";
  pki.mgmt01 = pair_in(site, "mgmt01.example.local");
  pki.mgmt02 = pair_in(site, "mgmt02.example.local");
  pki.rec01 = pair_in(site, "rec01.rec.example.local");
  pki.outsider = pair_in(site, "rec01.example.local");
  pki.two_labels = pair_in(site, "a.b.rec.example.local");
  pki.foreign = pair_in(other, "rec01.rec.example.local");
  pki.expired = pair_in(dir / "expired", "rec01.rec.example.local");
  return pki;
}

void make_mtls_pki(const std::filesystem::path& dir) {
  const mtls_pki pki = mtls_pki_in(dir);
  const auto site = pki.ca.parent_path();
  const auto other = pki.other_ca.parent_path();
  for (const auto& d : {site, other, pki.expired.cert.parent_path()}) std::filesystem::create_directories(d);
  run_or_throw(std::string(VMSGATE_BINARY) + " pki init --dir " + quote(site) + " --name 'mtls site CA' --bits 2048");
  run_or_throw(std::string(VMSGATE_BINARY) + " pki init --dir " + quote(other) + " --name 'unrelated CA' --bits 2048");
  issue(site, "management", "mgmt01.example.local", false);
  issue(site, "management", "mgmt02.example.local", false);
  issue(site, "recording", "rec01.rec.example.local", true);
  issue(site, "recording", "rec01.example.local", true);
  issue(site, "recording", "a.b.rec.example.local", true);
  issue(other, "recording", "rec01.rec.example.local", true);
  make_client_cert(pki.ca, pki.ca_key, "rec01.rec.example.local", -10 * 86400, -86400, pki.expired);
}

template <typename T, void (*F)(T*)>
struct deleter {
  void operator()(T* p) const { F(p); }
};
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;

template <typename T>
T* read_pem(const std::filesystem::path& path, T* (*reader)(FILE*, T**, pem_password_cb*, void*)) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("cannot open " + path.string());
  T* out = reader(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (out == nullptr) throw std::runtime_error("cannot parse " + path.string());
  return out;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error("cannot make extension " + std::string(value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

bool wait_fd(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

}  // namespace

const mtls_pki& shared_mtls_pki() {
  static const mtls_pki pki = mtls_pki_in(shared_cache_dir("mtls-pki", VMSGATE_BINARY, make_mtls_pki));
  return pki;
}

void make_client_cert(const std::filesystem::path& ca_pem, const std::filesystem::path& ca_key,
                      const std::string& cn, long not_before, long not_after, const cert_pair& out) {
  make_leaf_cert(ca_pem, ca_key, cn, not_before, not_after, out, "clientAuth");
}

void make_leaf_cert(const std::filesystem::path& ca_pem, const std::filesystem::path& ca_key, const std::string& cn,
                    long not_before, long not_after, const cert_pair& out, const char* ext_key_usage) {
  x509_ptr ca(read_pem<X509>(ca_pem, PEM_read_X509));
  pkey_ptr ca_pkey(read_pem<EVP_PKEY>(ca_key, PEM_read_PrivateKey));
  pkey_ptr key(EVP_RSA_gen(2048));
  if (!key) throw std::runtime_error("cannot make an RSA key");
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(::getpid()) * 1000 + 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  X509_set_pubkey(cert.get(), key.get());
  add_ext(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert.get(), ca.get(), NID_ext_key_usage, ext_key_usage);
  add_ext(cert.get(), ca.get(), NID_subject_alt_name, ("DNS:" + cn).c_str());
  add_ext(cert.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca.get(), NID_authority_key_identifier, "keyid");
  if (X509_sign(cert.get(), ca_pkey.get(), EVP_sha256()) == 0) throw std::runtime_error("cannot sign");
  FILE* c = std::fopen(out.cert.c_str(), "w");
  FILE* k = std::fopen(out.key.c_str(), "w");
  const bool ok = c != nullptr && k != nullptr && PEM_write_X509(c, cert.get()) == 1 &&
                  PEM_write_PrivateKey(k, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (c != nullptr) std::fclose(c);
  if (k != nullptr) std::fclose(k);
  if (!ok) throw std::runtime_error("cannot write " + out.cert.string());
  ::chmod(out.key.c_str(), 0600);
}

plain_result plain_echo_transfer(const std::string& host, std::uint16_t port, std::uint64_t bytes,
                                 std::uint64_t seed, std::chrono::milliseconds timeout) {
  plain_result res;
  const auto start = std::chrono::steady_clock::now();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    res.error = std::string("socket: ") + std::strerror(errno);
    return res;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (r != 0 && errno == EINPROGRESS) {
    if (!wait_fd(fd, POLLOUT, timeout)) {
      ::close(fd);
      res.error = "connect timed out";
      return res;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    r = err == 0 ? 0 : -1;
    errno = err;
  }
  if (r != 0) {
    res.error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return res;
  }
  std::atomic<bool> stop{false};
  std::string write_error;
  std::thread writer([&] {
    std::vector<std::uint8_t> buf(256 * 1024);
    std::uint64_t off = 0;
    while (off < bytes && !stop) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes - off));
      fill_pattern(seed, off, std::span(buf.data(), n));
      std::size_t done = 0;
      while (done < n && !stop) {
        const ssize_t w = ::send(fd, buf.data() + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
          done += static_cast<std::size_t>(w);
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
          if (!wait_fd(fd, POLLOUT, timeout)) {
            write_error = "write stalled for the timeout at offset " + std::to_string(off + done);
            return;
          }
        } else {
          write_error = std::string("send: ") + std::strerror(errno);
          return;
        }
      }
      off += n;
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::vector<std::uint8_t> got(256 * 1024), want(256 * 1024);
  for (;;) {
    const ssize_t n = ::recv(fd, got.data(), got.size(), 0);
    if (n > 0) {
      const auto un = static_cast<std::size_t>(n);
      if (res.received + un > bytes) {
        res.error = "more bytes came back than were sent";
        break;
      }
      fill_pattern(seed, res.received, std::span(want.data(), un));
      if (std::memcmp(got.data(), want.data(), un) != 0) {
        res.error = "data differs near offset " + std::to_string(res.received);
        break;
      }
      res.received += un;
      continue;
    }
    if (n == 0) {
      if (res.received != bytes)
        res.error = "EOF after " + std::to_string(res.received) + " of " + std::to_string(bytes) + " bytes";
      break;
    }
    if (errno == EAGAIN || errno == EINTR) {
      if (!wait_fd(fd, POLLIN, timeout)) {
        res.error = "nothing arrived for the timeout after " + std::to_string(res.received) + " bytes";
        break;
      }
      continue;
    }
    res.error = std::string("recv: ") + std::strerror(errno) + " after " + std::to_string(res.received) + " bytes";
    break;
  }
  stop = true;
  writer.join();
  ::close(fd);
  if (res.error.empty() && !write_error.empty()) res.error = write_error;
  res.ok = res.error.empty();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

std::vector<std::string> events_since(const gateway& gw, std::string_view event, std::size_t from,
                                      std::string_view route) {
  std::vector<std::string> out;
  const auto& p = const_cast<gateway&>(gw).proc();
  const auto lines = p.stderr_lines();
  for (std::size_t i = from; i < lines.size(); ++i) {
    if (!is_event(lines[i], event)) continue;
    if (!route.empty() && json_field(lines[i], "route") != route) continue;
    out.push_back(lines[i]);
  }
  return out;
}

netns_set::~netns_set() {
  for (auto it = names_.rbegin(); it != names_.rend(); ++it) run_command("ip netns delete " + shell_quote(*it), 30s);
}

bool netns_set::ip(const std::string& args) {
  const auto r = run_command("ip " + args, 30s);
  if (r.code() == 0) return true;
  error_ = "ip " + args + ": " + r.status.str() + ": " + r.err;
  return false;
}

bool netns_set::add(const std::string& name) {
  run_command("ip netns delete " + shell_quote(name) + " 2>/dev/null", 30s);
  if (!ip("netns add " + shell_quote(name))) return false;
  names_.push_back(name);
  return ip("-n " + shell_quote(name) + " link set lo up");
}

bool netns_set::link(const std::string& ns_a, const std::string& if_a, const std::string& addr_a,
                     const std::string& ns_b, const std::string& if_b, const std::string& addr_b) {
  return ip("link add " + if_a + " netns " + ns_a + " type veth peer name " + if_b + " netns " + ns_b) &&
         ip("-n " + ns_a + " addr add " + addr_a + " dev " + if_a) &&
         ip("-n " + ns_b + " addr add " + addr_b + " dev " + if_b) && ip("-n " + ns_a + " link set " + if_a + " up") &&
         ip("-n " + ns_b + " link set " + if_b + " up");
}

bool can_use_netns(std::string* why) {
  if (::geteuid() != 0) {
    if (why) *why = "not root";
    return false;
  }
  const auto r = run_command("ip netns list", 10s);
  if (r.code() != 0) {
    if (why) *why = "`ip netns list` failed: " + r.err;
    return false;
  }
  return true;
}

bool run_in_netns(const std::string& ns, const std::function<void()>& fn, std::string* why) {
  bool ok = false;
  std::string err;
  std::thread t([&] {
    const int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = "open netns " + ns + ": " + std::strerror(errno);
      return;
    }
    if (::setns(fd, CLONE_NEWNET) != 0) {
      err = "setns " + ns + ": " + std::strerror(errno);
      ::close(fd);
      return;
    }
    ::close(fd);
    ok = true;
    fn();
  });
  t.join();
  if (why) *why = err;
  return ok;
}

std::string netns_binary(const temp_dir& dir, const std::string& ns) {
  const auto path = dir.write_file("vmsgate-in-" + ns,
                                   "#!/bin/sh\nexec ip netns exec " + shell_quote(ns) + " " +
                                       shell_quote(VMSGATE_BINARY) + " \"$@\"\n");
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path.string();
}

}  // namespace vmsgate::test

namespace vmsgate::test {
namespace {

std::string q(const std::filesystem::path& p) { return "\"" + p.string() + "\""; }

std::string head(const mtls_pki& pki, const mtls_gateway_options& o, const std::filesystem::path& mgmt_ca) {
  return "admin:\n  listen: \"" + o.admin_listen + "\"\nworkers: " + std::to_string(o.workers) +
         "\nlimits:\n  handshake_timeout: " + o.handshake_timeout + "\n  connect_timeout: " + o.connect_timeout +
         "\n  drain_timeout: 2s\nroles:\n  management:\n    ca: " + q(mgmt_ca.empty() ? pki.ca : mgmt_ca) +
         "\n  recording:\n    ca: " + q(pki.ca) + "\n    peer_names: [\"*.rec.example.local\"]\n";
}

}  // namespace

std::string mtls_terminate_yaml(const mtls_pki& pki, const cert_pair& server, const std::string& server_name,
                                const std::string& client_auth, const std::vector<std::string>& backends,
                                const mtls_gateway_options& o) {
  std::string y = head(pki, o, {});
  y += "routes:\n  - name: mgmt\n    role: management\n    mode: terminate\n    listen: \"" + o.listen +
       "\"\n    server_names: [" + server_name + "]\n    cert: " + q(server.cert) + "\n    key: " + q(server.key) +
       "\n    client_auth: " + client_auth + "\n    peer_roles: [recording]\n    backends: [";
  for (std::size_t i = 0; i < backends.size(); ++i) y += (i ? ", \"" : "\"") + backends[i] + "\"";
  return y + "]\n";
}

std::string mtls_originate_yaml(const mtls_pki& pki, const cert_pair* client, const std::vector<upstream>& backends,
                                const mtls_gateway_options& o, const std::filesystem::path& peer_ca) {
  std::string y = head(pki, o, peer_ca);
  y += "routes:\n  - name: uplink\n    role: recording\n    mode: originate\n    listen: \"" + o.listen + "\"\n";
  if (client != nullptr) y += "    cert: " + q(client->cert) + "\n    key: " + q(client->key) + "\n";
  y += "    peer_roles: [management]\n    backends:\n";
  for (const auto& b : backends) {
    y += "      - address: \"" + b.address + "\"\n";
    if (!b.server_name.empty()) y += "        server_name: " + b.server_name + "\n";
  }
  return y;
}

}  // namespace vmsgate::test

namespace vmsgate::test {
std::optional<std::string> wait_closed(gateway& gw, std::size_t from, std::chrono::milliseconds timeout) {
  return gw.proc().wait_for_line(
      [](const std::string& l) {
        // The readiness prober's TCP connections close before sending a byte.
        return is_event(l, "connection_closed") && json_field(l, "end") != "closed_before_handshake";
      },
      timeout, from);
}
}  // namespace vmsgate::test

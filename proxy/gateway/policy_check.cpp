#include "proxy/gateway/policy_check.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <map>
#include <set>

#include "proxy/gateway/route_build.hpp"
#include "proxy/pki/pki.hpp"
#include "proxy/tls/crl.hpp"
#include "proxy/tls/name_match.hpp"
#include "proxy/tls/ocsp.hpp"
#include "proxy/tls/policy.hpp"

namespace vmsgate::app {

namespace {

void append(std::vector<finding>& out, const std::string& route, std::vector<tls::finding> found) {
  for (auto& f : found) {
    out.push_back({f.level == tls::severity::error ? finding::severity::error : finding::severity::warning, route,
                   std::move(f.rule), std::move(f.message)});
  }
}

// The rules a certificate from the route's ACME CA is ordered to meet.
bool acme_mends(const std::string& rule) {
  return rule == "expired" || rule == "not_yet_valid" || rule == "name_not_covered" || rule == "chain_untrusted" ||
         rule == "key_too_small" || rule == "key_not_rsa";
}

void check_route(const config::route_config& route, const tls::role_policy& policy, const tls::ca_bundle& ca,
                 std::chrono::system_clock::time_point now, std::vector<finding>& out) {
  const bool terminate = route.mode == config::mode::terminate;
  if (route.cert.empty()) {
    // An originating route without a certificate simply does no mutual TLS.
    if (terminate) {
      out.push_back({finding::severity::error, route.name, "cert_unreadable",
                     "route " + route.name + " terminates TLS but names no certificate (cert:)"});
    }
    return;
  }
  if (route.acme && !std::filesystem::exists(route.cert) && !std::filesystem::exists(route.key)) {
    out.push_back({finding::severity::warning, route.name, "acme_pending",
                   "route " + route.name + ": " + route.cert + " does not exist yet; ACME obtains it from " +
                       route.acme->directory + " once the gateway runs, and the route refuses clients until then"});
    return;
  }
  const auto use = terminate ? tls::usage::server : tls::usage::client;
  const std::vector<std::string> no_names;
  auto found = tls::check_files(policy, ca, route.name, use, terminate ? route.server_names : no_names, route.cert,
                                route.key, now);
  // What ACME's next certificate mends is no reason to stay down. An expired one:
  // the route waits for the new one as if it had none (route_build.cpp). One that
  // no longer meets the route's names or its role (a name added, the role's CA or
  // key size changed): it is served until the new one, ordered at once, arrives.
  for (auto& f : found) {
    if (!route.acme || f.level != tls::severity::error || !acme_mends(f.rule)) continue;
    const bool expired = f.rule == "expired" || f.rule == "not_yet_valid";
    f.level = tls::severity::warning;
    f.rule = "acme_pending";
    f.message += expired ? "; ACME replaces it once the gateway runs, and the route refuses clients until then"
                         : "; ACME orders a new one once the gateway runs, and this one is served until then";
  }
  append(out, route.name, std::move(found));
}

// Whether uid:gid (with no other group, as after drop_privileges) can open `path`
// for reading. The kernel is asked where possible, so that directories on the way,
// ACLs and the owner class all count: as that identity already (a reload after the
// drop), by opening the file; as root (`check`, or `run` before anything starts), by
// a child that takes the identity and tries. Otherwise the file's mode bits decide.
bool readable_as(const std::string& path, const std::string& user, uid_t uid, gid_t gid) {
  if (uid == 0) return true;
  if (::geteuid() == uid && ::getegid() == gid) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0) ::close(fd);
    return fd >= 0;
  }
  if (::geteuid() == 0) {
    // The user's supplementary groups, as drop_privileges (initgroups) gives them;
    // looked up before fork, since the child may only make async-signal-safe calls.
    std::vector<gid_t> groups(64);
    int count = static_cast<int>(groups.size());
    if (::getgrouplist(user.c_str(), gid, groups.data(), &count) < 0) count = 0;
    groups.resize(static_cast<std::size_t>(count));
    if (groups.empty()) groups.push_back(gid);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      ::_exit(fd >= 0 ? 0 : 1);
    }
    if (pid > 0) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (WIFEXITED(status) && WEXITSTATUS(status) <= 1) return WEXITSTATUS(status) == 0;
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return true;  // other rules report a missing key
  // One class applies: the owner's bits to the owner even when the group's allow.
  if (st.st_uid == uid) return (st.st_mode & S_IRUSR) != 0;
  if (st.st_gid == gid) return (st.st_mode & S_IRGRP) != 0;
  return (st.st_mode & S_IROTH) != 0;
}

// The service account reads the config, CAs, keys and ticket keys again on every
// reload, after privileges dropped: a file only root can read would turn the next
// renewal into an outage. `what` names the file in the message.
void check_readable_by_user(const config::config& cfg, const std::string& path, const std::string& scope,
                            const std::string& rule, const std::string& what, std::vector<finding>& out) {
  if (!cfg.user || path.empty()) return;
  const passwd* pw = ::getpwnam(cfg.user->c_str());
  struct stat st {};
  if (pw == nullptr || ::stat(path.c_str(), &st) != 0) return;  // other rules report these
  gid_t gid = pw->pw_gid;
  if (cfg.group) {
    if (const group* gr = ::getgrnam(cfg.group->c_str())) gid = gr->gr_gid;
  }
  if (readable_as(path, *cfg.user, pw->pw_uid, gid)) return;
  out.push_back({finding::severity::error, scope, rule,
                 what + " cannot be read by user " + *cfg.user +
                     ", which vmsgate runs as after start; reloads would fail (chown or chgrp it, and let the user "
                     "enter its directories)"});
}

// The ticket-key file is a secret like a private key: whoever reads it decrypts
// recorded TLS 1.2 traffic and mints tickets. A warning when others may read it.
void check_ticket_keys(const config::config& cfg, std::vector<finding>& out) {
  if (!cfg.ticket_keys) return;
  const std::string& path = *cfg.ticket_keys;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // the loader reports a missing file
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    out.push_back({finding::severity::warning, "tls", "ticket_keys_permissions",
                   "ticket key file " + path + " is readable by " +
                       ((st.st_mode & S_IROTH) != 0 ? "others" : "its group") + " (mode " + mode +
                       "); whoever reads it decrypts recorded TLS 1.2 traffic and can mint tickets: chmod 600 it"});
  }
  check_readable_by_user(cfg, path, "tls", "ticket_keys_unreadable_by_user", "ticket key file " + path, out);
}

// A route presenting a certificate its own role's CRL revokes: every peer that
// checks that CRL refuses it.
void check_own_revocation(const config::route_config& route, const config::role_config& role,
                          std::vector<finding>& out) {
  if (role.crl.empty() || route.cert.empty()) return;
  std::string why;
  const auto chain = tls::load_certificates(route.cert, why);
  if (chain.empty()) return;  // check_route reports it
  std::vector<tls::x509_crl_ptr> crls;
  for (const auto& path : role.crl)
    for (auto& crl : tls::load_crl(path).crls) crls.push_back(std::move(crl));
  if (const X509_CRL* crl = tls::revoked_by(chain.front().get(), crls)) {
    out.push_back({finding::severity::error, route.name, "own_certificate_revoked",
                   "route " + route.name + ": certificate " + route.cert + " (serial " +
                       tls::inspect(chain.front().get()).serial + ") is revoked by role " + role.name +
                       "'s CRL from " + tls::crl_issuer(crl) + ": install a new certificate"});
  }
}

// Two name patterns some certificate name could match both of.
bool patterns_overlap(const std::string& a, const std::string& b) {
  return a == b || tls::dns_name_matches(a, b) || tls::dns_name_matches(b, a);
}

bool names_overlap(const config::role_config& a, const config::role_config& b) {
  if (a.peer_names.empty() || b.peer_names.empty()) return true;  // no names: any certificate of the CA
  for (const auto& p : a.peer_names)
    for (const auto& q : b.peer_names)
      if (patterns_overlap(p, q)) return true;
  return false;
}

// Roles that meet on one route (its own role and its peer roles) and that nothing
// tells apart: one CA, overlapping names, and the accepted role does not require its
// role URI. A certificate of the other is then accepted as a peer of that role (a
// phone's as a recording server's).
void check_role_confusion(const config::config& cfg, std::vector<finding>& out) {
  std::set<std::pair<std::string, std::string>> warned;
  for (const auto& route : cfg.routes) {
    std::vector<const config::role_config*> met;
    for (const auto& name : route.peer_roles)
      if (const auto* r = cfg.find_role(name)) met.push_back(r);
    if (met.empty()) continue;
    const std::size_t peers = met.size();
    if (const auto* own = cfg.find_role(route.role)) met.push_back(own);
    for (std::size_t i = 0; i < peers; ++i) {
      const auto& accepted = *met[i];
      if (accepted.require_role_uri) continue;  // only its own role URI passes as it
      for (const auto* other : met) {
        if (other->name == accepted.name || other->ca != accepted.ca || !names_overlap(accepted, *other)) continue;
        if (!warned.insert({accepted.name, other->name}).second) continue;
        out.push_back({finding::severity::warning, "route " + route.name, "roles_indistinguishable",
                       "route " + route.name + " accepts peers of role " + accepted.name + ", which shares the CA " +
                           accepted.ca + " with role " + other->name +
                           " and whose peer_names overlap: a certificate of " + other->name +
                           " without a role URI passes as " + accepted.name +
                           ". Set require_role_uri: true on role " + accepted.name +
                           " (vmsgate pki issue writes urn:vmsgate:role:ROLE into its certificates), or give the "
                           "roles separate CAs or names that do not overlap"});
      }
    }
  }
}

// ACME writes the renewed certificate and key beside the old ones (and the account
// key where it is configured): a directory the gateway cannot write to would turn
// every renewal into a failure, found only weeks later.
void check_acme_writable(const config::config& cfg, const config::route_config& route, std::vector<finding>& out) {
  if (!route.acme || cfg.user) return;  // as another user, the files' owner is set up by hand
  for (const auto& path : {route.cert, route.key, route.acme->account_key}) {
    std::error_code ec;
    if (path == route.acme->account_key && std::filesystem::exists(path, ec)) continue;
    // The account key's directory is made when missing: its nearest existing
    // ancestor must be writable then.
    auto dir = std::filesystem::path(path).parent_path();
    while (path == route.acme->account_key && !dir.empty() && dir != dir.root_path() &&
           !std::filesystem::exists(dir, ec))
      dir = dir.parent_path();
    if (::access(dir.c_str(), W_OK | X_OK) == 0) continue;
    out.push_back({finding::severity::error, route.name, "acme_not_writable",
                   "route " + route.name + ": ACME writes " + path + ", but this process cannot write to " +
                       dir.string() + " (" + std::strerror(errno) + "); make it writable for the gateway's user"});
    return;
  }
}

// `run` resolves every backend at start and on reload, and refuses to start on a
// name that does not resolve: check does the same lookup, so it says so first.
void check_backends_resolve(const config::route_config& route, std::vector<finding>& out) {
  for (const auto& b : route.backends) {
    try {
      resolve(b.address, "backend " + b.address.str());
    } catch (const startup_error& e) {
      out.push_back({finding::severity::error, route.name, "backend_unresolvable",
                     std::string(e.what()) + " (route " + route.name + "; run would refuse to start)"});
    }
  }
}

}  // namespace

std::vector<finding> check_config(const config::config& cfg, std::chrono::system_clock::time_point now) {
  std::vector<finding> out;
  std::map<std::string, tls::ca_bundle> cas;
  for (const auto& role : cfg.roles) {
    tls::ca_bundle ca = tls::load_ca(role.ca);
    append(out, "role " + role.name, tls::check_ca(to_policy(role), ca, now));
    cas.emplace(role.name, std::move(ca));
  }
  for (const auto& route : cfg.routes) {
    const config::role_config* role = cfg.find_role(route.role);
    if (role == nullptr) {
      // The loader's validation rejects this; kept so that a direct caller still learns of it.
      out.push_back({finding::severity::error, route.name, "unknown_role",
                     "route " + route.name + " names role " + route.role + ", which is not defined under roles:"});
      continue;
    }
    check_route(route, to_policy(*role), cas.at(role->name), now, out);
    check_own_revocation(route, *role, out);
    if (!route.ocsp_response.empty()) {
      std::optional<tls::ocsp_staple> staple;
      append(out, route.name, tls::load_ocsp(route.name, route.ocsp_response, route.cert, role->ca, now, staple));
      check_readable_by_user(cfg, route.ocsp_response, route.name, "ocsp_unreadable_by_user",
                             "OCSP response " + route.ocsp_response + " of route " + route.name, out);
    }
    check_readable_by_user(cfg, route.key, route.name, "key_unreadable_by_user",
                           "key " + route.key + " of route " + route.name, out);
    check_backends_resolve(route, out);
    check_acme_writable(cfg, route, out);
  }
  for (const auto& role : cfg.roles) {
    check_readable_by_user(cfg, role.ca, "role " + role.name, "ca_unreadable_by_user",
                           "CA file " + role.ca + " of role " + role.name, out);
    for (const auto& path : role.crl) {
      append(out, "role " + role.name, tls::check_crl(to_policy(role), cas.at(role.name), tls::load_crl(path), now));
      check_readable_by_user(cfg, path, "role " + role.name, "crl_unreadable_by_user",
                             "CRL " + path + " of role " + role.name, out);
    }
  }
  check_ticket_keys(cfg, out);
  check_role_confusion(cfg, out);
  check_readable_by_user(cfg, cfg.path, "config", "config_unreadable_by_user", "config file " + cfg.path, out);
  return out;
}

std::vector<finding> check_config(const config::config& cfg) {
  return check_config(cfg, std::chrono::system_clock::now());
}

std::string format(const finding& f) {
  const char* level = f.level == finding::severity::error ? "error " : "warning ";
  return level + f.route + ": " + f.message + " [" + f.rule + "]";
}

}  // namespace vmsgate::app

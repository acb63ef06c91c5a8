#include "proxy/tls/policy.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "proxy/tls/name_match.hpp"

namespace vmsgate::tls {

namespace {

using std::chrono::hours;

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

long days_between(clock::time_point from, clock::time_point to) {
  return static_cast<long>(std::chrono::duration_cast<hours>(to - from).count() / 24);
}

std::string days_text(long days) { return std::to_string(days) + (days == 1 ? " day" : " days"); }

// Which failures the chain check leaves to other rules: the leaf's own validity
// period (expired / not_yet_valid) and its EKU (missing_*_auth), so that one broken
// certificate yields exactly one finding per broken rule.
int verify_callback(int ok, X509_STORE_CTX* ctx) {
  if (ok != 0 || X509_STORE_CTX_get_error_depth(ctx) != 0) return ok;
  switch (X509_STORE_CTX_get_error(ctx)) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_INVALID_PURPOSE: return 1;
    default: return ok;
  }
}

// Empty when the chain verifies to one of the role's CA certificates, else why not.
std::string verify_chain(const ca_bundle& ca, const std::vector<x509_ptr>& chain, usage use,
                         clock::time_point now) {
  x509_store_ptr store(X509_STORE_new());
  x509_stack_ptr untrusted(sk_X509_new_null());
  x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) return "out of memory: " + drain_errors();
  for (const auto& c : ca.certs) X509_STORE_add_cert(store.get(), c.get());
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted.get()) != 1) {
    return "cannot set up verification: " + drain_errors();
  }
  // Any certificate of the role's bundle is a trust anchor, an intermediate too:
  // operators list the CA that issues the role's certificates, whatever its depth.
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, clock::to_time_t(now));
  X509_STORE_CTX_set_purpose(ctx.get(), use == usage::server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
  X509_STORE_CTX_set_verify_cb(ctx.get(), verify_callback);
  if (X509_verify_cert(ctx.get()) == 1) return {};
  const int err = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  drain_errors();
  return std::string(X509_verify_cert_error_string(err)) + " (at depth " + std::to_string(depth) + ")";
}

void add(std::vector<finding>& out, severity level, const char* rule, std::string message) {
  out.push_back({level, rule, std::move(message)});
}

void check_validity(const cert_info& info, const std::string& who, std::chrono::seconds warning,
                    clock::time_point now, std::vector<finding>& out, const char* warn_rule) {
  if (now < info.not_before) {
    add(out, severity::error, "not_yet_valid", who + " is not valid until " + format_time(info.not_before));
  } else if (now >= info.not_after) {
    add(out, severity::error, "expired", who + " expired on " + format_time(info.not_after));
  } else if (warn_rule != nullptr && info.not_after - now < warning) {
    add(out, severity::warning, warn_rule,
        who + " expires on " + format_time(info.not_after) + ", in " + days_text(days_between(now, info.not_after)) +
            " (the role warns " + days_text(std::chrono::duration_cast<hours>(warning).count() / 24) + " ahead)");
  }
}

std::string eku_list(const cert_info& info) {
  std::string out;
  if (info.eku_server_auth) out += "serverAuth";
  if (info.eku_client_auth) out += out.empty() ? "clientAuth" : ", clientAuth";
  return out.empty() ? "neither serverAuth nor clientAuth" : out;
}

void check_eku(const cert_info& info, const std::string& who, usage use, std::vector<finding>& out) {
  const bool server = use == usage::server;
  const char* wanted = server ? "serverAuth" : "clientAuth";
  if (!info.has_eku) {
    // RFC 5280 reads an absent extension as "any usage" and OpenSSL accepts it,
    // so it is a warning; strict peers still reject such certificates.
    add(out, severity::warning, "eku_absent",
        who + " has no extended key usage extension; peers that require " + std::string(wanted) + " may reject it");
    return;
  }
  if (server ? info.eku_server_auth : info.eku_client_auth) return;
  add(out, severity::error, server ? "missing_server_auth" : "missing_client_auth",
      who + " is used as a " + (server ? "server" : "client") + " certificate but its extended key usage lacks " +
          wanted + " (it lists " + eku_list(info) + ")");
}

// The role a certificate is bound to by its vmsgate role URIs, if it carries any:
// it may only be used as that role. Peers of a role with require_role_uri must carry
// the URI; a route's own certificate need not (`peer` false).
void check_role_uri(const cert_info& info, const role_policy& role, const std::string& who,
                    std::vector<finding>& out, bool peer) {
  const std::vector<std::string> bound = role_uris(info);
  if (!bound.empty()) {
    if (std::find(bound.begin(), bound.end(), role.name) != bound.end()) return;
    std::string found;
    for (const auto& r : bound) found += (found.empty() ? "" : ", ") + r;
    add(out, severity::error, "role_uri_mismatch",
        who + " is bound to role " + found + " by its URI (" + std::string(role_uri_prefix) + bound.front() +
            "), not to role " + role.name + (peer ? ", the role this route accepts it as" : ", the route's role"));
    return;
  }
  if (peer && role.require_role_uri)
    add(out, severity::error, "role_uri_missing",
        who + " carries no " + std::string(role_uri_prefix) + role.name + " URI, which role " + role.name +
            " requires (require_role_uri: true); issue it again with `vmsgate pki issue --role " + role.name + "`");
}

void check_key_type(const cert_info& info, const role_policy& role, const std::string& who,
                    std::vector<finding>& out) {
  const bool allowed = info.key == key_kind::rsa || (role.allow_ecdsa && info.key == key_kind::ec);
  if (!allowed) {
    add(out, severity::error, "key_not_rsa",
        who + " has " + (info.key == key_kind::none ? "no readable" : std::string("an ") + key_kind_name(info.key)) +
            " key; role " + role.name + " allows " +
            (role.allow_ecdsa ? "RSA and ECDSA keys only" : "RSA keys only (set allow_ecdsa: true to accept ECDSA)"));
    return;
  }
  if (info.key == key_kind::rsa && info.key_bits < role.min_rsa_bits) {
    add(out, severity::error, "key_too_small",
        who + " has a " + std::to_string(info.key_bits) + "-bit RSA key; role " + role.name + " requires at least " +
            std::to_string(role.min_rsa_bits) + " bits");
  }
}

void check_names(const cert_info& info, const std::vector<std::string>& names, const std::string& who,
                 std::vector<finding>& out) {
  for (const auto& name : names) {
    if (covers(info, name)) continue;
    add(out, severity::error, "name_not_covered", who + " does not cover " + name + ": " + describe_names(info));
  }
}

void check_key(const own_certificate& own, X509* leaf, std::vector<finding>& out) {
  const std::string who = "key file " + own.key.path + " for route " + own.route;
  if (!own.key.key) {
    add(out, severity::error, "key_unreadable", who + " cannot be read: " + own.key.error);
    return;
  }
  if (own.key.mode && (*own.key.mode & (S_IRGRP | S_IROTH)) != 0) {
    add(out, severity::warning, "key_permissions",
        who + " is readable by " + ((*own.key.mode & S_IROTH) != 0 ? "others" : "its group") + " (mode " +
            octal_mode(*own.key.mode) + "); make it 0600, owned by the service account");
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), own.key.key.get()) != 1) {
    drain_errors();
    add(out, severity::error, "key_mismatch", who + " does not match certificate " + own.cert.path);
  }
}

}  // namespace

ca_bundle load_ca(const std::string& path) {
  ca_bundle ca;
  ca.path = path;
  ca.certs = load_certificates(path, ca.error);
  return ca;
}

cert_file load_cert_file(const std::string& path) {
  cert_file f;
  f.path = path;
  f.chain = load_certificates(path, f.error);
  return f;
}

key_file load_key_file(const std::string& path) {
  key_file f;
  f.path = path;
  if (path.empty()) {
    f.error = "no key file is configured";
    return f;
  }
  f.key = load_private_key(path, f.error);
  f.mode = file_mode(path);
  return f;
}

std::vector<finding> check_ca(const role_policy& role, const ca_bundle& ca, clock::time_point now) {
  std::vector<finding> out;
  const std::string file = "CA file " + ca.path + " of role " + role.name;
  if (!ca.error.empty()) {
    add(out, severity::error, "ca_unreadable", file + " cannot be read: " + ca.error);
    return out;
  }
  for (const auto& cert : ca.certs) {
    const cert_info info = inspect(cert.get());
    const std::string who = file + ": CA certificate " + info.subject;
    std::vector<finding> found;
    check_validity(info, who, role.expiry_warning, now, found, "ca_expiring");
    for (auto& f : found) {
      if (f.rule == "expired" || f.rule == "not_yet_valid") f.rule = "ca_expired";
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<finding> check_own(const role_policy& role, const ca_bundle& ca, const own_certificate& own,
                               clock::time_point now) {
  std::vector<finding> out;
  const std::string who = "certificate " + own.cert.path + " for route " + own.route;
  if (own.cert.chain.empty()) {
    add(out, severity::error, "cert_unreadable", who + " cannot be read: " + own.cert.error);
    return out;
  }
  X509* leaf = own.cert.chain.front().get();
  const cert_info info = inspect(leaf);
  if (ca.error.empty()) {
    if (const std::string why = verify_chain(ca, own.cert.chain, own.usage, now); !why.empty()) {
      add(out, severity::error, "chain_untrusted",
          who + " is not issued by role " + role.name + "'s CA " + ca.path + ": " + why);
    }
  }
  if (own.usage == usage::server) check_names(info, own.server_names, who, out);
  check_validity(info, who, role.expiry_warning, now, out, "expires_soon");
  check_key_type(info, role, who, out);
  check_eku(info, who, own.usage, out);
  check_role_uri(info, role, who, out, false);
  check_key(own, leaf, out);
  return out;
}

std::vector<finding> check_peer(const role_policy& role, X509* peer, usage peer_usage, clock::time_point now) {
  std::vector<finding> out;
  const cert_info info = inspect(peer);
  const std::string who = "peer certificate " + info.subject + " (serial " + info.serial + ")";
  check_validity(info, who, role.expiry_warning, now, out, nullptr);
  check_eku(info, who, peer_usage, out);
  check_key_type(info, role, who, out);  // the role's key rules hold for its peers too
  // A peer without an EKU is accepted, as OpenSSL's own purpose check does.
  std::erase_if(out, [](const finding& f) { return f.rule == "eku_absent"; });
  check_role_uri(info, role, who, out, true);
  if (!role.peer_names.empty() &&
      std::none_of(role.peer_names.begin(), role.peer_names.end(),
                   [&](const std::string& p) { return peer_name_matches(info, p); })) {
    std::string patterns;
    for (const auto& p : role.peer_names) patterns += (patterns.empty() ? "" : ", ") + p;
    add(out, severity::error, "peer_name_not_allowed",
        who + " matches none of role " + role.name + "'s peer_names (" + patterns + "): " + describe_names(info));
  }
  return out;
}

std::vector<finding> check_files(const role_policy& role, const ca_bundle& ca, const std::string& route,
                                 usage use, const std::vector<std::string>& server_names,
                                 const std::string& cert_path, const std::string& key_path,
                                 clock::time_point now) {
  own_certificate own;
  own.route = route;
  own.usage = use;
  own.server_names = server_names;
  own.cert = load_cert_file(cert_path);
  own.key = load_key_file(key_path);
  return check_own(role, ca, own, now);
}

bool has_error(const std::vector<finding>& findings) {
  return std::any_of(findings.begin(), findings.end(), [](const finding& f) { return f.level == severity::error; });
}

}  // namespace vmsgate::tls

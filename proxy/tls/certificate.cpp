#include "proxy/tls/certificate.hpp"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <ctime>

namespace vmsgate::tls {

namespace {

struct general_names_free {
  void operator()(GENERAL_NAMES* n) const noexcept { GENERAL_NAMES_free(n); }
};
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, general_names_free>;

std::string name_oneline(const X509_NAME* name) {
  bio_ptr mem(BIO_new(BIO_s_mem()));
  if (!mem || X509_NAME_print_ex(mem.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    drain_errors();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string last_common_name(const X509_NAME* name) {
  int index = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    index = i;
  }
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    drain_errors();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int len = ASN1_STRING_length(ip);
  const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if (family == 0 || inet_ntop(family, ASN1_STRING_get0_data(ip), buf, sizeof buf) == nullptr) return {};
  return buf;
}

void read_sans(X509* cert, cert_info& info) {
  general_names_ptr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (gn->type == GEN_IPADD) {
      if (auto text = ip_text(gn->d.iPAddress); !text.empty()) info.ip_addresses.push_back(std::move(text));
    } else if (gn->type == GEN_URI) {
      const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
      info.uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
  }
}

std::string serial_hex(X509* cert) {
  std::unique_ptr<BIGNUM, openssl_deleter<BN_free>> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  return out;
}

key_kind kind_of(const EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: return key_kind::rsa;
    case EVP_PKEY_EC: return key_kind::ec;
    case EVP_PKEY_ED25519: return key_kind::ed25519;
    case EVP_PKEY_ED448: return key_kind::ed448;
    case EVP_PKEY_DSA: return key_kind::dsa;
    default: return key_kind::other;
  }
}

// OpenSSL would otherwise prompt on the terminal for an encrypted key; a gateway
// started by a service manager has nobody to answer, so an encrypted key is unreadable.
int no_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::vector<std::string> role_uris(const cert_info& info) {
  std::vector<std::string> out;
  for (const auto& uri : info.uris)
    if (uri.size() > role_uri_prefix.size() && uri.compare(0, role_uri_prefix.size(), role_uri_prefix) == 0)
      out.push_back(uri.substr(role_uri_prefix.size()));
  return out;
}

const char* key_kind_name(key_kind k) {
  switch (k) {
    case key_kind::rsa: return "RSA";
    case key_kind::ec: return "ECDSA";
    case key_kind::ed25519: return "Ed25519";
    case key_kind::ed448: return "Ed448";
    case key_kind::dsa: return "DSA";
    case key_kind::none: return "no";
    case key_kind::other: break;
  }
  return "unknown";
}

std::optional<clock::time_point> to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return clock::from_time_t(timegm(&tm));
}

std::string format_time(clock::time_point t) {
  const std::time_t tt = clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

cert_info inspect(X509* cert) {
  cert_info info;
  info.subject = subject_of(cert);
  info.common_name = last_common_name(X509_get_subject_name(cert));
  read_sans(cert, info);
  info.not_before = to_time_point(X509_get0_notBefore(cert)).value_or(clock::time_point::max());
  info.not_after = to_time_point(X509_get0_notAfter(cert)).value_or(clock::time_point::min());
  if (const EVP_PKEY* key = X509_get0_pubkey(cert)) {
    info.key = kind_of(key);
    info.key_bits = EVP_PKEY_get_bits(key);
  }
  // X509_get_extension_flags caches the decoded extensions; the EKU bits are only
  // meaningful when EXFLAG_XKUSAGE says the extension was there.
  const uint32_t flags = X509_get_extension_flags(cert);
  info.has_eku = (flags & EXFLAG_XKUSAGE) != 0;
  const uint32_t eku = X509_get_extended_key_usage(cert);
  info.eku_server_auth = info.has_eku && (eku & XKU_SSL_SERVER) != 0;
  info.eku_client_auth = info.has_eku && (eku & XKU_SSL_CLIENT) != 0;
  info.is_ca = (flags & EXFLAG_CA) != 0;
  info.serial = serial_hex(cert);
  drain_errors();
  return info;
}

std::vector<x509_ptr> load_certificates(const std::string& path, std::string& error) {
  std::vector<x509_ptr> out;
  errno = 0;
  bio_ptr in(BIO_new_file(path.c_str(), "r"));
  if (!in) {
    const int saved = errno;
    drain_errors();
    error = saved != 0 ? std::strerror(saved) : "cannot be opened";
    return out;
  }
  while (X509* cert = PEM_read_bio_X509(in.get(), nullptr, no_passphrase, nullptr)) out.emplace_back(cert);
  // Reading stops at the end of the file with a "no start line" error; only an
  // empty result is a failure.
  const std::string why = drain_errors();
  if (out.empty()) error = "holds no PEM certificate" + (why.empty() ? std::string() : " (" + why + ")");
  return out;
}

pkey_ptr load_private_key(const std::string& path, std::string& error) {
  errno = 0;
  bio_ptr in(BIO_new_file(path.c_str(), "r"));
  if (!in) {
    const int saved = errno;
    drain_errors();
    error = saved != 0 ? std::strerror(saved) : "cannot be opened";
    return nullptr;
  }
  pkey_ptr key(PEM_read_bio_PrivateKey(in.get(), nullptr, no_passphrase, nullptr));
  const std::string why = drain_errors();
  if (key) return key;
  // A passphrase-protected key: say so, and how to fix it, rather than OpenSSL's
  // five lines about a failed decryption.
  std::ifstream text(path);
  const std::string pem((std::istreambuf_iterator<char>(text)), std::istreambuf_iterator<char>());
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    error = "is encrypted with a passphrase, which vmsgate does not ask for: decrypt it with `openssl pkey -in " +
            path + " -out " + path + ".plain`, keep the result 0600, and point the configuration at it";
  } else {
    error = "holds no PEM private key" + (why.empty() ? std::string() : " (" + why + ")");
  }
  return key;
}

std::optional<mode_t> file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_mode & 07777;
}

std::string subject_of(X509* cert) { return name_oneline(X509_get_subject_name(cert)); }

}  // namespace vmsgate::tls

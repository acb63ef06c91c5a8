// ACME Renewal Information (RFC 9773): the certificate's ID and the window.

#include <boost/json.hpp>

#include <openssl/asn1.h>

#include "proxy/acme/certs.hpp"
#include "proxy/acme/jws.hpp"

namespace vmsgate::acme {

namespace {

using clock = std::chrono::system_clock;

struct openssl_free {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

// The content octets of the serial's DER INTEGER: its two's-complement value with
// the leading zero that a positive number with the high bit set needs.
std::optional<std::string> serial_content(const ASN1_INTEGER* serial) {
  unsigned char* raw = nullptr;
  const int len = i2d_ASN1_INTEGER(serial, &raw);
  const std::unique_ptr<unsigned char, openssl_free> der(raw);
  if (len <= 0) return std::nullopt;
  const unsigned char* p = der.get();
  long content_len = 0;
  int tag = 0;
  int cls = 0;
  if ((ASN1_get_object(&p, &content_len, &tag, &cls, len) & 0x80) != 0 || tag != V_ASN1_INTEGER) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(content_len));
}

// Reads RFC 3339's fixed-width fields left to right.
class cursor {
 public:
  explicit cursor(std::string_view s) : s_(s) {}
  bool number(int width, int& out) {
    out = 0;
    for (int i = 0; i < width; ++i, ++at_) {
      if (at_ >= s_.size() || s_[at_] < '0' || s_[at_] > '9') return false;
      out = out * 10 + (s_[at_] - '0');
    }
    return true;
  }
  bool literal(std::string_view any_of) {
    if (at_ >= s_.size() || any_of.find(s_[at_]) == std::string_view::npos) return false;
    ++at_;
    return true;
  }
  char peek() const { return at_ < s_.size() ? s_[at_] : '\0'; }
  bool at_end() const { return at_ == s_.size(); }

  // ".123456789..." to nanoseconds; digits past the ninth are dropped.
  bool fraction(std::chrono::nanoseconds& out) {
    if (!literal(".")) return true;
    std::int64_t ns = 0;
    int digits = 0;
    for (; at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9'; ++at_, ++digits) {
      if (digits < 9) ns = ns * 10 + (s_[at_] - '0');
    }
    for (int d = digits; d < 9; ++d) ns *= 10;
    out = std::chrono::nanoseconds(ns);
    return digits > 0;
  }

  // "Z" or "+hh:mm" / "-hh:mm", as the offset to subtract from local time.
  bool offset(std::chrono::minutes& out) {
    if (literal("Zz")) return true;
    const char sign = peek();
    int h = 0;
    int m = 0;
    if (!literal("+-") || !number(2, h) || !literal(":") || !number(2, m) || h > 23 || m > 59) return false;
    out = std::chrono::minutes((sign == '-' ? -1 : 1) * (h * 60 + m));
    return true;
  }

 private:
  std::string_view s_;
  std::size_t at_ = 0;
};

std::optional<clock::time_point> time_field(const boost::json::object& o, const char* name) {
  const auto* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return parse_rfc3339(std::string_view(v->get_string()));
}

}  // namespace

std::optional<std::string> renewal_info_id(X509* cert) {
  if (cert == nullptr) return std::nullopt;
  const ASN1_OCTET_STRING* key_id = X509_get0_authority_key_id(cert);
  const std::optional<std::string> serial = serial_content(X509_get0_serialNumber(cert));
  tls::drain_errors();  // X509_get0_authority_key_id may leave a parse error behind
  if (key_id == nullptr || !serial) return std::nullopt;
  const std::string_view id(reinterpret_cast<const char*>(ASN1_STRING_get0_data(key_id)),
                            static_cast<std::size_t>(ASN1_STRING_length(key_id)));
  return base64url(id) + "." + base64url(*serial);
}

std::optional<clock::time_point> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  cursor c(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  nanoseconds frac{0};
  minutes off{0};
  if (!c.number(4, y) || !c.literal("-") || !c.number(2, mo) || !c.literal("-") || !c.number(2, d) ||
      !c.literal("Tt") || !c.number(2, h) || !c.literal(":") || !c.number(2, mi) || !c.literal(":") ||
      !c.number(2, s) || !c.fraction(frac) || !c.offset(off) || !c.at_end()) {
    return std::nullopt;
  }
  const year_month_day date{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  // Second 60 is a leap second; the clock has none, so it reads as the next one.
  if (!date.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  const auto local = sys_days(date) + hours(h) + minutes(mi) + seconds(s) + frac;
  return time_point_cast<clock::duration>(local - off);
}

std::optional<renewal_window> parse_renewal_info(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const auto* window = doc.as_object().if_contains("suggestedWindow");
  if (window == nullptr || !window->is_object()) return std::nullopt;
  const auto start = time_field(window->as_object(), "start");
  const auto end = time_field(window->as_object(), "end");
  if (!start || !end || *end <= *start) return std::nullopt;
  renewal_window out{*start, *end, std::nullopt};
  if (const auto* url = doc.as_object().if_contains("explanationURL"); url != nullptr && url->is_string()) {
    out.explanation_url = std::string(url->get_string());
  }
  return out;
}

}  // namespace vmsgate::acme

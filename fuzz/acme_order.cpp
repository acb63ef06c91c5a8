// The ACME order (acme::order_machine) fed whatever an ACME server might answer:
// status codes, headers and bodies chosen by the fuzzer. Each body is either one
// of the shapes a real server sends (directory, account, order, authorization,
// problem document, certificate chain) with fuzzed values in it, or raw bytes, so
// that the machine gets deep into an order as often as it gets garbage. It must
// never throw, crash or loop: every input ends in done or failed within a bound.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "proxy/acme/jws.hpp"
#include "proxy/acme/order.hpp"
#include "proxy/pki/builder.hpp"

namespace {

using namespace vmsgate;

const acme::account_key& account() {
  static const acme::account_key key(pki::generate_ec());
  return key;
}

EVP_PKEY* certificate_key() {
  static const tls::pkey_ptr key = pki::generate_ec();
  return key.get();
}

std::string url(FuzzedDataProvider& in) {
  return in.ConsumeBool() ? "https://ca.test/" + in.ConsumeRandomLengthString(24) : in.ConsumeRandomLengthString(32);
}

std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string status_word(FuzzedDataProvider& in) {
  static const char* words[] = {"pending", "ready", "processing", "valid", "invalid", "deactivated", "expired", ""};
  return in.ConsumeBool() ? words[in.ConsumeIntegralInRange<int>(0, 7)] : in.ConsumeRandomLengthString(12);
}

std::string body(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 6)) {
    case 0:
      return R"({"newNonce":)" + quoted(url(in)) + R"(,"newAccount":)" + quoted(url(in)) + R"(,"newOrder":)" +
             quoted(url(in)) + (in.ConsumeBool() ? R"(,"renewalInfo":)" + quoted(url(in)) : "") + "}";
    case 1:
      return R"({"status":)" + quoted(status_word(in)) + R"(,"authorizations":[)" + quoted(url(in)) +
             (in.ConsumeBool() ? "," + quoted(url(in)) : "") + R"(],"finalize":)" + quoted(url(in)) +
             (in.ConsumeBool() ? R"(,"certificate":)" + quoted(url(in)) : "") + "}";
    case 2:
      return R"({"status":)" + quoted(status_word(in)) + R"(,"identifier":{"type":"dns","value":)" +
             quoted(in.ConsumeBool() ? "a.test" : in.ConsumeRandomLengthString(16)) + R"(},"challenges":[{"type":)" +
             quoted(in.ConsumeBool() ? "tls-alpn-01" : in.ConsumeBool() ? "http-01" : in.ConsumeRandomLengthString(12)) +
             R"(,"url":)" + quoted(url(in)) + R"(,"token":)" + quoted(in.ConsumeRandomLengthString(48)) +
             R"(,"status":)" + quoted(status_word(in)) + "}]}";
    case 3:
      return R"({"type":)" +
             quoted(in.ConsumeBool() ? "urn:ietf:params:acme:error:badNonce" : in.ConsumeRandomLengthString(40)) +
             R"(,"detail":)" + quoted(in.ConsumeRandomLengthString(64)) + "}";
    case 4:
      return "-----BEGIN CERTIFICATE-----\n" + in.ConsumeRandomLengthString(256) + "\n-----END CERTIFICATE-----\n";
    case 5:
      return "{}";
    default:
      return in.ConsumeRandomLengthString(512);
  }
}

acme::http_response response(FuzzedDataProvider& in) {
  static const unsigned statuses[] = {200, 201, 204, 400, 403, 404, 409, 429, 500, 503};
  acme::http_response r;
  r.status = in.ConsumeBool() ? statuses[in.ConsumeIntegralInRange<int>(0, 9)] : in.ConsumeIntegral<std::uint16_t>();
  if (in.ConsumeBool()) r.location = url(in);
  if (in.ConsumeBool()) r.replay_nonce = in.ConsumeRandomLengthString(32);
  if (in.ConsumeBool()) r.retry_after = std::chrono::seconds(in.ConsumeIntegral<std::int32_t>());
  r.content_type = in.ConsumeBool() ? "application/json" : "application/problem+json";
  r.body = body(in);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  acme::order_settings settings;
  settings.directory_url = "https://ca.test/directory";
  settings.names = {"a.test", "b.test"};
  settings.contact = {"mailto:ops@a.test"};
  settings.challenge = in.ConsumeBool() ? acme::challenge_type::http_01 : acme::challenge_type::tls_alpn_01;
  if (in.ConsumeBool()) settings.replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
  settings.max_polls = 5;
  acme::order_machine machine(settings, account(), certificate_key());
  acme::step s = machine.start();
  for (int steps = 0; steps < 5000; ++steps) {
    switch (s.what) {
      case acme::step::kind::request: s = machine.received(response(in)); break;
      case acme::step::kind::publish: s = machine.published(); break;
      case acme::step::kind::wait: s = machine.waited(); break;
      case acme::step::kind::done:
      case acme::step::kind::failed: return 0;
    }
  }
  // Every order ends within its bounds (nonce retries in a row, polls, two names):
  // 5000 steps is far past them, so this is a loop.
  __builtin_trap();
}

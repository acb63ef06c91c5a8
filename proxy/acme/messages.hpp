#pragma once
// Reading the ACME server's JSON: required fields, problem documents (RFC 7807 as
// RFC 8555 section 6.7 uses them) and the words an operator sees about them. Every
// text that came from the server is cut to one line before it reaches a log.

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "proxy/acme/error.hpp"
#include "proxy/acme/order.hpp"

namespace vmsgate::acme::messages {

inline constexpr std::string_view error_prefix = "urn:ietf:params:acme:error:";

// The body as a JSON object; throws acme::error saying why it is not one.
boost::json::object parse_object(std::string_view body);

// The string member `name`; throws acme::error naming it when absent or not a string.
std::string require_string(const boost::json::object& o, std::string_view name);
// The string member `name`, or "" when absent or not a string.
std::string optional_string(const boost::json::object& o, std::string_view name);

// The problem document's type, "" when the body is not one.
std::string problem_type(std::string_view body);

// "type: detail" of a problem object, with its subproblems' identifiers and details.
std::string problem_text(const boost::json::object& problem);

// "<what>: <status> <type>: <detail>" for an error response.
std::string status_failure(const std::string& what, const http_response& r);

// Control characters become spaces and the text stops at `limit` bytes, so that a
// server cannot write lines of its own into the gateway's log.
std::string one_line(std::string_view text, std::size_t limit = 300);

// A token is base64url (RFC 8555 section 8.1); anything else could climb out of
// /.well-known/acme-challenge/ in the caller's responder.
bool valid_token(std::string_view token);

// The challenge of `type` in an authorization, nullptr when none is offered.
const boost::json::object* find_challenge(const boost::json::object& authorization, std::string_view type);
// "http-01, dns-01" for the message that the wanted type is missing.
std::string offered_types(const boost::json::object& authorization);
// "challenge tls-alpn-01 invalid: <type>: <detail>" of a challenge object.
std::string challenge_failure(const boost::json::object& challenge);
// Why an invalid authorization failed: the first challenge that holds an error,
// preferring the one of `type`.
std::string invalid_reason(const boost::json::object& authorization, std::string_view type);

}  // namespace vmsgate::acme::messages

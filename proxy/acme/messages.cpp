#include "proxy/acme/messages.hpp"

#include <algorithm>

namespace vmsgate::acme::messages {

namespace {

namespace json = boost::json;

// Enough subproblems to name the identifiers at fault without a page of text.
constexpr std::size_t max_subproblems = 3;

std::string subproblems_text(const json::object& problem) {
  const auto* subs = problem.if_contains("subproblems");
  if (subs == nullptr || !subs->is_array()) return {};
  std::string out;
  std::size_t shown = 0;
  for (const auto& sub : subs->get_array()) {
    if (!sub.is_object()) continue;
    if (shown++ == max_subproblems) {
      out += "; ...";
      break;
    }
    const json::object& o = sub.get_object();
    std::string who;
    if (const auto* id = o.if_contains("identifier"); id != nullptr && id->is_object()) {
      who = optional_string(id->get_object(), "value");
    }
    out += (out.empty() ? " (" : "; ") + (who.empty() ? std::string() : who + ": ") + optional_string(o, "detail");
  }
  return out.empty() ? out : out + ")";
}

}  // namespace

json::object parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) throw error("the response is not JSON (" + ec.message() + ")");
  if (!doc.is_object()) throw error("the response is not a JSON object");
  return std::move(doc.get_object());
}

std::string require_string(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (v == nullptr) throw error("the response has no \"" + std::string(name) + "\"");
  if (!v->is_string()) throw error("the response's \"" + std::string(name) + "\" is not a string");
  return std::string(v->get_string());
}

std::string optional_string(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::string problem_type(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return {};
  return optional_string(doc.get_object(), "type");
}

std::string problem_text(const json::object& problem) {
  const std::string type = optional_string(problem, "type");
  const std::string detail = optional_string(problem, "detail");
  std::string out = type.empty() ? detail : detail.empty() ? type : type + ": " + detail;
  return one_line(out + subproblems_text(problem));
}

std::string status_failure(const std::string& what, const http_response& r) {
  std::string out = what + ": " + std::to_string(r.status);
  boost::system::error_code ec;
  const json::value doc = json::parse(r.body, ec);
  if (!ec && doc.is_object()) {
    if (const std::string text = problem_text(doc.get_object()); !text.empty()) return out + " " + text;
  }
  // Not a problem document (a proxy's page, say): a little of it still helps.
  if (!r.body.empty()) out += " " + one_line(r.body, 120);
  return out;
}

std::string one_line(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  for (const char c : text.substr(0, limit)) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? ' ' : c;
  }
  if (text.size() > limit) out += "...";
  return out;
}

bool valid_token(std::string_view token) {
  if (token.empty()) return false;
  for (const char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

const json::object* find_challenge(const json::object& authorization, std::string_view type) {
  const auto* list = authorization.if_contains("challenges");
  if (list == nullptr || !list->is_array()) return nullptr;
  for (const auto& c : list->get_array()) {
    if (c.is_object() && optional_string(c.get_object(), "type") == type) return &c.get_object();
  }
  return nullptr;
}

std::string offered_types(const json::object& authorization) {
  std::string out;
  if (const auto* list = authorization.if_contains("challenges"); list != nullptr && list->is_array()) {
    for (const auto& c : list->get_array()) {
      if (!c.is_object()) continue;
      out += (out.empty() ? "" : ", ") + one_line(optional_string(c.get_object(), "type"), 40);
    }
  }
  return out.empty() ? "none" : out;
}

std::string invalid_reason(const json::object& authorization, std::string_view type) {
  const auto with_error = [](const json::object* c) {
    return c != nullptr && c->if_contains("error") != nullptr && c->at("error").is_object();
  };
  const json::object* chosen = find_challenge(authorization, type);
  if (!with_error(chosen)) {
    chosen = nullptr;
    if (const auto* list = authorization.if_contains("challenges"); list != nullptr && list->is_array()) {
      for (const auto& c : list->get_array()) {
        if (c.is_object() && with_error(&c.get_object())) {
          chosen = &c.get_object();
          break;
        }
      }
    }
  }
  return chosen == nullptr ? std::string("invalid") : challenge_failure(*chosen);
}

std::string challenge_failure(const json::object& challenge) {
  std::string out = "challenge " + one_line(optional_string(challenge, "type"), 40) + " invalid";
  if (const auto* e = challenge.if_contains("error"); e != nullptr && e->is_object()) {
    out += ": " + problem_text(e->get_object());
  }
  return out;
}

}  // namespace vmsgate::acme::messages

// The parse context and the typed readers: one place decides what each kind of
// value looks like and how a wrong one is described to the operator.

#include <algorithm>
#include <charconv>

#include "proxy/config/detail.hpp"

namespace vmsgate::config::detail {
namespace {

// A node with nothing in it (`key:` or `key: ~`) deserves a different message
// from one of the wrong kind, because the fix is to fill it in.
std::string found_text(const YAML::Node& node) {
  if (node.IsNull()) return ", found nothing";
  if (node.IsSequence()) return ", found a list";
  if (node.IsMap()) return ", found a map";
  return ", found " + in_quotes(node.Scalar());
}

// Levenshtein distance, to suggest the allowed key an unknown one was probably meant to be.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view unknown, const std::vector<std::string>& allowed) {
  for (const auto& word : allowed)
    if (distance(unknown, word) <= 2) return "did you mean " + in_quotes(word) + "? ";
  return {};
}

}  // namespace

location context::at(const YAML::Mark& mark) const {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

location context::at(const YAML::Node& node) const {
  if (node.IsNull())
    for (const auto& [empty, where] : empty_values)
      if (empty.is(node)) return where;
  return at(node.Mark());
}

location context::where(const std::string& key, const location& fallback) const {
  const auto found = marks.find(key);
  return found == marks.end() ? fallback : found->second;
}

void context::fail(const location& where, std::string key, std::string message) {
  errors.push_back(error{where, std::move(key), std::move(message)});
}

void context::fail(const YAML::Node& node, std::string key, std::string message) {
  fail(at(node), std::move(key), std::move(message));
}

std::string join(std::string_view path, std::string_view name) {
  if (path.empty()) return std::string(name);
  return std::string(path) + "." + std::string(name);
}

std::string index(std::string_view path, std::size_t i) { return std::string(path) + "[" + std::to_string(i) + "]"; }

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string list_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
  return out;
}

std::optional<std::string> as_string::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  if (!node.IsScalar()) {
    ctx.fail(node, key, "expected a string" + found_text(node));
    return std::nullopt;
  }
  if (node.Scalar().empty()) {
    ctx.fail(node, key, "must not be empty");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<std::string> as_host::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  auto text = as_string{}(ctx, node, key);
  if (text && !is_valid_host(*text)) {
    ctx.fail(node, key, in_quotes(*text) + " is not a valid host name or IP address");
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> as_path::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  auto text = as_string{}(ctx, node, key);
  if (!text) return std::nullopt;
  std::filesystem::path path(*text);
  if (path.is_relative()) path = ctx.base_dir / path;
  return path.lexically_normal().string();
}

std::optional<bool> as_bool::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    ctx.fail(node, key, "expected true or false" + found_text(node));
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> as_uint::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  std::uint64_t value = 0;
  const std::string& text = node.Scalar();
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!node.IsScalar() || text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min ||
      value > max) {
    ctx.fail(node, key,
             "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + found_text(node));
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::milliseconds> as_duration::operator()(context& ctx, const YAML::Node& node,
                                                                 const std::string& key) const {
  const auto value = node.IsScalar() ? parse_duration(node.Scalar()) : std::nullopt;
  if (!value) {
    ctx.fail(node, key, "expected a duration such as 250ms, 10s, 5m, 1h or 30d" + found_text(node));
    return std::nullopt;
  }
  if (!allow_zero && value->count() == 0) {
    ctx.fail(node, key, "must be longer than zero");
    return std::nullopt;
  }
  return value;
}

std::optional<endpoint> as_endpoint::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  if (!node.IsScalar()) {
    ctx.fail(node, key, "expected host:port, such as 127.0.0.1:9473 or *:443" + found_text(node));
    return std::nullopt;
  }
  std::string why;
  auto value = parse_endpoint(node.Scalar(), &why);
  if (!value) ctx.fail(node, key, why);
  return value;
}

std::optional<std::size_t> as_choice::operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
  const auto found = node.IsScalar() ? std::find(words.begin(), words.end(), node.Scalar()) : words.end();
  if (found == words.end()) {
    ctx.fail(node, key, "expected one of: " + list_words(words) + found_text(node));
    return std::nullopt;
  }
  return static_cast<std::size_t>(found - words.begin());
}

std::optional<std::vector<std::string>> as_string_list::operator()(context& ctx, const YAML::Node& node,
                                                                   const std::string& key) const {
  if (!node.IsSequence()) {
    ctx.fail(node, key, "expected a list of strings, such as [a, b]" + found_text(node));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool all_ok = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_key = index(key, i);
    ctx.marks[item_key] = ctx.at(node[i]);
    auto item = hosts ? as_host{}(ctx, node[i], item_key) : as_string{}(ctx, node[i], item_key);
    if (item) out.push_back(std::move(*item));
    all_ok = all_ok && item.has_value();
  }
  if (!all_ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> as_path_list::operator()(context& ctx, const YAML::Node& node,
                                                                 const std::string& key) const {
  if (node.IsScalar()) {
    auto one = as_path{}(ctx, node, key);
    if (!one) return std::nullopt;
    return std::vector<std::string>{std::move(*one)};
  }
  auto items = as_string_list{}(ctx, node, key);
  if (!items) return std::nullopt;
  for (auto& item : *items) {
    std::filesystem::path path(item);
    if (path.is_relative()) path = ctx.base_dir / path;
    item = path.lexically_normal().string();
  }
  return items;
}

fields::fields(context& ctx, const YAML::Node& map, std::string path, std::vector<std::string> allowed)
    : ctx_(ctx), map_(map), path_(std::move(path)), allowed_(std::move(allowed)) {
  if (!map.IsMap()) {
    ctx_.fail(map, path_, "expected a map with the keys " + list_words(allowed_) + found_text(map));
    return;
  }
  ok_ = true;
  check_keys(map);
}

void fields::check_keys(const YAML::Node& map) {
  std::vector<std::string> seen;
  for (const auto& pair : map) {
    const std::string name = pair.first.IsScalar() ? pair.first.Scalar() : std::string{};
    if (std::find(allowed_.begin(), allowed_.end(), name) == allowed_.end()) {
      ctx_.fail(pair.first, key(name),
                "unknown key; " + suggestion(name, allowed_) + "allowed keys here are: " + list_words(allowed_));
    } else if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      ctx_.fail(pair.first, key(name), "this key appears more than once");
    }
    seen.push_back(name);
  }
}

YAML::Node fields::node(std::string_view name) const {
  if (!ok_) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& pair : map_) {
    if (!pair.first.IsScalar() || pair.first.Scalar() != name) continue;
    if (pair.second.IsNull()) ctx_.empty_values.emplace_back(pair.second, ctx_.at(pair.first));
    ctx_.marks[key(name)] = ctx_.at(pair.second);
    return pair.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

void fields::missing(std::string_view name) const {
  if (ok_) ctx_.fail(map_, key(name), "required key is missing");
}

}  // namespace vmsgate::config::detail

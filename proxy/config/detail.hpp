#pragma once
// Private to proxy/config: the parse context that collects errors and remembers
// where every key was written, and the typed readers that parse and validate use.

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "proxy/config/config.hpp"

namespace vmsgate::config::detail {

// Everything one load shares: the file name for messages, the directory that
// anchors relative paths, the errors so far, and the location of every key seen,
// so that validation can point at the exact value it rejects.
struct context {
  std::string file;
  std::filesystem::path base_dir;
  std::vector<error> errors;
  std::unordered_map<std::string, location> marks;
  // yaml-cpp places an empty value (`user:` and nothing after it) at the next token,
  // often the next line; errors about such a value point at its key instead.
  std::vector<std::pair<YAML::Node, location>> empty_values;

  location at(const YAML::Node& node) const;
  location at(const YAML::Mark& mark) const;
  // The location of `key` as recorded while parsing, or `fallback` when it was absent.
  location where(const std::string& key, const location& fallback) const;
  void fail(const location& where, std::string key, std::string message);
  void fail(const YAML::Node& node, std::string key, std::string message);
};

std::string join(std::string_view path, std::string_view name);
std::string index(std::string_view path, std::size_t i);
std::string in_quotes(std::string_view text);
std::string list_words(const std::vector<std::string>& words);

// An IPv4 or IPv6 literal (no brackets) or a DNS name.
bool is_valid_host(std::string_view host);
// A form in which two spellings of one IP address compare equal; DNS names as written.
std::string canonical_host(std::string_view host);
bool is_wildcard_host(std::string_view host);

// Readers: each parses one value node and returns nullopt after recording an error
// that names `key`. They never throw.
struct as_string {
  std::optional<std::string> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
struct as_host {
  std::optional<std::string> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
struct as_path {
  std::optional<std::string> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
struct as_bool {
  std::optional<bool> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
struct as_uint {
  std::uint64_t min = 0;
  std::uint64_t max = UINT64_MAX;
  std::optional<std::uint64_t> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
struct as_duration {
  bool allow_zero = true;
  std::optional<std::chrono::milliseconds> operator()(context& ctx, const YAML::Node& node,
                                                      const std::string& key) const;
};
struct as_endpoint {
  std::optional<endpoint> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
// One of a fixed set of words; returns the index of the word.
struct as_choice {
  std::vector<std::string> words;
  std::optional<std::size_t> operator()(context& ctx, const YAML::Node& node, const std::string& key) const;
};
// A list of non-empty strings; `hosts` also requires each to be a host name or IP.
// One path or a list of them, each resolved like as_path.
struct as_path_list {
  std::optional<std::vector<std::string>> operator()(context& ctx, const YAML::Node& node,
                                                     const std::string& key) const;
};
struct as_string_list {
  bool hosts = false;
  std::optional<std::vector<std::string>> operator()(context& ctx, const YAML::Node& node,
                                                     const std::string& key) const;
};

// The keys of one YAML map. Construction reports a node that is not a map and
// every key not in `allowed`; lookups remember where each value was written.
class fields {
 public:
  fields(context& ctx, const YAML::Node& map, std::string path, std::vector<std::string> allowed);

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  std::string key(std::string_view name) const { return join(path_, name); }
  // The value of `name`, or an undefined node when absent (or when this is not a map).
  YAML::Node node(std::string_view name) const;
  void missing(std::string_view name) const;

  // Sets `out` when `name` is present and valid; absent keys keep the default.
  template <class T, class Reader>
  void optional(std::string_view name, T& out, const Reader& read) const {
    const YAML::Node value = node(name);
    if (!value.IsDefined()) return;
    if (auto parsed = read(ctx_, value, key(name))) out = T(std::move(*parsed));
  }

  // Like optional(), but an absent key is an error.
  template <class T, class Reader>
  void required(std::string_view name, T& out, const Reader& read) const {
    if (!node(name).IsDefined()) {
      missing(name);
      return;
    }
    optional(name, out, read);
  }

 private:
  void check_keys(const YAML::Node& map);

  context& ctx_;
  YAML::Node map_;
  std::string path_;
  std::vector<std::string> allowed_;
  bool ok_ = false;
};

// parse.cpp and parse_routes.cpp: YAML -> structs, recording errors as they go.
void parse_document(context& ctx, const YAML::Node& root, config& cfg);
void parse_routes(context& ctx, const YAML::Node& node, std::vector<route_config>& routes);

// validate.cpp: the rules that span fields, run on whatever parsed.
void validate(context& ctx, const config& cfg);

}  // namespace vmsgate::config::detail

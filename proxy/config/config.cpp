// Loading: read the file, parse the YAML, turn it into structs, validate, and
// hand back either a config or every error found, in file order.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "proxy/config/config.hpp"
#include "proxy/config/detail.hpp"

namespace vmsgate::config {
namespace {

std::filesystem::path directory_of(const std::string& file) {
  std::error_code ec;
  // Anchoring at an absolute directory keeps the paths valid after a chdir (for
  // example when the process drops privileges) and makes them unambiguous in logs.
  const std::filesystem::path dir = std::filesystem::absolute(std::filesystem::path(file), ec).parent_path();
  return ec ? std::filesystem::path(file).parent_path() : dir;
}

load_result unreadable(const std::string& path, const std::string& why) {
  load_result result;
  result.errors.push_back(error{location{path, 0, 0}, "", "cannot read the configuration file: " + why});
  return result;
}

}  // namespace

std::string error::str() const {
  std::string out = where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": ";
  // A YAML syntax error or an unreadable file belongs to no key.
  if (!key.empty()) out += key + ": ";
  return out + message;
}

const role_config* config::find_role(std::string_view name) const {
  const auto found = std::find_if(roles.begin(), roles.end(), [&](const role_config& r) { return r.name == name; });
  return found == roles.end() ? nullptr : &*found;
}

namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::size_t at = 0; at <= text.size();) {
    const auto end = std::min(text.find('\n', at), text.size());
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// YAML indents with spaces only; yaml-cpp's words for a tab there ("illegal map
// value", "end of map not found") do not say so. One error per line with one.
std::vector<error> tabs_in_indentation(std::string_view yaml, const std::string& file) {
  std::vector<error> out;
  const auto lines = lines_of(yaml);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto indent = lines[i].find_first_not_of(" \t");
    const auto tab = lines[i].substr(0, indent).find('\t');
    if (tab == std::string_view::npos || indent == std::string_view::npos) continue;
    out.push_back(error{location{file, static_cast<int>(i + 1), static_cast<int>(tab + 1)}, "",
                        "a tab in the indentation: YAML indents with spaces only"});
  }
  return out;
}

// yaml-cpp finds a key without its colon only on the line after it; the line at
// fault is the last one before the mark that holds something but no colon.
location syntax_error_at(std::string_view yaml, const location& mark) {
  const auto lines = lines_of(yaml);
  for (int i = mark.line - 2; i >= 0 && static_cast<std::size_t>(i) < lines.size(); --i) {
    const std::string_view l = lines[static_cast<std::size_t>(i)];
    const auto first = l.find_first_not_of(' ');
    if (first == std::string_view::npos || l[first] == '#') continue;  // blank or a comment
    if (l.find(':') == std::string_view::npos && l[first] != '-' && l[first] != '[' && l[first] != '{')
      return location{mark.file, i + 1, static_cast<int>(first + 1)};
    break;
  }
  return mark;
}

}  // namespace

load_result load_string(std::string_view yaml, const std::string& file) {
  detail::context ctx;
  ctx.file = file;
  ctx.base_dir = directory_of(file);
  load_result result;
  result.errors = tabs_in_indentation(yaml, file);
  if (!result.errors.empty()) return result;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    const location mark = ctx.at(e.mark);
    const location at = syntax_error_at(yaml, mark);
    std::string why = "invalid YAML: " + e.msg;
    if (at.line != mark.line) why += " (this line has no ':' after its key)";
    result.errors.push_back(error{at, "", why});
    return result;
  }
  config cfg;
  cfg.path = file;
  detail::parse_document(ctx, root, cfg);
  detail::validate(ctx, cfg);
  std::stable_sort(ctx.errors.begin(), ctx.errors.end(), [](const error& a, const error& b) {
    return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
  });
  result.errors = std::move(ctx.errors);
  if (result.errors.empty()) result.cfg = std::move(cfg);
  return result;
}

load_result load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return unreadable(path, "it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return unreadable(path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return unreadable(path, std::strerror(errno));
  return load_string(text.str(), path);
}

}  // namespace vmsgate::config

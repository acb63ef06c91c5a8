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

load_result load_string(std::string_view yaml, const std::string& file) {
  detail::context ctx;
  ctx.file = file;
  ctx.base_dir = directory_of(file);
  load_result result;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    result.errors.push_back(error{ctx.at(e.mark), "", "invalid YAML: " + e.msg});
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

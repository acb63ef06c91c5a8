// `vmsgate pki init|issue`: argument parsing and reporting around pki.hpp.

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "proxy/pki/pki.hpp"

namespace vmsgate::pki {

namespace {

// Walks "--flag VALUE" and "--flag=VALUE" arguments.
class arg_reader {
 public:
  arg_reader(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool next() { return ++index_ < argc_; }
  std::string_view flag() const {
    const std::string_view a = argv_[index_];
    const auto eq = a.find('=');
    return a.starts_with("--") && eq != std::string_view::npos ? a.substr(0, eq) : a;
  }
  std::string value() {
    const std::string_view a = argv_[index_];
    if (const auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
      return std::string(a.substr(eq + 1));
    }
    if (index_ + 1 >= argc_) throw error(std::string(a) + " needs a value");
    return argv_[++index_];
  }
  int number() {
    const std::string_view f = flag();
    const std::string v = value();
    int out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size()) throw error(std::string(f) + " needs a number, not " + v);
    return out;
  }

 private:
  int argc_;
  char** argv_;
  int index_ = 0;  // argv[0] is the subcommand
};

init_options parse_init(int argc, char** argv) {
  init_options o;
  for (arg_reader r(argc, argv); r.next();) {
    const std::string_view f = r.flag();
    if (f == "--dir") o.dir = r.value();
    else if (f == "--name") o.name = r.value();
    else if (f == "--bits") o.bits = r.number();
    else if (f == "--days") o.days = r.number();
    else if (f == "--force") o.force = true;
    else throw error("unknown argument " + std::string(f));
  }
  return o;
}

issue_options parse_issue(int argc, char** argv) {
  issue_options o;
  for (arg_reader r(argc, argv); r.next();) {
    const std::string_view f = r.flag();
    if (f == "--dir") o.dir = r.value();
    else if (f == "--role") o.role = r.value();
    else if (f == "--host") o.hosts.push_back(r.value());
    else if (f == "--ip") o.ips.push_back(r.value());
    else if (f == "--client") o.client = true;
    else if (f == "--bits") o.bits = r.number();
    else if (f == "--days") o.days = r.number();
    else if (f == "--force") o.force = true;
    else throw error("unknown argument " + std::string(f));
  }
  return o;
}

revoke_options parse_revoke(int argc, char** argv) {
  revoke_options o;
  for (arg_reader r(argc, argv); r.next();) {
    const std::string_view f = r.flag();
    if (f == "--dir") o.dir = r.value();
    else if (f == "--serial") o.serial = r.value();
    else if (f == "--cert") o.cert = r.value();
    else if (f == "--days") o.days = r.number();
    else throw error("unknown argument " + std::string(f));
  }
  return o;
}

crl_options parse_crl(int argc, char** argv) {
  crl_options o;
  for (arg_reader r(argc, argv); r.next();) {
    const std::string_view f = r.flag();
    if (f == "--dir") o.dir = r.value();
    else if (f == "--days") o.days = r.number();
    else throw error("unknown argument " + std::string(f));
  }
  return o;
}

int usage() {
  std::fputs(
      "usage:\n"
      "  vmsgate pki init --dir DIR [--name CN] [--bits N] [--days N] [--force]\n"
      "  vmsgate pki issue --dir DIR --role ROLE --host NAME [--host NAME...] [--ip ADDR...] [--client]\n"
      "                    [--bits N] [--days N] [--force]\n"
      "  vmsgate pki revoke --dir DIR (--serial HEX | --cert FILE) [--days N]\n"
      "  vmsgate pki crl --dir DIR [--days N]\n",
      stderr);
  return 2;
}

}  // namespace

int run_command(int argc, char** argv) {
  if (argc < 1) return usage();
  const std::string_view sub = argv[0];
  try {
    if (sub == "revoke" || sub == "crl") {
      const std::string path = sub == "revoke" ? revoke(parse_revoke(argc, argv)) : write_crl(parse_crl(argc, argv));
      std::printf("wrote %s\n", path.c_str());
      return 0;
    }
    issued out;
    if (sub == "init") out = init_ca(parse_init(argc, argv));
    else if (sub == "issue") out = issue(parse_issue(argc, argv));
    else return usage();
    std::printf("wrote %s\nwrote %s\n", out.cert_path.c_str(), out.key_path.c_str());
    return 0;
  } catch (const error& e) {
    std::fprintf(stderr, "vmsgate pki %s: %s\n", argv[0], e.what());
    return 1;
  }
}

}  // namespace vmsgate::pki

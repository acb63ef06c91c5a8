// `vmsgate certs`: what a site's certificates are and when each expires, before any
// of them is inside its warning window. The rows are those the expiry gauges are
// made of (collect_certificates, collect_crls), so the command and the metrics
// never disagree.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "proxy/commands/commands.hpp"
#include "proxy/common/log.hpp"
#include "proxy/config/config.hpp"
#include "proxy/observe/metrics_export.hpp"
#include "proxy/tls/certificate.hpp"

namespace vmsgate::app {
namespace {

struct cert_row {
  std::string route, role, usage, subject, serial, not_after, file;
  long long days_left = 0;
};

std::vector<cert_row> rows_of(const config::config& cfg, std::chrono::system_clock::time_point now) {
  std::vector<cert_row> rows;
  const auto days = [now](std::chrono::system_clock::time_point t) {
    return static_cast<long long>(std::chrono::floor<std::chrono::hours>(t - now).count() / 24);
  };
  for (const auto& c : collect_certificates(cfg))
    rows.push_back({c.route, c.role, c.usage, c.subject, c.serial, tls::format_time(c.not_after), c.file,
                    days(c.not_after)});
  // A CRL's "expiry" is its nextUpdate: past it, a fresh one is due.
  for (const auto& c : collect_crls(cfg))
    rows.push_back({"", c.role, "crl", c.issuer, "", tls::format_time(c.next_update), c.file, days(c.next_update)});
  return rows;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  log::append_json_escaped(out, s);
  return out + "\"";
}

void print_json(const std::vector<cert_row>& rows) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out += (i == 0 ? "\n  {" : ",\n  {");
    out += "\"route\": " + json_string(r.route) + ", \"role\": " + json_string(r.role) +
           ", \"usage\": " + json_string(r.usage) + ", \"subject\": " + json_string(r.subject) +
           ", \"serial\": " + json_string(r.serial) + ", \"not_after\": " + json_string(r.not_after) +
           ", \"days_left\": " + std::to_string(r.days_left) + ", \"file\": " + json_string(r.file) + "}";
  }
  out += rows.empty() ? "]\n" : "\n]\n";
  std::fputs(out.c_str(), stdout);
}

void print_table(const std::vector<cert_row>& rows) {
  const std::vector<std::string> head{"ROUTE", "ROLE", "USAGE", "SUBJECT", "SERIAL", "NOT_AFTER", "DAYS_LEFT", "FILE"};
  std::vector<std::vector<std::string>> cells{head};
  for (const auto& r : rows)
    cells.push_back({r.route.empty() ? "-" : r.route, r.role, r.usage, r.subject, r.serial.empty() ? "-" : r.serial,
                     r.not_after, std::to_string(r.days_left), r.file});
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& line : cells)
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  for (const auto& line : cells) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(width[i] - line[i].size() + 2, ' ');
    }
    std::printf("%s\n", text.c_str());
  }
}

}  // namespace

int certs_main(const char* config_path, bool json) {
  const auto loaded = config::load_file(config_path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
  if (!loaded.cfg) return 2;
  auto rows = rows_of(*loaded.cfg, std::chrono::system_clock::now());
  // Soonest first: the one to renew next is on top.
  std::stable_sort(rows.begin(), rows.end(), [](const cert_row& a, const cert_row& b) { return a.days_left < b.days_left; });
  if (json) {
    print_json(rows);
  } else {
    print_table(rows);
  }
  return 0;
}

}  // namespace vmsgate::app

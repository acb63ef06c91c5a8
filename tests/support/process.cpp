#include "tests/support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace vmsgate::test {

std::string exit_status::str() const {
  return exited ? "exit " + std::to_string(code) : "signal " + std::to_string(signal);
}

namespace {

exit_status decode(int raw) {
  exit_status s;
  if (WIFEXITED(raw)) {
    s.exited = true;
    s.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    s.signal = WTERMSIG(raw);
  }
  return s;
}

// The test's environment with `extra` entries added or replaced, as "K=V" strings.
std::vector<std::string> merged_env(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    vars[kv.substr(0, kv.find('='))] = kv;
  }
  for (const auto& kv : extra) vars[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> out;
  for (auto& [k, kv] : vars) out.push_back(kv);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

process::process(std::vector<std::string> argv, std::vector<std::string> env) {
  if (argv.empty()) throw std::invalid_argument("process: empty argv");
  // Everything the child needs is prepared before fork: after fork in a threaded
  // program only async-signal-safe calls are allowed.
  auto env_strings = merged_env(env);
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env_strings);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Its own process group, so that the destructor can also stop what a shell
    // command started; and killed with the test if the test dies first.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The test ignores SIGPIPE (tls_client.cpp); the child starts with the default.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    // The test holds sockets of its own backends; the child must not keep them open.
    close_range(3, ~0U, 0);
    execve(c_argv[0], c_argv.data(), c_env.data());
    static const char msg[] = "process: execve failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(devnull);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_reader_ = std::thread([this, fd = out_pipe[0]] { read_loop(fd, out_); });
  err_reader_ = std::thread([this, fd = err_pipe[0]] { read_loop(fd, err_); });
}

process::~process() {
  kill();
  // The group outlives its leader only while a member is alive, so its id cannot
  // have been reused by an unrelated process.
  if (pid_ > 0) ::kill(-pid_, SIGKILL);
  // The readers end when every writer of the pipes has gone: the child and any
  // grandchild it left behind (a shell's background job would keep them open).
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
}

void process::read_loop(int fd, stream& s) {
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard lock(mutex_);
    if (n <= 0) {
      if (!s.partial.empty()) {
        s.lines.push_back(std::move(s.partial));
        s.unterminated = true;
      }
      s.partial.clear();
      s.ended = true;
      changed_.notify_all();
      break;
    }
    s.partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1)
      s.lines.push_back(s.partial.substr(start, nl - start));
    s.partial.erase(0, start);
    changed_.notify_all();
  }
  close(fd);
}

void process::send_signal(int sig) {
  if (!status_ && pid_ > 0) ::kill(pid_, sig);
}

std::optional<exit_status> process::wait_for_exit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int raw = 0;
    const pid_t r = waitpid(pid_, &raw, WNOHANG);
    if (r == pid_) {
      status_ = decode(raw);
      return status_;
    }
    if (r < 0 && errno != EINTR) {
      status_ = exit_status{};
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

bool process::running() { return !wait_for_exit(0ms).has_value(); }

void process::kill() {
  if (status_ || pid_ <= 0) return;
  // The group too: a shell's children die with it. The child may not have called
  // setpgid yet, so the process itself is signalled as well.
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  wait_for_exit(std::chrono::hours(1));
}

std::vector<std::string> process::lines_of(const stream& s) const {
  std::lock_guard lock(mutex_);
  return s.lines;
}
std::vector<std::string> process::stderr_lines() const { return lines_of(err_); }
std::vector<std::string> process::stdout_lines() const { return lines_of(out_); }

std::string process::text_of(const stream& s) const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& l : s.lines) out += l + "\n";
  if (s.unterminated) out.pop_back();
  return out;
}

std::string process::stderr_text() const { return text_of(err_); }
std::string process::stdout_text() const { return text_of(out_); }

std::size_t process::stderr_line_count() const {
  std::lock_guard lock(mutex_);
  return err_.lines.size();
}

std::optional<std::string> process::wait_for_line(const std::function<bool(const std::string&)>& pred,
                                                  std::chrono::milliseconds timeout, std::size_t from_line) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t next = from_line;
  for (;;) {
    for (; next < err_.lines.size(); ++next)
      if (pred(err_.lines[next])) return err_.lines[next];
    if (err_.ended) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && next >= err_.lines.size())
      return std::nullopt;
  }
}

std::optional<std::string> process::wait_for_line(std::string_view substring, std::chrono::milliseconds timeout,
                                                  std::size_t from_line) {
  const std::string needle(substring);
  return wait_for_line([&](const std::string& l) { return l.find(needle) != std::string::npos; }, timeout,
                       from_line);
}

long process::rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double process::cpu_seconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; fields are counted after its ')'.
  const auto close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(all.substr(close + 2));
  std::string field;
  double ticks = 0;
  // After ')': state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

command_result run_command(const std::string& command, std::chrono::milliseconds timeout) {
  command_result r;
  process p({"/bin/sh", "-c", command});
  auto st = p.wait_for_exit(timeout);
  if (!st) {
    r.timed_out = true;
    p.kill();
    st = p.wait_for_exit(0ms);
  }
  r.status = *st;
  // A background grandchild could hold the pipes open; do not wait for it forever.
  p.wait_for_output_end(2s);
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  return r;
}

bool process::wait_for_output_end(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return out_.ended && err_.ended; });
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace vmsgate::test

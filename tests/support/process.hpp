#pragma once
// A child process for tests: started with fork/execv, stdin from /dev/null, stdout
// and stderr collected line by line by reader threads. RAII: the destructor kills a
// child that is still running (and its process group) and reaps it, so no test
// leaves a process behind. The child gets PR_SET_PDEATHSIG(SIGKILL), which Linux
// ties to the creating *thread*: create a process on a thread that outlives it.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace vmsgate::test {

using namespace std::chrono_literals;

// How a child ended: exactly one of `code` (normal exit) or `signal` is meaningful.
struct exit_status {
  bool exited = false;  // true: exit(code); false: killed by `signal`
  int code = -1;
  int signal = 0;
  std::string str() const;  // "exit 0" or "signal 9" for failure messages
};

class process {
 public:
  // argv[0] is the program's path (no PATH search); `env` entries ("K=V") are added
  // to (or override) the test's own environment.
  explicit process(std::vector<std::string> argv, std::vector<std::string> env = {});
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `sig` unless the child has already been reaped.
  void send_signal(int sig);
  // Waits up to `timeout` for the child to exit and reaps it; nullopt on timeout.
  // Once reaped, every further call returns the same status at once.
  std::optional<exit_status> wait_for_exit(std::chrono::milliseconds timeout);
  bool running();
  // SIGKILL and reap (no-op when already reaped).
  void kill();

  // Lines written so far (without the newline). A final unterminated line is
  // included once the stream has ended.
  std::vector<std::string> stderr_lines() const;
  std::vector<std::string> stdout_lines() const;
  std::string stderr_text() const;  // everything read from stderr, as written
  std::string stdout_text() const;
  std::size_t stderr_line_count() const;
  // Waits until both stdout and stderr have reached end of file.
  bool wait_for_output_end(std::chrono::milliseconds timeout);

  // Waits until a stderr line with index >= `from_line` satisfies `pred` and returns
  // it; nullopt on timeout or when stderr ends without such a line (the child died).
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& pred,
                                           std::chrono::milliseconds timeout, std::size_t from_line = 0);
  std::optional<std::string> wait_for_line(std::string_view substring, std::chrono::milliseconds timeout,
                                           std::size_t from_line = 0);

  // Resident set size from /proc/PID/status (VmRSS), in KiB; -1 if unreadable.
  long rss_kib() const;
  // utime + stime from /proc/PID/stat, in seconds; -1 if unreadable.
  double cpu_seconds() const;

 private:
  struct stream {
    std::vector<std::string> lines;
    std::string partial;
    bool ended = false;
    bool unterminated = false;  // the last line had no newline
  };
  void read_loop(int fd, stream& s);
  std::vector<std::string> lines_of(const stream& s) const;
  std::string text_of(const stream& s) const;

  pid_t pid_ = -1;
  std::optional<exit_status> status_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  stream out_;
  stream err_;
  std::thread out_reader_;
  std::thread err_reader_;
};

// The result of run_command.
struct command_result {
  exit_status status;
  bool timed_out = false;
  std::string out;  // stdout
  std::string err;  // stderr
  int code() const { return status.exited ? status.code : -1; }
};

// Runs `/bin/sh -c command` with stdin from /dev/null; kills it after `timeout`.
command_result run_command(const std::string& command, std::chrono::milliseconds timeout = 30s);

// Quotes `s` for a POSIX shell command line.
std::string shell_quote(std::string_view s);

}  // namespace vmsgate::test

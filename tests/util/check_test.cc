// Tests of TOYDB_CHECK (src/util/check.h), the invariant check that stays on
// in release builds: a failed check prints its place, condition and message
// and aborts the process (checked in a forked child); a passing one does not
// evaluate its message.
#include "src/util/check.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

namespace toydb {
namespace {

struct ChildResult {
  int wait_status = 0;
  std::string stderr_text;
};

// Runs `body` in a forked child whose stderr goes to a pipe; returns how the
// child ended and what it wrote.
template <typename Body>
ChildResult RunInChild(Body body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    // The test framework's own SIGABRT handler would report the child's abort
    // as a failed test on the shared stdout: the child dies the plain way.
    signal(SIGABRT, SIG_DFL);
    body();
    _exit(0);  // The body returned: the check did not stop the process.
  }
  close(fds[1]);
  ChildResult result;
  char buffer[512];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) result.stderr_text.append(buffer, n);
  close(fds[0]);
  REQUIRE(waitpid(pid, &result.wait_status, 0) == pid);
  return result;
}

TEST_CASE("A failed TOYDB_CHECK prints its condition and message and aborts", "[check]") {
  const ChildResult child = RunInChild([] {
    const int applied = 7;
    TOYDB_CHECK(applied + 1 == 9, "applying LSN 9 after LSN " + std::to_string(applied));
  });
  INFO(child.stderr_text);
  REQUIRE(WIFSIGNALED(child.wait_status));
  CHECK(WTERMSIG(child.wait_status) == SIGABRT);
  CHECK(child.stderr_text.find("check_test.cc:") != std::string::npos);
  CHECK(
      child.stderr_text.find("toydb check failed: applied + 1 == 9: applying LSN 9 after LSN 7") !=
      std::string::npos);
}

TEST_CASE("A passing TOYDB_CHECK neither stops nor evaluates its message", "[check]") {
  const ChildResult child =
      RunInChild([] { TOYDB_CHECK(1 + 1 == 2, (std::abort(), "never evaluated")); });
  INFO(child.stderr_text);
  REQUIRE(WIFEXITED(child.wait_status));
  CHECK(WEXITSTATUS(child.wait_status) == 0);
  CHECK(child.stderr_text.empty());
}

}  // namespace
}  // namespace toydb

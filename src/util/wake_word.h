#ifndef TOYDB_UTIL_WAKE_WORD_H_
#define TOYDB_UTIL_WAKE_WORD_H_

// WakeWord: a 32-bit state that one thread sleeps on until another thread
// changes it. Owned by the waiter (a group-commit follower keeps one on its
// stack); Wait and Set may run on different threads.
//
// Set stores the new value and then wakes the waiter through the word's
// address alone: on Linux a FUTEX_WAKE system call, which never reads or
// writes the word in user space. So the waiter may return and free the word
// as soon as it sees the new value, even while Set is still in its system
// call (a wake-up at an address nobody waits on any more does nothing). A
// mutex and condition variable would need the waker to notify while holding
// the mutex for the same guarantee, and the woken thread would then sleep
// again on that mutex: two wake-ups per change instead of one.

#include <atomic>
#include <cstdint>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace toydb {

class WakeWord {
 public:
  explicit WakeWord(uint32_t initial) : word_(initial) {}
  WakeWord(const WakeWord&) = delete;
  WakeWord& operator=(const WakeWord&) = delete;

  // Sleeps while the word holds `value`; returns the value that ended the
  // wait. Everything the setter wrote before Set is visible afterwards.
  uint32_t WaitWhile(uint32_t value) {
    uint32_t now;
    while ((now = word_.load(std::memory_order_acquire)) == value) {
#ifdef __linux__
      // Returns at once if the word no longer holds `value`; a spurious
      // return only loops.
      ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, value, nullptr,
                nullptr, 0);
#else
      word_.wait(value, std::memory_order_acquire);
#endif
    }
    return now;
  }

  // Stores `value` and wakes the waiter. Touches nothing of the word after
  // the store (see above).
  void Set(uint32_t value) {
#ifdef __linux__
    uint32_t* const address = reinterpret_cast<uint32_t*>(&word_);
    word_.store(value, std::memory_order_release);
    ::syscall(SYS_futex, address, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#else
    word_.store(value, std::memory_order_release);
    word_.notify_one();
#endif
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                std::atomic<uint32_t>::is_always_lock_free);
  std::atomic<uint32_t> word_;
};

}  // namespace toydb

#endif  // TOYDB_UTIL_WAKE_WORD_H_

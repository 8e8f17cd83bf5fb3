#ifndef TOYDB_STORAGE_STORE_GROUP_COMMIT_H_
#define TOYDB_STORAGE_STORE_GROUP_COMMIT_H_

// GroupCommitQueue: the leader/follower queue behind the Store's group
// commit. Writers join at the back; the writer at the front leads: it takes a
// group from the front (bounded in bytes), the owner commits it (one WAL
// write and at most one fdatasync for all of its writers), and the leader
// then hands the queue to the next writer before it wakes its own group, as
// a binary tree. A leader of synced writes may first wait, briefly, for the
// writers of the previous group to come back (AwaitReturningWriters).
//
// Owned by the Store. Not thread-safe by itself: the owner guards it with
// its own mutex (ABSL_GUARDED_BY on the member), which every call requires;
// AwaitReturningWriters releases it while it waits. A Writer's wait and
// wake-ups need no lock. The owner's commit logic (LSNs, WAL, apply) stays
// with the owner; the queue only decides who leads, who is in a group and
// who wakes whom.

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "src/util/mutex.h"
#include "src/util/wake_word.h"
#include "toydb/clock.h"

namespace toydb {

class GroupCommitQueue {
 public:
  // A write in the queue; the owner's writer derives from it. Lives on its
  // caller's stack until the caller returns.
  struct Writer {
    uint64_t bytes = 0;  // Payload bytes: what the group bound counts.
    bool sync = false;   // Acknowledged only after an fdatasync.

    // kWaiting until the leader sets kDone (committed: the owner's result is
    // set) or kLead (this writer is now at the front and leads the next
    // group). Followers sleep on their own word, not on the owner's mutex, so
    // waking a group does not make every member fight for the mutex again;
    // one wake-up each (see WakeWord: the member may return and free itself
    // as soon as it sees the new state; nobody touches it after setting it).
    static constexpr uint32_t kWaiting = 0, kDone = 1, kLead = 2;
    WakeWord state{kWaiting};
    // Members of the same group that this one wakes once it is done, before
    // it returns (set by the leader before kDone): the wake-ups of a large
    // group spread over the woken threads, as a tree, instead of all being
    // system calls of the leader's.
    Writer* wakes_next[2] = {nullptr, nullptr};

    // Sleeps until a leader sets kDone or kLead; returns which.
    uint32_t WaitWhileWaiting() { return state.WaitWhile(kWaiting); }
    void Wake(uint32_t new_state) { state.Set(new_state); }
    // Called by this writer's own thread once it is done.
    void WakeNext() {
      for (Writer* next : wakes_next) {
        if (next != nullptr) next->Wake(kDone);
      }
    }
  };

  struct Options {
    // A group stops growing at this many payload bytes (it always holds its
    // leader), so that one slow write does not hold unboundedly many others.
    uint64_t max_group_bytes = 4u << 20;
    // Whether leaders of synced groups wait for the last group's writers to
    // come back. Only worth it when the writers are OS threads; a store
    // driven on one thread (the simulator) turns it off, and then the queue
    // never reads real time.
    bool gather = true;
    // Real time, for the gathering wait and for timing the WAL write that
    // bounds it; nullptr means Clock::Default(). Tests may fake it.
    Clock* real_clock = nullptr;
    // A leader whose last WAL write and sync took less than this does not
    // wait: falling asleep and being woken costs about as much.
    int64_t min_gather_wait_micros = 30;
    // The longest a leader waits for the previous group's writers.
    int64_t max_gather_wait_micros = 200;
  };

  // What a leader does once it has released the owner's mutex: wake the
  // next leader first (its WAL write then overlaps this group's wake-ups),
  // then the two roots of its group's wake-up tree.
  class Handoff {
   public:
    Writer* next_leader() const { return next_leader_; }
    Writer* root(int i) const { return roots_[i]; }
    // Touches nothing of a woken writer afterwards: it may be gone already.
    void Run() const {
      if (next_leader_ != nullptr) next_leader_->Wake(Writer::kLead);
      for (Writer* root : roots_) {
        if (root != nullptr) root->Wake(Writer::kDone);
      }
    }

   private:
    friend class GroupCommitQueue;
    Writer* next_leader_ = nullptr;
    Writer* roots_[2] = {nullptr, nullptr};
  };

  explicit GroupCommitQueue(const Options& options);
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Queues `writer` at the back. True if it is at the front: it leads now.
  // Otherwise the caller releases the mutex and sleeps in WaitWhileWaiting.
  bool Join(Writer* writer);

  // For a leader of synced writes, before TakeGroup: while fewer writers are
  // queued than when the last group finished, waits on a condition variable
  // (with `mu`, the owner's mutex, released) for the others to come back,
  // at most as long as the last group's WAL write and sync took and never
  // over max_gather_wait_micros; the writer whose Join completes the count
  // ends the wait. Returns at once without gathering, for a writer alone
  // (the count is 1), and after a fast sync.
  void AwaitReturningWriters(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // For the leader: the writers from the front, itself first, up to
  // max_group_bytes. Valid until FinishGroup.
  std::span<Writer* const> TakeGroup();

  // For the leader of a synced group, just before it releases the mutex for
  // its WAL write and sync, and just after it takes it again: times them,
  // for the next gathering wait. No-ops without gathering.
  void WalWriteStarting();
  void WalWriteFinished();

  // For the leader, once every member's result is set: removes the group
  // from the queue and plans its wake-up tree. Run the Handoff after
  // releasing the mutex.
  Handoff FinishGroup();

  // Writers queued, the group being committed included.
  size_t size() const { return writers_.size(); }
  // Reads of real time so far (tests check that a store without gathering
  // never reads it).
  uint64_t real_time_reads() const { return real_time_reads_; }

 private:
  int64_t RealNowMicros();

  const Options options_;
  Clock* const real_clock_;
  std::deque<Writer*> writers_;
  // The group being committed. Only its leader touches it; a member so that
  // its memory is reused from one group to the next.
  std::vector<Writer*> group_;
  // Writers queued when the last group finished (its members included).
  size_t expected_writers_ = 0;
  // How long the last synced group's WAL write and sync took.
  int64_t wal_start_micros_ = 0;
  int64_t last_wal_micros_ = 0;
  // Set while a leader waits in AwaitReturningWriters for the queue to hold
  // gather_target_ writers; the Join that completes it signals gather_cv_.
  bool gathering_ = false;
  size_t gather_target_ = 0;
  CondVar gather_cv_;
  uint64_t real_time_reads_ = 0;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_STORE_GROUP_COMMIT_H_

// GroupCommitQueue (group_commit.h): leading, gathering, group bounds and
// the hand-over with its wake-up tree.
#include "src/storage/store/group_commit.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "src/util/check.h"

namespace toydb {

GroupCommitQueue::GroupCommitQueue(const Options& options)
    : options_(options),
      real_clock_(options.real_clock != nullptr ? options.real_clock : Clock::Default()) {}

bool GroupCommitQueue::Join(Writer* writer) {
  writers_.push_back(writer);
  if (gathering_ && writers_.size() >= gather_target_) gather_cv_.Signal();
  return writers_.front() == writer;
}

// The wait and its bound are real time on purpose, not the store's injected
// Clock: they wait for other OS threads to be scheduled and come back, and a
// condition variable sleeps in real time. A store on simulated time runs on
// one thread and turns gathering off (Options::gather), so it never gets
// here, and the WAL timing below reads nothing either.
void GroupCommitQueue::AwaitReturningWriters(Mutex* mu) {
  if (!options_.gather || writers_.size() >= expected_writers_ ||
      last_wal_micros_ < options_.min_gather_wait_micros) {
    return;
  }
  // Waiting longer than a WAL write and sync would cost more than splitting
  // the writers into two groups does.
  const int64_t bound = std::min(last_wal_micros_, options_.max_gather_wait_micros);
  const int64_t deadline = RealNowMicros() + bound;
  gathering_ = true;
  gather_target_ = expected_writers_;
  while (writers_.size() < gather_target_) {
    const int64_t now = RealNowMicros();
    if (now >= deadline) break;
    gather_cv_.WaitFor(mu, std::chrono::microseconds(deadline - now));
  }
  gathering_ = false;
}

std::span<GroupCommitQueue::Writer* const> GroupCommitQueue::TakeGroup() {
  TOYDB_CHECK(!writers_.empty(), "a group is taken by its leader, which is queued");
  group_.clear();
  uint64_t bytes = 0;
  for (Writer* w : writers_) {
    if (!group_.empty() && bytes + w->bytes > options_.max_group_bytes) break;
    bytes += w->bytes;
    group_.push_back(w);
  }
  return group_;
}

void GroupCommitQueue::WalWriteStarting() {
  if (options_.gather) wal_start_micros_ = RealNowMicros();
}

void GroupCommitQueue::WalWriteFinished() {
  if (options_.gather) last_wal_micros_ = RealNowMicros() - wal_start_micros_;
}

GroupCommitQueue::Handoff GroupCommitQueue::FinishGroup() {
  // Those queued now, this group included, are the writers likely to be back
  // for the next group.
  expected_writers_ = writers_.size();
  for (Writer* member : group_) {
    // Only the leader takes writers off the queue, and only its own group.
    TOYDB_CHECK(!writers_.empty() && writers_.front() == member,
                "the committed group is at the front of the queue");
    writers_.pop_front();
  }
  Handoff handoff;
  handoff.next_leader_ = writers_.empty() ? nullptr : writers_.front();
  // The members (group_ less the leader, its first) are woken as a binary
  // tree: the leader wakes the first two, and member i wakes members 2i + 2
  // and 2i + 3 (Writer::WakeNext). group_ belongs to whoever leads next once
  // the mutex is released, so the two roots are copied into the Handoff.
  const size_t member_count = group_.size() - 1;
  for (size_t i = 0; i < member_count; ++i) {
    Writer* member = group_[i + 1];
    member->wakes_next[0] = 2 * i + 2 < member_count ? group_[2 * i + 3] : nullptr;
    member->wakes_next[1] = 2 * i + 3 < member_count ? group_[2 * i + 4] : nullptr;
    if (i < 2) handoff.roots_[i] = member;
  }
  return handoff;
}

int64_t GroupCommitQueue::RealNowMicros() {
  ++real_time_reads_;
  return real_clock_->NowMicros();
}

}  // namespace toydb

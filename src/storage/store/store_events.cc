// StoreImpl: events for the host's EventListener, and the accounting of
// background failures. Events are queued wherever they happen (often under
// a store lock) and delivered later, by DeliverEvents, with no lock held, so
// that a listener may call the store without deadlocking it.
#include <fmt/format.h>

#include "absl/strings/cord.h"
#include "src/storage/store/store_impl.h"

namespace toydb {
namespace {

// `status` with "<context>: " before its message, payloads kept.
Status WithContext(const Status& status, std::string_view context) {
  const std::string message(status.message());
  Status out(status.code(), fmt::format("{}: {}", context, message));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

std::string_view BackgroundJobName(BackgroundJob job) {
  switch (job) {
    case BackgroundJob::kWalPreparation:
      return "WAL preparation";
    case BackgroundJob::kIntervalSync:
      return "interval sync";
    case BackgroundJob::kHintFile:
      return "hint file";
    case BackgroundJob::kCheckpoint:
      return "checkpoint";
    case BackgroundJob::kCompaction:
      return "compaction";
    case BackgroundJob::kCheckpointOnClose:
      return "checkpoint on close";
  }
  return "unknown background job";
}

void StoreImpl::QueueEvent(StoreEvent event) {
  if (options_.event_listener == nullptr) return;
  MutexLock lock(&events_mu_);
  events_.push_back(std::move(event));
}

Status StoreImpl::NoteBackgroundResult(BackgroundJob job, Status status) {
  const auto index = static_cast<size_t>(job);
  bool first_failure = false;
  {
    MutexLock lock(&mu_);
    if (status.ok()) {
      background_job_failing_[index] = false;
      return status;
    }
    // Every failed attempt counts; the listener hears of the first of a run
    // of failures only, since a step is retried many times a second.
    stats_.background_errors++;
    stats_.last_background_error = WithContext(status, BackgroundJobName(job));
    first_failure = !background_job_failing_[index];
    background_job_failing_[index] = true;
  }
  if (first_failure) QueueEvent(BackgroundErrorInfo{job, status});
  return status;
}

void StoreImpl::QueueReadOnlyEvent() {
  Status cause;
  {
    MutexLock lock(&mu_);
    if (read_only_cause_.ok() || read_only_reported_) return;
    read_only_reported_ = true;
    cause = read_only_cause_;
  }
  QueueEvent(ReadOnlyEvent{std::move(cause)});
}

void StoreImpl::DeliverEvents() {
  EventListener* const listener = options_.event_listener;
  if (listener == nullptr) return;
  std::vector<StoreEvent> batch;
  {
    MutexLock lock(&events_mu_);
    if (delivering_events_ || events_.empty()) return;
    delivering_events_ = true;
  }
  // Events queued meanwhile, by any thread, are delivered by this loop.
  for (;;) {
    {
      MutexLock lock(&events_mu_);
      batch.swap(events_);
      if (batch.empty()) {
        delivering_events_ = false;
        return;
      }
    }
    for (const StoreEvent& event : batch) {
      if (auto* e = std::get_if<BackgroundErrorInfo>(&event)) {
        listener->OnBackgroundError(*e);
      } else if (auto* c = std::get_if<CheckpointInfo>(&event)) {
        listener->OnCheckpointCompleted(*c);
      } else if (auto* k = std::get_if<CompactionInfo>(&event)) {
        listener->OnCompactionCompleted(*k);
      } else if (auto* r = std::get_if<ReadOnlyEvent>(&event)) {
        listener->OnStoreReadOnly(r->cause);
      }
    }
    batch.clear();
  }
}

}  // namespace toydb
